"""The stage runner behind ``prm quickstart`` and the quickstart's stage list.

Stages here are real ``prm data synth`` runs (no torch, about a second each).
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import pytest

from prm.cli import SUBCOMMANDS, _split_command
from prm.cli_config import add_config_arguments, config_from_args
from prm.pipeline import Stage, StageFailed, process_argv, reads_from, run_stages
from prm.quickstart.stages import QuickstartConfig, build_stages


def synth_stage(tmp_path: Path, name: str, n_train: int = 5, group: str | None = None) -> Stage:
    out = tmp_path / name
    return Stage(name, ("data", "synth", "--out-dir", str(out), "--n-train", str(n_train), "--n-test", "2",
                        "--families", "arithmetic"), (str(out / "train.jsonl"),), group=group)


def test_stages_run_then_are_reused(tmp_path: Path) -> None:
    stage = synth_stage(tmp_path, "one")
    first = run_stages([stage], tmp_path / "state")
    assert [r.cached for r in first] == [False]
    assert len((tmp_path / "one" / "train.jsonl").read_text().splitlines()) == 5
    marker = json.loads((tmp_path / "state" / "one.json").read_text())
    assert marker["argv"] == list(stage.argv)
    assert [r.cached for r in run_stages([stage], tmp_path / "state")] == [True]


def test_a_changed_command_or_a_missing_output_runs_again(tmp_path: Path) -> None:
    run_stages([synth_stage(tmp_path, "one")], tmp_path / "state")
    changed = synth_stage(tmp_path, "one", n_train=7)
    assert [r.cached for r in run_stages([changed], tmp_path / "state")] == [False]
    assert len((tmp_path / "one" / "train.jsonl").read_text().splitlines()) == 7
    (tmp_path / "one" / "train.jsonl").unlink()
    assert [r.cached for r in run_stages([changed], tmp_path / "state")] == [False]


def test_a_group_runs_together_and_logs_to_files(tmp_path: Path) -> None:
    stages = [synth_stage(tmp_path, "a", group="g"), synth_stage(tmp_path, "b", group="g")]
    results = run_stages(stages, tmp_path / "state")
    assert [r.name for r in results] == ["a", "b"]
    assert (tmp_path / "state" / "a.log").read_text() and (tmp_path / "state" / "b.log").exists()


@pytest.mark.parametrize("argv,outputs,expected", [
    (("data", "synth", "--n-train", "-3"), (), "failed with exit code"),
    (("data", "synth", "--n-train", "1", "--n-test", "1", "--families", "arithmetic"), ("nowhere.jsonl",),
     "did not write nowhere.jsonl"),
])
def test_a_failing_stage_names_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv, outputs,
                                      expected) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StageFailed, match=expected) as error:
        run_stages([Stage("broken stage", argv, outputs)], tmp_path / "state")
    assert "broken stage" in str(error.value)
    assert not (tmp_path / "state" / "broken-stage.json").exists()


def parse(argv: tuple[str, ...]) -> object:
    """Parse a stage's command line with the real subcommand parser (catches unknown options)."""
    command, rest = _split_command(list(argv))
    assert command is not None, argv
    module = importlib.import_module(SUBCOMMANDS[command][0])
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    add_config_arguments(parser, module.CONFIG)
    return config_from_args(module.CONFIG, parser.parse_args(rest))


def test_every_quickstart_stage_parses_with_its_command() -> None:
    stages = build_stages(QuickstartConfig(out_dir="q"))
    assert [s.name for s in stages] == [
        "synthetic problems", "policy", "verifier lm", "sample test", "sample train", "label train exact",
        "label train mc", "label test exact", "train prm", "train orm", "score test prm", "score test steps",
        "score test orm", "best of n", "step errors", "search beam", "search compare"]
    for stage in stages:
        parse(stage.argv)
    by_name = {s.name: s.argv for s in stages}
    assert by_name["verifier lm"][by_name["verifier lm"].index("--model") + 1] == "q/policy"
    assert by_name["sample test"][by_name["sample test"].index("--model") + 1] == "q/policy"
    trainings = [s for s in stages if s.group == "reward models"]
    assert [("--outcome" in s.argv) for s in trainings] == [False, True]
    for argv in (s.argv for s in trainings):
        assert argv[argv.index("--data") + 1] == "q/labels/train-exact.jsonl"
        assert argv[argv.index("--model") + 1] == "q/verifier" and argv[argv.index("--head") + 1] == "likelihood"


