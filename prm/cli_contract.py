"""The command line's contract: options that several commands share mean one thing everywhere.

Every subcommand's options are the fields of its config dataclass (:mod:`prm.cli_config`). An option named in
``SHARED_OPTIONS`` is declared with :func:`shared`, which gives it the contract's type and meaning (a command adds
detail after it), so ``--output`` is a file and ``--out-dir`` a folder in every command, ``--model`` / ``--prm`` /
``--orm`` name models by role (and take a ``.gguf`` file: ``MODEL_OPTIONS``), ``--max-new-tokens`` bounds
generation, ``--max-steps`` is a training run's budget in steps, ``--workers`` / ``--timeout-s`` size the answer
checker, and ``--resume`` (on by default) is how every long job (``LONG_JOBS``) continues after a kill. Names a
command no longer takes are in ``RETIRED``, with what to use instead; the parser says so when one is given.
``tests/test_cli_contract.py`` walks every subcommand's parser and holds them to this.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["LONG_JOBS", "MODEL_OPTIONS", "RETIRED", "SHARED_OPTIONS", "SharedOption", "shared"]


@dataclass(frozen=True)
class SharedOption:
    """A shared option's value type and meaning (the start of its help in every command)."""

    type: type
    meaning: str


SHARED_OPTIONS: dict[str, SharedOption] = {
    "output": SharedOption(str, "output file"),
    "out_dir": SharedOption(str, "output folder"),
    "model": SharedOption(str, "the language model this command trains or samples (policy or backbone): model "
                               "folder or hub id"),
    "prm": SharedOption(str, "PRM folder (any format prm.model.load_scorer reads)"),
    "orm": SharedOption(str, "outcome reward model folder (a PRM trained with --outcome)"),
    "prm_format": SharedOption(str, "checkpoint format of --prm (prm.model.formats; auto: detected from its config "
                                    "files)"),
    "prm_options": SharedOption(str, "options of the --prm format's loader, comma-separated KEY=VALUE"),
    "problems": SharedOption(str, "problems: built-in name, JSONL file or folder, or hub id"),
    "split": SharedOption(str, "split of --problems (default: the loader's)"),
    "limit": SharedOption(int, "use at most this many inputs"),
    "max_new_tokens": SharedOption(int, "most new tokens per completion"),
    "system_prompt": SharedOption(str, "a system turn for the policy's prompts (the user turn is then the problem "
                                       "alone), e.g. the Qwen2.5-Math recipe's"),
    "max_steps": SharedOption(int, "training steps, the run's budget"),
    "batch_size": SharedOption(int, "sequences per batch"),
    "seed": SharedOption(int, "random seed"),
    "resume": SharedOption(bool, "continue what an earlier run with the same options left (--no-resume: start "
                                 "over, deleting it)"),
    "workers": SharedOption(int, "answer-check workers (threads, each with a sympy sandbox)"),
    "timeout_s": SharedOption(float, "sympy budget per answer check, in seconds"),
    "threads": SharedOption(int, "torch CPU threads (0: torch's default)"),
    "data_parallel": SharedOption(int, "processes, one engine each on its own GPU(s) (prm.parallel), whose "
                                       "shards are merged into --output; 1: this process only"),
    "shard": SharedOption(str, "K/N: only items K, K+N, K+2N... (what each --data-parallel process runs)"),
    "device": SharedOption(str, "torch device: auto (a GPU if present), cpu, cuda or mps"),
    "dtype": SharedOption(str, "inference dtype: auto (the checkpoint's where the device runs it natively, else "
                               "float32; prm.runtime), float32, bfloat16 or float16"),
}

# Options that name a model: a ``.gguf`` file given to any of them is converted once and replaced by the converted
# folder before the command runs (:mod:`prm.gguf`); comma-separated lists (several PRMs) are converted one by one.
MODEL_OPTIONS = ("model", "prm", "orm", "verifier")

# Options of earlier versions, and what replaces them.
RETIRED: dict[str, str] = {
    "--out": "--output (a file) or --out-dir (a folder)",
    "--max-tokens": "--max-new-tokens",
    "--fresh": "--no-resume",
    "--reward": "--rewards (a reward spec, e.g. 'answer,prm_outcome@min')",
    "--prm-aggregation": "--rewards prm_outcome@AGGREGATION",
    "--verify-workers": "--workers",
    "--verify-timeout-s": "--timeout-s",
    "--policy": "--model",
}

# Commands whose outputs are written as they go and are continued by default.
LONG_JOBS = ("sample", "score", "label", "train", "policy train", "grpo", "search", "regime", "quickstart")


def shared(name: str, default: Any = None, detail: str = "", required: bool = False) -> Any:
    """A dataclass field for the shared option ``name``: its help is the contract's meaning plus ``detail``."""
    meaning = SHARED_OPTIONS[name].meaning
    help_text = f"{meaning}; {detail}" if detail else meaning
    return dataclasses.field(default=default, metadata={"help": help_text, "required": required})
