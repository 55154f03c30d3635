"""Options of ``prm grpo``: one dataclass, every field with a help string (YAML + CLI overrides).

Defaults suit the offline default policy on 2 CPU cores: 8 prompts x 8 completions per step from the
synthetic arithmetic task (levels 1-3), HF generation with the live model, answer reward only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from prm.cli_contract import shared

__all__ = ["GRPOConfig", "FINGERPRINT_KEYS"]

# Options that shape the data order, the rollouts or the model: a resume with other values is refused.
FINGERPRINT_KEYS = ("model", "problems", "split", "levels", "families", "n_train", "data_seed", "seed", "group_size",
                    "prompts_per_step", "lora", "lora_r")


@dataclass
class GRPOConfig:
    model: str = shared("model", "runs/policy-default", "the policy to train")
    out_dir: str | None = shared("out_dir", detail="checkpoint, metrics.jsonl, evaluations, final model",
                                 required=True)
    problems: str | None = shared("problems", detail="training problems; default: synthetic")
    split: str | None = shared("split")
    eval_data: str | None = field(default=None, metadata={"help": "held-out problems spec (default: synthetic test "
                                                                  "split when training on synthetic problems)"})
    eval_split: str | None = field(default=None, metadata={"help": "split of --eval-data"})
    levels: str = field(default="1,2,3", metadata={"help": "synthetic levels (comma-separated)"})
    families: str = field(default="arithmetic", metadata={"help": "synthetic families (comma-separated; empty: all)"})
    n_train: int = field(default=2000, metadata={"help": "synthetic training problems"})
    data_seed: int = field(default=1, metadata={"help": "seed of the synthetic training problems (the default "
                                                        "policy's SFT data used seed 0: GRPO prompts differ)"})
    rewards: str = field(default="answer:1.0", metadata={"help": "reward spec (prm.rewards): weighted terms, e.g. "
                                                                 "'answer:1.0,format:0.1' or 'answer,prm_outcome@last"
                                                                 ":0.5' (answer, prm_outcome, prm_process, format, "
                                                                 "length)"})
    prm: str | None = shared("prm", detail="for prm_outcome / prm_process")
    prm_format: str = shared("prm_format", "auto")
    prm_options: str | None = shared("prm_options")
    backend: Literal["hf", "vllm"] = field(default="hf", metadata={"help": "generation: hf (the live model, "
                                                                           "in-process) or vllm (weights reloaded "
                                                                           "into the engine after each update)"})
    group_size: int = field(default=8, metadata={"help": "G: completions per prompt"})
    prompts_per_step: int = field(default=8, metadata={"help": "prompts per step (batch = prompts x G)"})
    max_steps: int = shared("max_steps", 50, "GRPO steps, one rollout batch each")
    mu: int = field(default=1, metadata={"help": "optimisation passes over each batch (old log-probs kept)"})
    micro_batch: int = field(default=16, metadata={"help": "sequences per forward/backward (gradient "
                                                           "accumulation over the batch)"})
    lr: float = field(default=1e-4, metadata={"help": "AdamW learning rate (constant; the default suits the tiny "
                                                      "offline policy, use ~1e-6 for billion-parameter models)"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    grad_clip: float = field(default=1.0, metadata={"help": "gradient norm clip (0: none)"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature (also divides the logits "
                                                              "of the loss)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass"})
    max_new_tokens: int = shared("max_new_tokens", 256, "also dr_grpo's normaliser")
    system_prompt: str | None = shared("system_prompt")
    loss_aggregation: Literal["grpo", "token_mean", "dr_grpo"] = field(
        default="grpo", metadata={"help": "grpo (per-sequence mean), token_mean, dr_grpo (constant normaliser)"})
    scale_rewards: bool | None = field(default=None, metadata={"help": "divide by the group std (default: on, off "
                                                                       "for dr_grpo)"})
    clip_eps: float = field(default=0.2, metadata={"help": "PPO clip range (low side)"})
    clip_eps_high: float | None = field(default=None, metadata={"help": "upper clip range (default: clip_eps)"})
    beta: float = field(default=0.0, metadata={"help": "k3 KL penalty to the initial policy (0: off, no "
                                                       "reference model kept)"})
    process_credit: Literal["sum", "min"] = field(default="sum", metadata={
        "help": "process rewards to token advantages: sum (DeepSeekMath: the normalised step rewards from the "
                "token's step on, summed) or min (PURE: the minimum step reward from the token's step on)"})
    process_clip: float | None = field(default=None, metadata={
        "help": "cap PRM step rewards at this value before credit (steps above it count as equally good)"})
    kl_monitor: bool = field(default=True, metadata={
        "help": "measure KL to the initial policy every step even without --beta (one more forward of the "
                "reference; a full copy of the model unless --lora) for the overoptimization monitor"})
    monitor_window: int = field(default=20, metadata={
        "help": "fewest steps the overoptimization monitor fits its trends over (three quarters of the steps so "
                "far once longer; it warns when the accuracy falls significantly while the PRM reward rises; "
                "prm.grpo.monitor)"})
    monitor_z: float = field(default=3.0, metadata={
        "help": "t statistic below -z that counts as a significant fall of the accuracy for the monitor"})
    lora: bool = field(default=False, metadata={"help": "train LoRA adapters (peft) instead of all weights"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    seed: int = shared("seed", 0, "of data order and sampling")
    checkpoint_steps: int = field(default=5, metadata={"help": "write a resumable checkpoint every this many "
                                                               "steps"})
    eval_problems: int = field(default=100, metadata={"help": "held-out problems for pass@1 at start and end "
                                                              "(0: skip)"})
    eval_samples: int = field(default=4, metadata={"help": "samples per held-out problem (pass@1 = mean "
                                                           "accuracy; fixed seed)"})
    eval_seed: int = field(default=0, metadata={"help": "seed of the held-out problems and their sampling (kept "
                                                        "apart from --seed so runs with several seeds share them)"})
    eval_temperature: float = field(default=0.8, metadata={"help": "held-out sampling temperature"})
    report_to: str = field(default="none", metadata={"help": "none or wandb (WANDB_MODE=offline works offline)"})
    run_name: str | None = field(default=None, metadata={"help": "run name for the tracker"})
    threads: int = shared("threads", 1, "1 was 3-20x faster than 2 for the tiny policy on 2 shared cores")
    device: str = shared("device", "auto", "weights and optimizer in float32; see --bf16")
    bf16: bool | None = field(default=None, metadata={"help": "bf16 autocast of the forward passes (default: on a "
                                                               "GPU that does bf16, float32 on CPUs)"})
    vllm_max_model_len: int | None = field(default=None, metadata={"help": "vLLM: context length"})
    vllm_gpu_memory_utilization: float = field(default=0.3, metadata={
        "help": "vLLM: share of GPU memory the engine may take; the rest is the trained policy's (vLLM's own "
                "default, 0.9, leaves training none)"})
    resume: bool = shared("resume", True, "the checkpoint in OUT_DIR")

    def __post_init__(self) -> None:
        for name in ("group_size", "prompts_per_step", "max_steps", "mu", "micro_batch", "max_new_tokens",
                     "checkpoint_steps", "monitor_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if not 0 < self.vllm_gpu_memory_utilization < 1:
            raise ValueError(f"vllm_gpu_memory_utilization must be in (0, 1), got {self.vllm_gpu_memory_utilization}")

    @property
    def scale_std(self) -> bool:
        return self.scale_rewards if self.scale_rewards is not None else self.loss_aggregation != "dr_grpo"