@pytest.mark.parametrize("given,verifier_stage,rm_backbone", [
    ({}, True, "q/verifier"),
    ({"verifier": "v"}, False, "v"),
    ({"model": "p"}, False, "p"),  # a given policy verifies its own samples unless --verifier says otherwise
    ({"model": "p", "verifier": "v"}, False, "v"),
])
def test_the_reward_models_start_from_the_verifier(given, verifier_stage, rm_backbone) -> None:
    stages = build_stages(QuickstartConfig(out_dir="q", **given))
    assert ("verifier lm" in [s.name for s in stages]) == verifier_stage
    train = next(s.argv for s in stages if s.name == "train prm")
    assert train[train.index("--model") + 1] == rm_backbone


def test_budgets_are_steps_and_a_cap_only_when_asked() -> None:
    stages = build_stages(QuickstartConfig(out_dir="q", prm_head="two_class"))
    train = next(s.argv for s in stages if s.name == "train prm")
    parse(train)
    assert train[train.index("--head") + 1] == "two_class" and train[train.index("--max-steps") + 1] == "1000"
    assert "--no-resume" not in train and "--minutes" not in train and "--bf16" not in train  # precision: prm.runtime
    policy = next(s.argv for s in stages if s.name == "policy")
    assert policy[policy.index("--max-steps") + 1] == "2000" and "--minutes" not in policy
    capped = build_stages(QuickstartConfig(out_dir="q", prm_head="two_class", policy_minutes=5, rm_minutes=2))
    assert all(s.argv[s.argv.index("--minutes") + 1] in ("5", "2") for s in capped
               if s.name in ("policy", "verifier lm", "train prm"))


def test_unknown_heads_are_refused() -> None:
    with pytest.raises(ValueError, match="--prm-head should be one of likelihood, two_class, scalar"):
        build_stages(QuickstartConfig(out_dir="q", prm_head="linear"))


def test_given_models_skip_the_stages_that_make_them() -> None:
    stages = build_stages(QuickstartConfig(out_dir="q", model="p", prm="r", orm="o", problems="math500"))
    assert [s.name for s in stages] == ["sample test", "label test exact", "score test prm", "score test steps",
                                        "score test orm", "best of n", "step errors", "search beam", "search compare"]
    assert stages[0].argv[stages[0].argv.index("--model") + 1] == "p"
    with pytest.raises(ValueError, match="--train-problems"):
        build_stages(QuickstartConfig(problems="math500", model="p"))


def test_a_system_prompt_reaches_sampling_and_rollouts() -> None:
    stages = build_stages(QuickstartConfig(out_dir="q", system_prompt="Be exact."))
    for name in ("sample test", "sample train", "label train mc"):
        argv = next(s.argv for s in stages if s.name == name)
        parse(argv)
        assert argv[argv.index("--system-prompt") + 1] == "Be exact."
    assert all("--system-prompt" not in s.argv for s in build_stages(QuickstartConfig(out_dir="q")))


def test_a_given_prms_format_reaches_its_scoring_stages() -> None:
    config = QuickstartConfig(out_dir="q", prm="Qwen/Qwen2.5-Math-PRM-7B", prm_format="qwen2_5_math_prm",
                              prm_options="system_prompt=Be exact.")
    stages = {s.name: s.argv for s in build_stages(config)}
    for name in ("score test prm", "score test steps"):
        parse(stages[name])
        assert stages[name][stages[name].index("--prm-format") + 1] == "qwen2_5_math_prm"
        assert stages[name][stages[name].index("--prm-options") + 1] == "system_prompt=Be exact."
    assert "--prm-format" not in stages["score test orm"]  # the ORM trained here is the project's own format


