"""Options of ``prm train``: one dataclass, every field with a help string (YAML via --config + CLI overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from prm.cli_contract import shared
from prm.model.tags import DEFAULT_STEP_TAG

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    data: str | None = field(default=None, metadata={"help": "stepwise rows: JSONL/folder/hub id in stepwise, "
                                                              "prm800k or math_shepherd format (required)"})
    model: str = shared("model", "runs/policy-default", "the backbone the reward model starts from (any HF causal LM)")
    out_dir: str | None = shared("out_dir", detail="the reward model (prm.model.load_scorer reads it), checkpoints/",
                                 required=True)
    phase: Literal["1", "2", "both"] = field(default="both", metadata={
        "help": "PRM800K phase(s) of --data: a folder's phase{1,2}_train.jsonl by name, else each row's generation "
                "(null: phase 1); a phase asked for but absent is an error (data.prm800k)"})
    eval_problems: str = field(default="math500", metadata={
        "help": "evaluation problems to check the training problems against (a warning names overlaps; "
                "data.decontaminate): built-in name, file or hub id; none: no check"})
    eval_data: str | None = field(default=None, metadata={"help": "held-out stepwise rows (default: split off "
                                                                  "--eval-fraction of --data by problem)"})
    eval_fraction: float = field(default=0.05, metadata={"help": "share of problems held out for evaluation"})
    limit: int = shared("limit", 0, "training rows (0: all)")
    eval_limit: int = field(default=2000, metadata={"help": "evaluate on at most this many rows (0: all)"})
    outcome: bool = field(default=False, metadata={"help": "train the outcome RM baseline: one label on the last "
                                                           "step = all steps correct and a final answer reached"})
    objective: Literal["pointwise", "pairwise"] = field(default="pointwise", metadata={
        "help": "pointwise: fit the labels; pairwise: Bradley-Terry on pairs, correct vs wrong solutions of a "
                "problem (--outcome) or right vs wrong steps after the same prefix (--batch-size pairs per step; "
                "scores rank but are not calibrated); also takes TRL preference rows (prompt/chosen/rejected) as "
                "--data (prm.train.pairs, prm.train.pairwise_head)"})
    head: Literal["two_class", "scalar", "likelihood"] = field(default="two_class", metadata={
        "help": "two_class: softmax over (incorrect, correct), cross-entropy on probabilities; scalar: sigmoid + "
                "BCE; likelihood: keep the backbone a frozen LM and fit a logistic head on its log-likelihood "
                "of each step's tokens (seconds; use a backbone stronger than the policy)"})
    step_tag: str = field(default=DEFAULT_STEP_TAG, metadata={"help": "step-tag token: added as a special token "
                                                                      "unless already a single token"})
    step_separator: str = field(default="\n\n", metadata={"help": "text between steps (after each tag)"})
    segmentation: str = field(default="blank_line", metadata={"help": "how scoring splits raw text into steps "
                                                                      "(data.segment mode)"})
    max_length: int = field(default=1024, metadata={"help": "longest sequence in tokens; longer rows keep the steps "
                                                            "that fit"})
    lora: bool = field(default=False, metadata={"help": "train LoRA adapters (+ the head and the tag embedding) "
                                                        "instead of all weights"})
    load_in_4bit: bool = field(default=False, metadata={"help": "QLoRA: load the backbone in 4-bit NF4 "
                                                                "(bitsandbytes, CUDA; pip install prm-math[qlora]) and "
                                                                "train LoRA adapters on it; needs --lora"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    lora_targets: str = field(default="all-linear", metadata={"help": "LoRA target modules: all-linear or a "
                                                                       "comma-separated list (q_proj,v_proj)"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the training rows"})
    max_steps: int = shared("max_steps", -1, "overrides --epochs when > 0")
    minutes: float = field(default=0.0, metadata={"help": "stop after this much training time, counted across "
                                                          "resumes (0: no limit)"})
    batch_size: int = shared("batch_size", 8, "rows per device per step")
    grad_accum: int = field(default=1, metadata={"help": "gradient accumulation steps"})
    lr: float | None = field(default=None, metadata={"help": "peak learning rate (default: 1e-4 with LoRA, 1e-5 "
                                                             "full fine-tune)"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    warmup_ratio: float = field(default=0.03, metadata={"help": "share of steps for linear warmup"})
    scheduler: str = field(default="linear", metadata={"help": "learning-rate schedule (Trainer lr_scheduler_type)"})
    group_by_length: bool = field(default=False, metadata={
        "help": "batch rows of similar length (less padding); off by default because a row's length often "
                "tracks its labels (negatives cut at the first error), which skews each batch's label mix"})
    head_dropout: float = field(default=0.0, metadata={"help": "dropout before the head"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "recompute activations in backward "
                                                                          "(less memory, ~30%% slower)"})
    bf16: bool | None = field(default=None, metadata={"help": "bf16 mixed precision (default: on where a GPU "
                                                              "supports it; --bf16 also on CPU)"})
    eval_steps: int = field(default=0, metadata={"help": "evaluate every this many steps (0: only at the end)"})
    save_steps: int = field(default=500, metadata={"help": "write a resumable checkpoint every this many steps"})
    save_total_limit: int = field(default=2, metadata={"help": "checkpoints to keep"})
    logging_steps: int = field(default=10, metadata={"help": "log loss every this many steps"})
    resume: bool = shared("resume", True, "the last checkpoint in OUT_DIR/checkpoints (or the likelihood head's "
                                          "feature journals)")
    report_to: str = field(default="none", metadata={"help": "none, wandb, tensorboard, ... (WANDB_MODE=offline "
                                                             "works offline)"})
    run_name: str | None = field(default=None, metadata={"help": "run name for the tracker"})
    seed: int = shared("seed", 0, "of the split, initialisation and batch order")
    threads: int = shared("threads", 0)
    device: Literal["auto", "cpu", "cuda"] = shared("device", "auto")
    dataloader_workers: int = field(default=0, metadata={"help": "dataloader worker processes"})

    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else (1e-4 if self.lora else 1e-5)
