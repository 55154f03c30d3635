"""The ``prm`` command line: one console command, one module per subcommand, imported lazily.

Each subcommand module exposes ``CONFIG`` (a dataclass whose fields are its options, each with a
help string), ``add_arguments(parser)`` for positional arguments, and ``run(config, args) -> int``.
Options come from ``--config FILE.yaml`` first, then from the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import sys
from types import ModuleType

from prm.cli_config import add_config_arguments, config_from_args
from prm.cli_contract import MODEL_OPTIONS, RETIRED

# name -> (module, one-line help). A name may have two words ("data synth"). Modules are imported
# only when their subcommand runs, so `prm verify` never pays for torch.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "verify": ("prm.commands.verify", "check final answers in a JSONL file against gold answers"),
    "data synth": ("prm.commands.data_synth", "generate the synthetic MATH-style task (train/test problems)"),
    "data stats": ("prm.commands.data_stats", "statistics of a problem or stepwise file"),
    "data build": ("prm.commands.data_build", "build a step-labelled dataset from synthetic and real solutions"),
    "label": ("prm.commands.label", "label solution steps (exact checks, error injection)"),
    "policy train": ("prm.commands.policy_train",
                     "train the small offline policy from scratch, or fine-tune a HF model (SFT)"),
    "bon": ("prm.commands.bon", "best-of-N table and curves: PRM vs ORM vs majority vs oracle"),
    "eval steps": ("prm.commands.eval_steps", "ProcessBench-style first-error evaluation of step scores"),
    "eval processbench": ("prm.commands.eval_processbench", "ProcessBench first-error F1 of a PRM (published "
                                                            "protocol)"),
    "eval prmbench": ("prm.commands.eval_prmbench", "PRMBench PRMScore of a PRM, per error category"),
    "eval hacking": ("prm.commands.eval_hacking", "reward-hacking checks: adversarial completions, length and "
                                                  "step-count correlations, per reward model"),
    "eval report": ("prm.commands.eval_report", "one leaderboard page of every evaluation under a folder, "
                                                "beside published PRMs"),
    "train": ("prm.commands.train", "train a PRM (or an outcome RM) on stepwise rows"),
    "score": ("prm.commands.score", "add per-step PRM scores to a samples file (resumable)"),
    "sample": ("prm.commands.sample", "draw N solutions per problem with vLLM or HF generate (resumable)"),
    "serve": ("prm.commands.serve", "serve PRM step scores, answer checks and GRPO rewards over HTTP"),
    "grpo": ("prm.commands.grpo", "GRPO on the policy with answer / PRM outcome / PRM process rewards"),
    "grpo compare": ("prm.commands.grpo_compare", "compare finished GRPO runs: pass@1 before/after, curves"),
    "search": ("prm.commands.search", "PRM-guided search over partial solutions: best_of_n, beam, dvts (resumable)"),
    "search compare": ("prm.commands.search_compare", "search strategies against best-of-N at equal generated "
                                                      "tokens: accuracy curves, difficulty bins, paired CIs"),
    "regime": ("prm.commands.regime", "the PRM-vs-ORM regime map on a synthetic task with exact knobs (resumable)"),
    "quickstart": ("prm.commands.quickstart", "run the main job end to end on the offline default"),
}


def _usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    lines = [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
    return "usage: prm [--log-level LEVEL] COMMAND [options]\n\ncommands:\n" + "\n".join(lines) + "\n"


def _split_command(argv: list[str]) -> tuple[str | None, list[str]]:
    """The longest registered command at the front of argv, and the rest."""
    for words in (2, 1):
        name = " ".join(argv[:words])
        if len(argv) >= words and name in SUBCOMMANDS:
            return name, argv[words:]
    return None, argv


def build_parser(command: str) -> tuple[argparse.ArgumentParser, ModuleType]:
    """The parser of subcommand ``command`` and its module (imported here)."""
    module_name, help_text = SUBCOMMANDS[command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"prm {command}", description=help_text, allow_abbrev=False)
    module.add_arguments(parser)
    add_config_arguments(parser, module.CONFIG)
    return parser, module


def _parse(parser: argparse.ArgumentParser, rest: list[str]) -> argparse.Namespace:
    """``parser.parse_args``, naming the replacement of an option earlier versions had."""
    args, unknown = parser.parse_known_args(rest)
    if unknown:
        retired = [f"{flag} is now {RETIRED[flag]}" for flag in (u.split("=")[0] for u in unknown) if flag in RETIRED]
        parser.error("; ".join(retired) if retired else f"unrecognized arguments: {' '.join(unknown)}")
    return args


def convert_model_options(config: object) -> object:
    """``config`` with every ``.gguf`` file named by a model option (``MODEL_OPTIONS``) replaced by its converted
    folder (:func:`prm.gguf.local_checkpoint`, once per file; comma-separated lists part by part)."""
    from prm.gguf import is_gguf, local_checkpoint

    changes = {}
    for field in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, field.name)
        if field.name in MODEL_OPTIONS and isinstance(value, str) and any(
                is_gguf(part) for part in value.split(",")):
            changes[field.name] = ",".join(local_checkpoint(part.strip()) for part in value.split(","))
    return dataclasses.replace(config, **changes) if changes else config  # type: ignore[type-var]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    log_level = "INFO"
    if argv[:1] == ["--log-level"] and len(argv) > 1:
        log_level, argv = argv[1], argv[2:]
    command, rest = _split_command(argv)
    if command is None:
        sys.stderr.write(_usage())
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser, module = build_parser(command)
    try:
        args = _parse(parser, rest)
        try:
            profile = getattr(module, "PROFILES", {}).get(getattr(args, "profile", None))
            config = convert_model_options(config_from_args(module.CONFIG, args, profile))
        except (ValueError, OSError) as error:
            parser.error(str(error))
    except SystemExit as stop:  # argparse's exit: --help (0) or a usage error (2), returned like a run's code
        return int(stop.code or 0)
    return int(module.run(config, args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
