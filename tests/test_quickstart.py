"""``prm quickstart`` end to end at toy scale: every stage runs for real (HF sampling), the report is written,
and a second run reuses every stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prm.cli import main
from prm.quickstart.report import within_problem_auc

TOY = ["--test-problems", "6", "--train-problem-count", "12", "--n", "4", "--train-samples", "2",
       "--mc-samples", "4", "--mc-k", "2", "--policy-steps", "30", "--verifier-steps", "10",
       "--max-new-tokens", "48", "--backend", "hf", "--search-n", "4", "--search-beam-width", "2"]


@pytest.mark.slow
def test_quickstart_runs_every_stage_then_reuses_them(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "qs"
    assert main(["quickstart", "--out-dir", str(out), *TOY]) == 0
    report = (out / "report.md").read_text()
    for expected in ("## Best-of-N", "majority", "oracle", "## Reward models", "## Stages", "sample test",
                     "| verifier lm |", "start from the verifier LM", "head `likelihood`", "## Machine",
                     "native bf16", "| policy | cpu | float32 |", "| 30 of 30 |",
                     "## Search: beam search guided by the PRM vs best-of-N", "| beam:prm_min | 4 |",
                     "beam:prm_min vs the baseline at n=4"):
        assert expected in report
    assert "stopped by --minutes" not in report
    assert (out / "prm" / "likelihood_head.json").exists() and (out / "verifier" / "config.json").exists()
    bon = json.loads((out / "bon" / "bon.json").read_text())
    assert bon["ns"] == [1, 2, 4] and {"prm_min", "orm", "majority", "oracle"} <= set(bon["curves"])
    assert (out / "bon" / "bon.png").stat().st_size > 0
    compare = json.loads((out / "search" / "compare" / "search_compare.json").read_text())
    assert {run["strategy"] for run in compare["runs"]} == {"beam", "best_of_n"} and compare["problems"] == 6
    capsys.readouterr()
    assert main(["quickstart", "--out-dir", str(out), *TOY]) == 0
    assert report.count("| ran |") > 0 and "| ran |" not in (out / "report.md").read_text()
    assert "min of wall-clock time" in report


def test_fresh_refuses_a_folder_that_is_not_a_quickstart_run(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["quickstart", "--out-dir", str(tmp_path), "--no-resume", *TOY]) == 1
    assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("groups,expected", [
    ([[(0.9, True), (0.1, False)]], 1.0),
    ([[(0.1, True), (0.9, False)]], 0.0),
    ([[(0.5, True), (0.5, False)], [(0.7, True), (0.2, False), (0.8, False)]], (0.5 + 1 + 0) / 3),
    ([[(0.9, True)], [(0.1, False)]], None),  # no problem has both: undefined
])
def test_within_problem_auc_compares_samples_of_one_problem_only(groups, expected) -> None:
    value = within_problem_auc(groups)
    assert (value != value) if expected is None else value == pytest.approx(expected)


def _quickstart_config(argv: list[str]) -> Any:
    from prm.cli import build_parser, convert_model_options
    from prm.cli_config import config_from_args
    from prm.commands import quickstart

    parser, module = build_parser("quickstart")
    args = parser.parse_args(argv)
    return convert_model_options(config_from_args(module.CONFIG, args, quickstart.PROFILES.get(args.profile)))


def test_the_smollm_profile_sets_defaults_that_options_override(tmp_path: Path) -> None:
    from prm.quickstart.stages import build_stages

    config = _quickstart_config(["--profile", "smollm", "--n", "4"])
    assert (config.model, config.n, config.grpo_steps, config.segmentation) == (
        "HuggingFaceTB/SmolLM2-135M-Instruct", 4, 2, "auto")  # --n overrides the profile's 8
    stages = {stage.name: stage for stage in build_stages(config)}
    assert "policy" not in stages and {"sample hf", "grpo", "search beam", "label train mc"} <= set(stages)
    assert stages["sample test"].env["PRM_VLLM_ENFORCE_EAGER"] == "1"
    grpo = stages["grpo"].argv
    assert grpo[grpo.index("--prm") + 1] == "runs/smollm/prm" and "--lora" in grpo
    synth = stages["synthetic problems"].argv
    assert synth[synth.index("--families") + 1] == "arithmetic,gcd_lcm,remainder"
    for name in ("sample test", "sample train", "sample hf", "train prm"):
        argv = stages[name].argv
        assert argv[argv.index("--segmentation") + 1] == "auto", name
    default = {stage.name for stage in build_stages(_quickstart_config([]))}
    assert not {"sample hf", "grpo"} & default  # the offline default is unchanged


def test_a_gguf_model_option_reaches_the_stages_as_its_converted_folder(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from gguf_helpers import write_tiny_gguf

    monkeypatch.setenv("PRM_MATH_CACHE", str(tmp_path / "cache"))
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    config = _quickstart_config(["--profile", "smollm", "--model", str(path)])
    assert Path(config.model).parent == tmp_path / "cache" / "gguf"
    assert (Path(config.model) / "config.json").is_file()
