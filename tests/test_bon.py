"""Best-of-N harness: aggregations, selection rules, pass@k, subset accuracy, bootstrap, `prm bon`."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data.records import Sample
from eval.aggregate import AGGREGATIONS, aggregate
from eval.answers import AnswerClusterer, parse_number
from eval.bon import BonConfig, BonProblem, bootstrap_ci, draw_orders, n_values, pass_at_k, run_bon
from eval.selection import SELECTION_RULES, Group, RuleNotApplicable, choose
from prm.cli import main


def sample(answer: str | None, scores: list[float] | None = None, verdict: str | None = None, **extra) -> dict:
    row = {"problem_id": "p", "sample_idx": 0, "text": f"so \\boxed{{{answer}}}" if answer else "no idea",
           "answer": answer, "step_scores": scores or [], **extra}
    if verdict is not None:
        row["verdict"] = verdict
    return row


# --- aggregations and answer clusters ---------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [("min", 0.5), ("product", 0.36), ("last", 0.8), ("mean", 0.7333)])
def test_aggregations(name: str, expected: float) -> None:
    assert aggregate([0.9, 0.5, 0.8], name) == pytest.approx(expected, abs=1e-4)
    assert set(AGGREGATIONS) == {"min", "product", "last", "mean"}


def test_aggregate_rejects_empty_and_unknown() -> None:
    with pytest.raises(ValueError, match="no step scores"):
        aggregate([], "min")
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate([0.5], "max")


@pytest.mark.parametrize(("text", "value"), [("3", 3), ("-0.25", -0.25), (r"\frac12", 0.5), (r"-\frac{3}{4}", -0.75),
                                             ("7/2", 3.5), ("x+1", None), ("1,000", None)])
def test_parse_number(text: str, value: float | None) -> None:
    parsed = parse_number(text)
    assert (parsed is None) if value is None else float(parsed[0]) == value


def test_clusters_group_equivalent_answers() -> None:
    clusterer = AnswerClusterer()
    answers = [r"\frac12", "0.5", "1/2", "2", r"\dfrac{1}{2}", "(1, 2)", "(1,2)", "x+1", "1+x", None]
    assert clusterer.cluster(answers) == [0, 0, 0, 1, 0, 2, 2, 3, 3, -1]
    # with verdicts: correct answers are one cluster; unparsable ones do not vote
    verdicts = ["correct", "incorrect", "incorrect", "correct", "unparsable"]
    assert clusterer.cluster(["4", "5", "5.0", r"\frac{8}{2}", "5"], verdicts) == [0, 1, 1, 0, -1]


# --- selection rules on hand-built groups -------------------------------------------------------------

def test_majority_groups_answers_written_differently() -> None:
    group = [sample("2"), sample(r"\frac12"), sample("0.5"), sample("2"), sample("1/2")]
    assert SELECTION_RULES["majority"](group) == 1  # the 1/2 cluster (3 votes); its first sample
    assert SELECTION_RULES["first"](group) == 0


def test_unparsable_samples_do_not_vote() -> None:
    group = [sample(None, verdict="unparsable"), sample(None, verdict="unparsable"), sample("3", verdict="incorrect")]
    assert SELECTION_RULES["majority"](group) == 2


def test_weighted_vote_differs_from_majority() -> None:
    group = [sample("7", [0.2]), sample("7", [0.2]), sample("7", [0.2]), sample("9", [0.9]), sample("9.0", [0.9])]
    assert SELECTION_RULES["majority"](group) == 0  # 3 votes against 2
    assert SELECTION_RULES["prm_vote_min"](group) == 3  # 1.8 against 0.6
    assert SELECTION_RULES["prm_min"](group) == 3


@pytest.mark.parametrize(("rule", "expected"), [("prm_min", 1), ("prm_product", 1), ("prm_last", 0), ("prm_mean", 0)])
def test_prm_aggregations_choose_differently(rule: str, expected: int) -> None:
    group = [sample("1", [0.9, 0.1, 0.95]), sample("2", [0.6, 0.6, 0.6])]
    assert SELECTION_RULES[rule](group) == expected


def test_ties_lowest_index_without_rng_and_uniform_with_it() -> None:
    group = [sample("1", [0.3]), sample("2", [0.8]), sample("3", [0.8]), sample("4", [0.8])]
    assert SELECTION_RULES["prm_min"](group) == 1
    rng = random.Random(0)
    picks = [SELECTION_RULES["prm_min"](group, rng) for _ in range(3000)]
    assert set(picks) == {1, 2, 3}
    assert all(abs(picks.count(i) / 3000 - 1 / 3) < 0.05 for i in (1, 2, 3))
    tied_votes = [sample("5"), sample("6"), sample("6"), sample("5")]
    assert SELECTION_RULES["majority"](tied_votes) == 0  # tie between clusters: the first sample's cluster


def test_missing_scores_rank_below_scored_samples() -> None:
    group = [sample("1"), sample("2", [0.01]), sample("3")]
    assert SELECTION_RULES["prm_min"](group) == 1


def test_rules_take_sample_records() -> None:
    records = [Sample("p", i, f"\\boxed{{{i}}}", ["s"], extra={"step_scores": [score], "verdict": "incorrect"})
               for i, score in enumerate([0.2, 0.7, 0.5])]
    assert SELECTION_RULES["prm_last"](records) == 1


def test_orm_and_oracle() -> None:
    group = [sample("1", verdict="incorrect", orm_score=0.4), sample("2", verdict="correct", orm_score=0.3),
             sample("3", verdict="incorrect", orm_step_scores=[0.1, 0.9])]
    assert SELECTION_RULES["orm"](group) == 2  # the last of orm_step_scores
    assert SELECTION_RULES["oracle"](group) == 1
    with pytest.raises(RuleNotApplicable, match="orm_score"):
        SELECTION_RULES["orm"]([sample("1", [0.5])])
    with pytest.raises(RuleNotApplicable, match="step_scores"):
        SELECTION_RULES["prm_last"]([sample("1")])


# --- pass@k -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "c", "k", "expected"), [
    (4, 1, 2, 0.5), (5, 2, 2, 0.7), (10, 0, 5, 0.0), (10, 10, 1, 1.0), (10, 3, 1, 0.3), (6, 3, 4, 1.0),
])
def test_pass_at_k_hand_worked(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected)


@pytest.mark.parametrize(("n", "c"), [(5, 2), (6, 1), (7, 4), (8, 3)])
def test_pass_at_k_equals_the_average_over_all_subsets(n: int, c: int) -> None:
    correct = [True] * c + [False] * (n - c)
    for k in range(1, n + 1):
        subsets = list(itertools.combinations(range(n), k))
        brute = sum(any(correct[i] for i in s) for s in subsets) / len(subsets)
        assert pass_at_k(n, c, k) == pytest.approx(brute)


# --- the harness --------------------------------------------------------------------------------------

def random_problems(count: int, n: int, seed: int = 0, ties: bool = True) -> list[BonProblem]:
    """Problems with random samples; ``ties=False``: distinct scores and a strict majority answer."""
    rng = random.Random(seed)
    problems = []
    for p in range(count):
        if ties:
            values = [rng.choice(["4", "4.0", r"\frac{8}{2}", "5", "6"]) for _ in range(n)]
        else:
            top, other = rng.sample(["4", "5", "6", "7"], 2)
            values = [top] * (n // 2 + 1) + [other] * (n - n // 2 - 1)
            rng.shuffle(values)
        rows = []
        for i, value in enumerate(values):
            scores = [round(rng.random(), 1) if ties else rng.random() for _ in range(rng.randint(1, 4))]
            verdict = "correct" if parse_number(value)[0] == 4 else "incorrect"
            if ties and verdict == "incorrect" and rng.random() < 0.2:
                verdict = "unparsable"
            rows.append(sample(value, scores, verdict, orm_score=rng.random(), sample_idx=i, problem_id=f"q{p}"))
        labels = [rng.choice([True, False]) if r["verdict"] == "correct" else None for r in rows]
        problems.append(BonProblem(f"q{p}", Group(rows), {"subject": "ab"[p % 2], "level": str(1 + p % 3)}, labels))
    return problems


def test_n_values() -> None:
    assert n_values(16) == [1, 2, 4, 8, 16]
    assert n_values(12) == [1, 2, 4, 8, 12]
    assert n_values(64, max_n=20) == [1, 2, 4, 8, 16, 20]


def test_subset_accuracy_at_all_samples_equals_the_deterministic_rule() -> None:
    problems = random_problems(20, 5, ties=False)
    result = run_bon(problems, BonConfig(trials=7, bootstrap=50))
    assert result.ns == [1, 2, 4, 5]
    assert set(result.rules) == set(SELECTION_RULES)
    for name in result.rules:
        if name == "first":  # its only tie-free choice is "whichever comes first": a random sample
            continue
        expected = [float(p.group.correct[SELECTION_RULES[name](p.group.samples)]) for p in problems]
        assert result.per_problem[name][-1].tolist() == expected, name
    assert 0 < result.curves["majority"].accuracy[-1] < 1
    # at N=1 every rule picks the one sample it is given
    assert len({tuple(result.per_problem[name][0]) for name in result.rules}) == 1


def test_vectorised_choices_equal_pure_python_choices_with_ties() -> None:
    problems = random_problems(12, 8, seed=3)
    config = BonConfig(trials=25, seed=5, bootstrap=20)
    result = run_bon(problems, config)
    for name in result.rules:
        rule = SELECTION_RULES[name]
        for column, problem in enumerate(problems):
            features = rule.features(problem.group)
            orders = draw_orders(problem.problem_id, 8, config.trials, config.seed).tolist()
            for k, size in enumerate(result.ns):
                hits = [problem.group.correct[choose(features, order[:size])] for order in orders]
                assert result.per_problem[name][k, column] == pytest.approx(sum(hits) / len(hits)), (name, size)


def test_oracle_subset_accuracy_estimates_pass_at_k() -> None:
    result = run_bon(random_problems(30, 16, seed=1), BonConfig(trials=400, bootstrap=50, rules=("oracle",)))
    assert np.allclose(result.curves["oracle"].accuracy, result.curves["pass@k"].accuracy, atol=0.02)
    assert result.curves["pass@k"].accuracy[-1] == result.curves["oracle"].accuracy[-1]


def test_bootstrap_ci_contains_the_mean_and_shrinks_with_more_problems() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for problems in (20, 200, 2000):
        values = rng.random(problems) < 0.6
        low, high = bootstrap_ci(values, resamples=500)
        assert low <= values.mean() <= high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]


def test_result_curves_ci_breakdown_wrong_steps_and_skipped_rules() -> None:
    problems = random_problems(10, 8, seed=2)
    for problem in problems:
        for row in problem.group.samples:
            row.pop("orm_score")
    result = run_bon(problems, BonConfig(trials=30, bootstrap=200))
    assert "orm" not in result.rules and any("rule orm skipped" in note for note in result.notes)
    for curve in result.curves.values():
        assert all(lo <= a <= hi for a, lo, hi in zip(curve.accuracy, curve.low, curve.high, strict=True))
    assert set(result.breakdown) == {"subject", "level"}
    assert result.breakdown["level"]["1"]["problems"] == 4
    stats = result.wrong_step["oracle"]
    assert 0 < stats["share_of_correct"] < 1 and stats["labelled_share_of_correct"] == 1.0
    mean, low, high = result.difference("oracle", "first")
    assert low <= mean <= high and mean > 0


def test_wrong_step_count_when_the_prm_picks_a_flawed_correct_sample() -> None:
    rows = [sample("4", [0.9], "correct"), sample("4", [0.2], "correct"), sample("5", [0.1], "incorrect")]
    problem = BonProblem("p", Group(rows), step_ok=[False, True, None])
    result = run_bon([problem], BonConfig(trials=10, bootstrap=10, rules=("prm_min", "oracle")))
    assert result.wrong_step["prm_min"]["share_of_correct"] == 1.0
    assert result.wrong_step["prm_min"]["share_of_picks"] == 1.0


# --- the command end to end ---------------------------------------------------------------------------

def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _bon_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """6 synthetic problems x 4 samples: samples 0 and 2 right (2 through a wrong step), PRM scores high on them."""
    problems = [{"id": f"synth/arith/{i}", "problem": f"What is {i} + {i}?", "answer": str(2 * i),
                 "source": "synthetic", "level": 1 + i % 2, "subject": "arith"} for i in range(1, 7)]
    rows = []
    for i in range(1, 7):
        for j in range(4):
            right = j % 2 == 0
            wrong_step = j == 2  # a correct answer reached through a wrong step
            first = f"First, ${i} + {i} = {2 * i + 1 if wrong_step else 2 * i}$."
            value = 2 * i if right else 2 * i + 3
            rows.append({"problem_id": f"synth/arith/{i}", "sample_idx": j,
                         "text": f"{first}\n\nSo the answer is $\\boxed{{{value}}}$.",
                         "step_scores": [0.9 if right else 0.4, 0.8 if right else 0.3]})
    return write_jsonl(tmp_path / "samples.jsonl", rows), write_jsonl(tmp_path / "problems.jsonl", problems)


def test_prm_bon_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples, problem_file = _bon_inputs(tmp_path)
    out = tmp_path / "report"
    code = main(["bon", "--samples", str(samples), "--problems", str(problem_file), "--out-dir", str(out),
                 "--trials", "20", "--bootstrap", "100", "--write-verdicts"])
    assert code == 0
    assert {p.name for p in out.iterdir()} == {"bon.md", "bon.json", "bon.png", "bon_overoptimization.png"}
    data = json.loads((out / "bon.json").read_text())
    assert data["ns"] == [1, 2, 4] and data["problems"] == 6
    assert data["curves"]["prm_min"]["accuracy"][-1] == 1.0
    assert data["curves"]["first"]["accuracy"][0] == pytest.approx(0.5, abs=0.1)
    assert data["curves"]["pass@k"]["accuracy"][0] == pytest.approx(0.5)
    assert data["wrong_step_at_max_n"]["prm_min"]["share_of_correct"] == pytest.approx(0.5, abs=0.2)
    assert "| prm_min |" in (out / "bon.md").read_text() and "| prm_min |" in capsys.readouterr().out
    assert (out / "bon.png").read_bytes()[:4] == b"\x89PNG"
    written = [json.loads(line) for line in samples.read_text().splitlines()]
    assert [r["verdict"] for r in written[:4]] == ["correct", "incorrect", "correct", "incorrect"]


def test_prm_bon_prm800k_protocol(tmp_path: Path) -> None:
    samples, problem_file = _bon_inputs(tmp_path)
    out = tmp_path / "report"
    assert main(["bon", "--samples", str(samples), "--problems", str(problem_file), "--out-dir", str(out),
                 "--protocol", "prm800k", "--trials", "7", "--rules", "first", "--bootstrap", "50"]) == 0
    data = json.loads((out / "bon.json").read_text())
    assert data["config"]["trials"] == 400  # the protocol's, whatever --trials says
    assert set(data["curves"]) == {"pass@k", "first", "majority", "prm_min", "prm_product", "prm_last",
                                   "prm_vote_min", "prm_vote_product", "prm_vote_last", "oracle"}  # no ORM scores
    assert any("PRM800K protocol: 400 random subsets" in note for note in data["notes"])
    assert any("rule orm skipped" in note for note in data["notes"])


def test_prm_bon_reports_bad_input(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    samples = write_jsonl(tmp_path / "s.jsonl", [{"problem_id": "x", "sample_idx": 0, "text": "\\boxed{1}"}])
    assert main(["bon", "--samples", str(samples), "--out-dir", str(tmp_path / "o")]) == 2
    assert "no gold answer" in caplog.text


def test_eval_imports_without_torch() -> None:
    code = (
        "import sys, eval, eval.aggregate, eval.answers, eval.selection, eval.bon, eval.steps_eval, eval.inputs\n"
        "import eval.report, prm.commands.bon, prm.commands.eval_steps\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
