"""The command-line contract (prm.cli_contract), held for every subcommand's parser: a shared option has one
type and meaning everywhere, retired names are gone and explained, long jobs resume by default, required
options and YAML values are checked up front with the option's name."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest

from prm.cli import SUBCOMMANDS, build_parser, main
from prm.cli_config import config_from_args, convert_value, flag_of
from prm.cli_contract import LONG_JOBS, RETIRED, SHARED_OPTIONS

COMMANDS = sorted(SUBCOMMANDS)
UNIONS = (typing.Union, types.UnionType)


def _options(command: str) -> dict[str, argparse.Action]:
    parser, _ = build_parser(command)
    return {action.option_strings[0]: action for action in parser._actions if action.option_strings}


def _fields(command: str) -> dict[str, tuple[dataclasses.Field, Any]]:
    _, module = build_parser(command)
    hints = typing.get_type_hints(module.CONFIG)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(module.CONFIG)}


def _base_type(hint: Any) -> Any:
    """``str | None`` -> str; ``Literal["a", "b"]`` -> str."""
    kind = next(a for a in get_args(hint) if a is not type(None)) if get_origin(hint) in UNIONS else hint
    if get_origin(kind) is Literal:
        return type(get_args(kind)[0])
    return kind


@pytest.mark.parametrize("command", COMMANDS)
def test_shared_options_mean_one_thing(command: str) -> None:
    for name, (field, hint) in _fields(command).items():
        if name not in SHARED_OPTIONS:
            continue
        contract = SHARED_OPTIONS[name]
        assert _base_type(hint) is contract.type, f"prm {command} {flag_of(name)}: type {hint}, not {contract.type}"
        assert field.metadata["help"].startswith(contract.meaning), \
            f"prm {command} {flag_of(name)}: help should start with {contract.meaning!r} (declare it with shared())"


@pytest.mark.parametrize("command", COMMANDS)
def test_retired_names_are_gone(command: str) -> None:
    retired = set(_options(command)) & set(RETIRED)
    assert not retired, f"prm {command} still takes {retired}"


@pytest.mark.parametrize("command", LONG_JOBS)
def test_long_jobs_resume_by_default(command: str) -> None:
    field, _ = _fields(command)["resume"]
    assert field.default is True and "--no-resume" in _options(command)["--resume"].option_strings


def test_file_and_folder_outputs_are_named_apart() -> None:
    seen = {name for command in COMMANDS for name in _fields(command)}
    assert {"output", "out_dir"} <= seen and "out" not in seen
    for command in COMMANDS:
        for name, (field, _) in _fields(command).items():
            text = field.metadata.get("help", "").lower()
            if name not in ("output", "out_dir") and text.startswith(("output file", "output folder")):
                pytest.fail(f"prm {command} {flag_of(name)} describes an output: name it --output or --out-dir")


def test_a_retired_flag_names_its_replacement(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "--model", "m", "--problems", "p", "--out", "x.jsonl"]) == 2
    assert "--out is now --output (a file) or --out-dir (a folder)" in capsys.readouterr().err
    assert main(["bon", "--samples", "s", "--out-d", "x"]) == 2  # no prefix matching: --out-d is not --out-dir
    assert "unrecognized arguments: --out-d x" in capsys.readouterr().err


@pytest.mark.parametrize(("command", "argv", "missing"), [
    ("sample", [], "--model, --problems, --output"),
    ("score", ["--samples", "s.jsonl"], "--prm"),
    ("label", ["--problems", "p"], "--output"),
    ("train", ["--data", "d.jsonl"], "--out-dir"),
    ("grpo", [], "--out-dir"),
    ("data build", [], "--output"),
])
def test_required_options_are_named(command: str, argv: list[str], missing: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command.split(), *argv]) == 2
    assert f"missing required option(s): {missing}" in capsys.readouterr().err


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("n: many\n", "option n: expected an integer, got 'many'"),
    ("n: 2.5\n", "option n: expected an integer, got 2.5"),
    ("temperature: hot\n", "option temperature: expected a number, got 'hot'"),
    ("stop_at_step_end: sometimes\n", "option stop_at_step_end: expected true or false"),
    ("backend: tpu\n", "option backend: expected one of auto, vllm, hf, got 'tpu'"),
    ("model: [a, b]\n", "option model: expected a single value"),
    ("n_samples: 3\n", "unknown option 'n_samples'"),
    ("max_tokens: 3\n", "unknown option 'max_tokens'"),
])
def test_yaml_values_are_checked_with_the_option_name(tmp_path: Path, yaml_text: str, message: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("model: m\nproblems: p\noutput: o.jsonl\n" + yaml_text, encoding="utf-8")
    assert main(["sample", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and message in err


def test_yaml_values_convert_to_the_field_type(tmp_path: Path) -> None:
    from prm.commands.sample import SampleCommandConfig

    config = tmp_path / "c.yaml"
    config.write_text("model: 7\nproblems: p\noutput: o.jsonl\nn: 4\ntemperature: 1\ntop-p: 1e-1\nresume: false\n",
                      encoding="utf-8")
    parser, _ = build_parser("sample")
    built = config_from_args(SampleCommandConfig, parser.parse_args(["--config", str(config), "--n", "8"]))
    assert (built.model, built.n, built.temperature, built.top_p, built.resume) == ("7", 8, 1.0, 0.1, False)
    assert isinstance(built.temperature, float)


@pytest.mark.parametrize(("value", "kind", "optional", "expected"), [
    (3, int, False, 3), (3.0, int, False, 3), ("3", int, False, 3), (3, float, False, 3.0),
    (True, bool, False, True), (None, str, True, None), (12, str, False, "12"),
    ("hf", Literal["hf", "vllm"], False, "hf"),
])
def test_convert_value_table(value: Any, kind: Any, optional: bool, expected: Any) -> None:
    assert convert_value("x", value, kind, optional) == expected


def test_every_command_builds_from_its_defaults() -> None:
    for command in COMMANDS:
        parser, module = build_parser(command)
        fields = dataclasses.fields(module.CONFIG)
        required = [f for f in fields if f.metadata.get("required")]
        argv = [arg for f in required for arg in (flag_of(f.name), "x")]
        positionals = [a for a in parser._actions if not a.option_strings and a.dest != "help"]
        args = parser.parse_args([*("p" for _ in positionals), *argv])
        assert dataclasses.is_dataclass(config_from_args(module.CONFIG, args))