def test_a_stage_reruns_when_a_stage_it_reads_from_was_rebuilt(tmp_path: Path, monkeypatch) -> None:
    source = synth_stage(tmp_path, "source")
    reader = Stage("reader", ("data", "stats", "--no-check", source.outputs[0]), ())
    other = synth_stage(tmp_path, "other")
    stages = [source, reader, other]
    assert [r.cached for r in run_stages(stages, tmp_path / "state")] == [False, False, False]
    assert [r.cached for r in run_stages(stages, tmp_path / "state")] == [True, True, True]
    (tmp_path / "state" / "source.json").unlink()  # the source is rebuilt: its reader too, not the other stage
    assert [r.cached for r in run_stages(stages, tmp_path / "state")] == [False, False, True]
    (tmp_path / "state" / "source.json").unlink()  # rebuilt by a run of the source alone (say, killed after it)
    run_stages([source], tmp_path / "state")
    assert [r.cached for r in run_stages(stages, tmp_path / "state")] == [True, False, True]


def test_a_long_job_rerun_for_a_newer_input_starts_over() -> None:
    score = Stage("score", ("score", "--prm", "runs/q/prm"), ("out.jsonl",))
    assert process_argv(score, fresh=True) == [*score.argv, "--no-resume"]
    assert process_argv(score, fresh=False) == list(score.argv)
    assert process_argv(Stage("p", ("policy", "train", "--out-dir", "x"), ()), fresh=True)[-1] == "--no-resume"
    assert "--no-resume" not in process_argv(Stage("b", ("bon", "--samples", "s"), ()), fresh=True)  # no resume


def test_reads_from_matches_outputs_and_paths_under_them(tmp_path: Path) -> None:
    model = Stage("train", ("train", "--out-dir", "runs/q/prm"), ("runs/q/prm",))
    assert reads_from(Stage("score", ("score", "--prm", "runs/q/prm"), ()), model)
    assert reads_from(Stage("s", ("score", "--prm", "runs/q/prm/checkpoint-1"), ()), model)
    assert not reads_from(Stage("s", ("score", "--prm", "runs/q/prm-ll"), ()), model)
    done_file = Stage("train", ("train", "--out-dir", "runs/q/prm"), ("runs/q/prm/train_metrics.json",))
    assert reads_from(Stage("score", ("score", "--prm", "runs/q/prm/"), ()), done_file)  # the folder it marks
    assert not reads_from(Stage("score", ("score", "--out-dir", "runs/q"), ()), done_file)  # not any ancestor


def test_reads_from_paths_in_lists_and_labels() -> None:
    """``prm search compare --runs beam=A,bon=B --samples bon=C`` reads A, B and C."""
    search = Stage("search", ("search", "--output", "runs/q/search/beam.jsonl"), ("runs/q/search/beam.jsonl",))
    scored = Stage("score", ("score", "--output", "runs/q/scored/test.jsonl"), ("runs/q/scored/test.jsonl",))
    compare = Stage("compare", ("search", "compare", "--runs", "beam=runs/q/search/beam.jsonl,runs/q/x.jsonl",
                                "--samples", "best_of_n=runs/q/scored/test.jsonl"), ())
    assert reads_from(compare, search) and reads_from(compare, scored)
    other = Stage("o", ("score", "--output", "runs/q/other.jsonl"), ("runs/q/other.jsonl",))
    assert not reads_from(compare, other)
    stages = build_stages(QuickstartConfig(out_dir="q"))
    by_name = {s.name: s for s in stages}
    assert reads_from(by_name["search compare"], by_name["search beam"])
    assert reads_from(by_name["search compare"], by_name["score test orm"])
