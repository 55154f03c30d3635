"""Best-of-N overoptimization view: KL_bon, the proxy score of the pick, the flag, the report section and plot."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from eval.bon import BonConfig, BonProblem, draw_orders, run_bon
from eval.bon_monitor import bon_overoptimization, kl_bon
from eval.report import write_bon_report
from eval.selection import SELECTION_RULES, Group, choose


@pytest.mark.parametrize(("n", "expected"), [(1, 0.0), (2, math.log(2) - 0.5), (16, math.log(16) - 15 / 16)])
def test_kl_bon(n: int, expected: float) -> None:
    assert kl_bon(n) == pytest.approx(expected)
    with pytest.raises(ValueError, match="N must be"):
        kl_bon(0)


def problems(count: int, reward_likes_wrong: bool, n: int = 8, seed: int = 0) -> list[BonProblem]:
    """Half the samples correct; the reward model scores the wrong (or the right) ones higher, with noise."""
    rng = random.Random(seed)
    out = []
    for p in range(count):
        rows = []
        for i in range(n):
            correct = i % 2 == 0
            favoured = correct != reward_likes_wrong
            score = (0.6 if favoured else 0.2) + 0.3 * rng.random()
            rows.append({"problem_id": f"q{p}", "sample_idx": i, "text": "", "answer": "4" if correct else "5",
                         "step_scores": [score], "orm_score": score, "verdict": "correct" if correct else "incorrect"})
        out.append(BonProblem(f"q{p}", Group(rows)))
    return out


def test_a_reward_model_that_prefers_wrong_answers_is_flagged_and_a_good_one_is_not() -> None:
    bad = bon_overoptimization(run_bon(problems(40, reward_likes_wrong=True), BonConfig(trials=50, bootstrap=200)))
    assert {v.rule for v in bad} == {"orm", "prm_min", "prm_product", "prm_last", "prm_mean"}
    for view in bad:
        assert view.flagged, view.rule
        assert view.best_n == 1 and view.gold[0] == pytest.approx(0.5, abs=0.05) and view.gold[-1] == 0.0
        assert view.proxy[-1] > view.proxy[0] and view.drop[2] < 0
        assert view.sqrt_kl == pytest.approx([math.sqrt(kl_bon(n)) for n in view.ns])
    good = bon_overoptimization(run_bon(problems(40, reward_likes_wrong=False), BonConfig(trials=50, bootstrap=200)))
    assert not any(v.flagged for v in good)
    assert all(v.best_n == 8 and v.gold[-1] == 1.0 and v.proxy[-1] > v.proxy[0] for v in good)


def test_proxy_of_the_pick_equals_the_mean_score_of_pure_python_choices() -> None:
    rng = random.Random(4)
    items = problems(6, reward_likes_wrong=True, seed=2)
    for problem in items:  # some samples without scores: the mean is over scored picks only
        for row in problem.group.samples:
            if rng.random() < 0.3:
                row["step_scores"] = []
    config = BonConfig(trials=30, seed=3, bootstrap=20, rules=("prm_min", "majority"))
    result = run_bon(items, config)
    assert set(result.proxy) == {"prm_min"}  # voting rules have no proxy
    rule = SELECTION_RULES["prm_min"]
    for k, size in enumerate(result.ns):
        per_problem = []
        for problem in items:
            features, scores = rule.features(problem.group), problem.group.aggregated("min")
            picks = [scores[choose(features, order[:size])]
                     for order in draw_orders(problem.problem_id, 8, config.trials, config.seed).tolist()]
            picks = [s for s in picks if not math.isnan(s)]
            if picks:
                per_problem.append(sum(picks) / len(picks))
        assert result.proxy["prm_min"][k] == pytest.approx(float(np.mean(per_problem))), size


def test_report_writes_the_section_plot_and_json(tmp_path, caplog) -> None:
    result = run_bon(problems(30, reward_likes_wrong=True), BonConfig(trials=20, bootstrap=100))
    with caplog.at_level("WARNING", logger="eval.bon_monitor"):
        paths = write_bon_report(result, tmp_path)
    assert sum("best-of-N overoptimization: prm_min" in r.getMessage() for r in caplog.records) == 1
    text = paths["markdown"].read_text()
    assert "## Overoptimization (best-of-N" in text and "| prm_min |" in text and "**yes**" in text
    assert paths["overoptimization_plot"].stat().st_size > 10_000
    data = json.loads(paths["json"].read_text())
    assert {v["rule"] for v in data["overoptimization"]} >= {"prm_min", "orm"}
    assert all(v["flagged"] for v in data["overoptimization"])
    assert len(data["proxy_of_pick"]["prm_min"]) == len(data["ns"])
