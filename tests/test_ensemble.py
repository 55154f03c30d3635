"""Reward-model ensembles (``--prm ensemble``): members' step scores combined by mean, min or mean - k*std."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from prm.cli import main
from prm.model.ensemble import EnsembleScorer, combine
from prm.model.formats import load_scorer


@pytest.mark.parametrize(("values", "aggregate", "k", "expected"), [
    ([0.2, 0.6], "mean", 1.0, 0.4),
    ([0.2, 0.6], "min", 1.0, 0.2),
    ([0.2, 0.6], "mean_minus_std", 1.0, 0.2),  # std 0.2
    ([0.2, 0.6], "mean_minus_std", 0.5, 0.3),
    ([0.5, 0.5, 0.5], "mean_minus_std", 2.0, 0.5),  # agreement costs nothing
    ([0.9, None], "mean", 1.0, 0.9),  # a member past its length limit is left out
    ([None, None], "min", 1.0, None),
])
def test_combine(values: list, aggregate: str, k: float, expected: float | None) -> None:
    got = combine(values, aggregate, k)
    assert got == (None if expected is None else pytest.approx(expected))


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    from prm.model.tiny import save_tiny_backbone, save_tiny_prm

    root = tmp_path_factory.mktemp("ensemble")
    backbone = save_tiny_backbone(root / "backbone", ["Problem: 2+3?\nSolution:\n2 + 3 = 5.\n\nSo 5."] * 8)
    return [str(save_tiny_prm(root / f"prm-{seed}", backbone, head_std=1.0, seed=seed)) for seed in (0, 1)]


ITEMS = [("What is 2+3?", ["2 + 3 = 5.", "5 * 2 = 11.", "So 11."]), ("What is 1+1?", "1 + 1 = 2.\n\nSo 2.")]


@pytest.mark.parametrize("aggregate", ["mean", "min", "mean_minus_std"])
def test_an_ensemble_combines_its_members_step_by_step(members: list[str], aggregate: str) -> None:
    spec = "+".join([*members, "step_checker"])  # members of different formats
    ensemble = load_scorer("ensemble", device="cpu", members=spec, aggregate=aggregate, k="0.5")
    assert isinstance(ensemble, EnsembleScorer) and len(ensemble.members) == 3
    alone = [load_scorer(m, device="cpu").score_batch(ITEMS) for m in spec.split("+")]
    got = ensemble.score_batch(ITEMS)
    assert [len(s) for s in got] == [3, 2]
    for i, scores in enumerate(got):
        for j, score in enumerate(scores):
            values = [member[i][j] for member in alone]
            mean = sum(values) / 3
            expected = {"mean": mean, "min": min(values),
                        "mean_minus_std": mean - 0.5 * math.sqrt(sum((v - mean) ** 2 for v in values) / 3)}
            assert score == pytest.approx(expected[aggregate], abs=1e-6)
    assert got[0][1] <= max(alone[0][1][1], alone[1][0][1])  # the checker's 0 for "5 * 2 = 11" pulls it down


def test_prm_score_with_an_ensemble(tmp_path: Path, members: list[str]) -> None:
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"problem_id": "p", "sample_idx": 0, "problem": "What is 2+3?",
                                   "text": "2 + 3 = 5.\n\nSo 5."}) + "\n")
    out = tmp_path / "scored.jsonl"
    assert main(["score", "--samples", str(samples), "--prm", "ensemble", "--prm-options",
                 f"members={members[0]}+{members[1]},aggregate=min", "--device", "cpu", "--output", str(out)]) == 0
    scores = json.loads(out.read_text())["step_scores"]
    each = [load_scorer(m, device="cpu").score("What is 2+3?", "2 + 3 = 5.\n\nSo 5.") for m in members]
    assert scores == pytest.approx([min(a, b) for a, b in zip(*each, strict=True)], abs=1e-6)


@pytest.mark.parametrize(("options", "message"), [
    ({"members": "runs/only-one"}, "at least two"),
    ({"members": "a+b", "aggregate": "median"}, "aggregate 'median': choose from mean, min, mean_minus_std"),
    ({"members": "a+b", "k": "x"}, "k='x' is not a number"),
])
def test_bad_ensembles_fail_before_loading(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_scorer("ensemble", device="cpu", **options)
