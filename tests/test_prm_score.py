"""Scoring: the aggregation registry, text vs step-list input, steps past the length limit, and
``prm score`` end to end with a problems join and resume after a kill (torn last line)."""

from __future__ import annotations

import json
import math

import pytest
from tiny_policy import build_tiny_prm

from data.records import StepwiseRow, read_records
from data.synth import generate_problems
from eval.aggregate import AGGREGATIONS, solution_score
from prm.cli import main
from prm.commands.score import scored_rows
from prm.model.scoring import PRMScorer

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def problems():
    return generate_problems(12, seed=3, split="test")


@pytest.fixture(scope="module")
def prm_folder(tmp_path_factory, problems) -> str:
    return build_tiny_prm(tmp_path_factory.mktemp("prm"), problems)


AGGREGATION_TABLE = [
    ([0.9, 0.5, 0.8], {"min": 0.5, "product": 0.36, "last": 0.8, "mean": 2.2 / 3}),
    ([0.7], {"min": 0.7, "product": 0.7, "last": 0.7, "mean": 0.7}),
    ([0.9, None], {"min": 0.9, "product": 0.9, "last": 0.9, "mean": 0.9}),  # None: past the length limit
]


@pytest.mark.parametrize("scores,expected", AGGREGATION_TABLE)
def test_aggregations(scores, expected):
    import eval.aggregate

    assert AGGREGATIONS is eval.aggregate.AGGREGATIONS  # one registry, shared with the best-of-N harness
    assert set(AGGREGATIONS) == {"min", "product", "last", "mean"}
    for name, value in expected.items():
        assert solution_score(scores, name) == pytest.approx(value)


def test_aggregation_edge_cases():
    assert solution_score([], "min") is None and solution_score([None], "product") is None
    with pytest.raises(ValueError, match="unknown aggregation 'max'"):
        solution_score([0.5], "max")


def test_text_and_step_list_score_the_same(prm_folder, problems):
    scorer = PRMScorer(prm_folder, device="cpu")
    problem = problems[0]
    steps = scorer.steps_of(problem.solution)
    assert len(steps) >= 2
    assert scorer.score(problem.problem, problem.solution) == scorer.score(problem.problem, steps)


def test_steps_past_max_length_score_none(prm_folder, problems):
    problem = problems[1]
    full = PRMScorer(prm_folder, device="cpu")
    steps = full.steps_of(problem.solution)
    cut = full.encode(problem.problem, steps).tag_positions[0] + 2  # room for the first step only
    short = PRMScorer(prm_folder, device="cpu", max_length=cut)
    scores = short.score(problem.problem, steps)
    assert scores[0] == pytest.approx(full.score(problem.problem, steps)[0], abs=1e-6)
    assert scores[1:] == [None] * (len(steps) - 1)


def _samples(problems, path):
    rows = []
    for p in problems:
        for k in range(2):
            text = p.solution if k == 0 else p.solution.replace("=", "= 1 +", 1)
            rows.append({"problem_id": p.id, "sample_idx": k, "text": text, "num_tokens": 0})
    rows[0]["steps"] = ["a lone step"]  # a given step list wins over the text
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_prm_score_command_with_resume(tmp_path, prm_folder, problems):
    samples, problem_file, out = tmp_path / "samples.jsonl", tmp_path / "problems.jsonl", tmp_path / "scored.jsonl"
    rows = _samples(problems, samples)
    problem_file.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in problems))
    base = ["score", "--samples", str(samples), "--prm", prm_folder, "--output", str(out), "--problems",
            str(problem_file), "--chunk-rows", "5", "--batch-size", "3", "--device", "cpu"]
    assert main(base) == 0
    runtime = json.loads((tmp_path / "scored_metrics.json").read_text())["runtime"]
    assert runtime["device"] == "cpu" and runtime["precision"] == "float32" and runtime["rows_per_s"] > 0
    complete = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["problem_id"], r["sample_idx"]) for r in complete] == [(r["problem_id"], r["sample_idx"]) for r in rows]
    assert len(complete[0]["step_scores"]) == 1
    scorer = PRMScorer(prm_folder, device="cpu")
    by_id = {p.id: p.problem for p in problems}
    for row in complete[1:4]:
        assert row["step_scores"] == pytest.approx(scorer.score(by_id[row["problem_id"]], row["text"]), abs=1e-6)
        assert all(0 < s < 1 and not math.isnan(s) for s in row["step_scores"])

    lines = out.read_text().splitlines(keepends=True)  # a kill mid-write: 7 rows and a torn 8th
    out.write_text("".join(lines[:7]) + lines[7][:20])
    assert len(scored_rows(out)) == 7 and out.read_text() == "".join(lines[:7])
    assert main(base) == 0
    resumed = [json.loads(line) for line in out.read_text().splitlines()]
    assert [{k: v for k, v in r.items() if k != "step_scores"} for r in resumed] == \
        [{k: v for k, v in r.items() if k != "step_scores"} for r in complete]
    for again, first in zip(resumed, complete, strict=True):  # other batches: padding may move the last digits
        assert again["step_scores"] == pytest.approx(first["step_scores"], abs=1e-5)
    assert main(base) == 0  # nothing left to do
    assert len(out.read_text().splitlines()) == len(rows)


def test_prm_score_refuses_a_mismatched_output(tmp_path, prm_folder, problems):
    samples, out = tmp_path / "samples.jsonl", tmp_path / "scored.jsonl"
    _samples(problems, samples)
    out.write_text(json.dumps({"problem_id": "other", "sample_idx": 0, "step_scores": []}) + "\n")
    assert main(["score", "--samples", str(samples), "--prm", prm_folder, "--output", str(out)]) == 2
    assert main(["score", "--samples", str(samples)]) == 2


@pytest.mark.parametrize("field", ["problem", "prompt"])
def test_score_reads_problem_text_from_samples(tmp_path, prm_folder, problems, field):
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({field: p.problem, "text": p.solution}) + "\n" for p in problems[:2]))
    assert main(["score", "--samples", str(samples), "--prm", prm_folder]) == 0
    rows = [json.loads(line) for line in (tmp_path / "samples.scored.jsonl").read_text().splitlines()]
    scorer = PRMScorer(prm_folder, device="cpu")
    for row, problem in zip(rows, problems[:2], strict=True):
        expected = scorer.score(problem.problem, problem.solution)
        assert expected != pytest.approx(scorer.score("", problem.solution), abs=1e-3)  # the text moves the scores
        assert row["step_scores"] == pytest.approx(expected, abs=1e-6)  # ... so they show it was read


def test_stepwise_rows_score_like_training_sees_them(tmp_path, prm_folder):
    from data.build import build_dataset

    path = tmp_path / "rows.jsonl"
    build_dataset(path, n_synthetic=5, gsm8k=0, math=0)
    scorer = PRMScorer(prm_folder, device="cpu")
    for row in read_records(path, StepwiseRow):
        assert len(scorer.score(row.prompt, row.completions)) == len(row.labels)


def test_length_batches_run_longest_first_and_skip_what_has_nothing_to_score() -> None:
    from prm.model.scorer import length_batches

    assert length_batches([3, 9, 1, 7, 5], 2) == [[1, 3], [4, 0], [2]]
    assert length_batches([3, 9, 1, 7, 5], 2, [True, False, True, True, True]) == [[3, 4], [0, 2]]
    assert length_batches([4, 4], 0) == [[0], [1]] and length_batches([], 8) == []
