"""Options of ``prm policy train``: one dataclass, every field with a help string (YAML + CLI overrides).

The defaults are the offline default policy, tuned on 2 CPU cores: a 1.3M-parameter Llama-style model
with a 512-token byte-level BPE tokenizer, trained from scratch on synthetic problems of levels 1-3
(2-3 steps, numbers up to 20) for 3,000 optimizer steps. Budgets are steps, so a run trains the same on
every machine; ``--minutes`` is an optional wall-clock cap, and a run it stops says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prm.cli_contract import shared

__all__ = ["PolicyTrainConfig", "parse_csv"]


@dataclass
class PolicyTrainConfig:
    out_dir: str = shared("out_dir", "runs/policy-default", "model, tokenizer, checkpoint, policy_meta.json")
    model: str | None = shared("model", detail="to fine-tune (SFT); default: a new small Llama trained from scratch")
    data: str | None = field(default=None, metadata={"help": "JSONL of Problem records with solutions; "
                                                              "default: synthetic problems generated in-process"})
    n_train: int = field(default=60_000, metadata={"help": "synthetic training problems to generate"})
    levels: str = field(default="1,2,3", metadata={"help": "comma-separated synthetic levels (1-5) to train and "
                                                           "evaluate on"})
    # The tuned default: the arithmetic word-problem family, where a 1.6M-parameter model reaches pass@1 ~0.4.
    families: str | None = field(default="arithmetic", metadata={"help": "comma-separated synthetic families "
                                                                         "(empty: all)"})
    seed: int = shared("seed", 0, "of data, initialisation, batch order and sampling")
    vocab_size: int = field(default=512, metadata={"help": "BPE vocabulary of a new tokenizer"})
    hidden_size: int = field(default=128, metadata={"help": "hidden size of a new model"})
    num_layers: int = field(default=6, metadata={"help": "layers of a new model"})
    num_heads: int = field(default=4, metadata={"help": "attention heads of a new model (head size >= 32)"})
    intermediate_size: int = field(default=512, metadata={"help": "MLP size of a new model"})
    max_length: int = field(default=512, metadata={"help": "longest training sequence in tokens (longer dropped)"})
    batch_size: int = shared("batch_size", 16, "one per optimizer step")
    lr: float = field(default=3e-3, metadata={"help": "peak learning rate (AdamW); use ~1e-5 to fine-tune"})
    min_lr_ratio: float = field(default=0.1, metadata={"help": "final learning rate as a share of the peak"})
    warmup_steps: int = field(default=100, metadata={"help": "linear warmup steps"})
    weight_decay: float = field(default=0.1, metadata={"help": "AdamW weight decay (not on norms and biases)"})
    grad_clip: float = field(default=1.0, metadata={"help": "gradient norm clip (0: none)"})
    max_steps: int = shared("max_steps", 3000, "0: none, then --minutes is")
    minutes: float = field(default=0.0, metadata={"help": "optional wall-clock cap in minutes, counted across "
                                                         "resumes (0: none); a run it stops early says so in its "
                                                         "log and policy_meta.json"})
    bf16: bool | None = field(default=None, metadata={"help": "bf16 autocast; weights stay float32 (default: where "
                                                              "the hardware does bf16 natively, see prm.runtime)"})
    threads: int = shared("threads", 0)
    device: str = shared("device", "auto")
    checkpoint_minutes: float = field(default=2.0, metadata={"help": "write a resumable checkpoint this often"})
    checkpoint_steps: int = field(default=0, metadata={"help": "also checkpoint every this many steps (0: off)"})
    resume: bool = shared("resume", True, "the checkpoint in OUT_DIR")
    log_every: int = field(default=50, metadata={"help": "log loss and tokens/s every this many steps"})
    eval_problems: int = field(default=100, metadata={"help": "held-out synthetic test problems to sample at the end "
                                                              "(0: skip)"})
    eval_samples: int = field(default=16, metadata={"help": "samples per evaluation problem"})
    eval_temperature: float = field(default=0.8, metadata={"help": "sampling temperature for the evaluation"})
    eval_max_new_tokens: int = field(default=320, metadata={"help": "longest sampled solution in tokens"})

    def level_list(self) -> list[int]:
        return [int(level) for level in parse_csv(self.levels) or []]

    def family_list(self) -> list[str] | None:
        return parse_csv(self.families)


def parse_csv(text: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None or blank -> None."""
    parts = [part.strip() for part in (text or "").split(",") if part.strip()]
    return parts or None
