"""Binary-search (OmegaPRM) step labels with a real sampler interface: ``bisect_label`` and ``prm label --method
bisect``.

A scripted policy reaches the gold answer from a prefix exactly when the prefix stops before the solution's
planted first error, so the search must find every planted position, spend k rollouts per probe with at
most ceil(log2 steps) probes (one ``generate`` call per round for the whole chunk), and leave solutions
with a right answer all 1.0 at no cost. The command runs end to end on the tiny policy and resumes from its
journal.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_mc_labels import _problems

from data.labelling.binary_search import bisect_label, bisect_label_journalled, bisect_rows
from data.labelling.monte_carlo import MCItem
from data.records import StepwiseRow, read_records
from prm.sampling import Completion, SamplingConfig

STEPS = 5
PARAMS = SamplingConfig(temperature=1.0, max_tokens=30, seed=0)


class ScriptedPolicy:
    """Completions reach the gold answer iff the prompt's prefix has fewer steps than the planted first error."""

    def __init__(self, first_errors: dict[str, int]) -> None:
        self.first_errors = first_errors
        self.calls: list[int] = []
        self.prompts: list[str] = []

    def generate(self, prompts: list[str], n: int, params: SamplingConfig) -> list[list[Completion]]:
        self.calls.append(len(prompts))
        self.prompts += prompts
        out = []
        for prompt in prompts:
            problem, *steps = [part for part in prompt.split("\n\n") if part]
            good = len(steps) <= self.first_errors[problem]
            out.append([Completion("\\boxed{7}" if good else "\\boxed{8}", 3, "stop")] * n)
        return out


def items(first_errors: dict[str, int]) -> list[MCItem]:
    out = []
    for name, first in first_errors.items():
        answer = "7" if first >= STEPS else "9"
        steps = [f"step {i} of {name}" for i in range(STEPS - 1)] + [f"\\boxed{{{answer}}}"]
        out.append(MCItem(prompt=name + "\n\n", steps=steps, gold="7", problem=name))
    return out


@pytest.mark.parametrize("k", [1, 3])
def test_bisection_finds_each_planted_first_error(k: int) -> None:
    planted = {f"problem {first}": first for first in range(STEPS)} | {"solved": STEPS}
    policy = ScriptedPolicy(planted)
    results = bisect_label(policy, items(planted), k, PARAMS)
    for result in results:
        first = planted[result.item.problem]
        if first >= STEPS:
            assert result.first_error == -1 and result.rollouts == 0 and result.labels == [1.0] * STEPS
        else:
            assert result.first_error == first
            assert result.labels == [1.0] * first + [0.0] * (STEPS - first)
            assert 0 < result.rollouts <= k * math.ceil(math.log2(STEPS))
    assert len(policy.calls) <= math.ceil(math.log2(STEPS))  # one call per round for all solutions
    rows = bisect_rows(results)
    assert {row.extra["label_method"] for row in rows} == {"bisect"}


class Killed(RuntimeError):
    pass


def test_journal_resumes_after_a_kill_without_resampling(tmp_path: Path) -> None:
    planted = {f"problem {first}": first for first in range(STEPS)}
    whole = bisect_label(ScriptedPolicy(planted), items(planted), 2, PARAMS, chunk=2)
    dying = ScriptedPolicy(planted)
    original = dying.generate

    def die_in_second_chunk(prompts: list[str], n: int, params: SamplingConfig) -> list[list[Completion]]:
        if any(prompt.startswith("problem 2") for prompt in prompts):  # the second chunk holds items 2 and 3
            raise Killed
        return original(prompts, n, params)

    dying.generate = die_in_second_chunk
    journal = tmp_path / "journal.jsonl"
    with pytest.raises(Killed):
        bisect_label_journalled(dying, items(planted), 2, PARAMS, journal, settings={"k": 2}, chunk=2)
    assert len(journal.read_text().splitlines()) == 2
    fresh = ScriptedPolicy(planted)
    resumed = bisect_label_journalled(fresh, items(planted), 2, PARAMS, journal, settings={"k": 2}, chunk=2)
    assert [(r.first_error, r.rollouts) for r in resumed] == [(r.first_error, r.rollouts) for r in whole]
    assert not [p for p in fresh.prompts if p.startswith(("problem 0", "problem 1"))]  # journalled: not redone


def test_cli_label_bisect_end_to_end(tiny_policy: Path, tmp_path: Path) -> None:
    from prm.cli import main

    problems = _problems(tmp_path / "problems.jsonl")
    out = tmp_path / "bisect.jsonl"
    common = ["label", "--method", "bisect", "--problems", str(problems), "--model", str(tiny_policy), "--k", "2",
              "--backend", "hf", "--max-new-tokens", "30", "--temperature", "1.0", "--output", str(out)]
    assert main(common) == 0
    rows = list(read_records(out, StepwiseRow))
    assert [r.prompt for r in rows] == ["3+4", "1+1", "6+2"]
    by_prompt = {r.prompt: r for r in rows}
    for solved in ("3+4", "6+2"):  # right answers: all good, nothing rolled out
        assert by_prompt[solved].labels == [1.0] * len(by_prompt[solved].completions)
        assert by_prompt[solved].extra["rollouts"] == 0
    wrong = by_prompt["1+1"]
    assert wrong.labels[-1] == 0.0 and wrong.extra["rollouts"] in (2, 4)  # 3 steps: 1 or 2 probes of k=2
    assert not Path(f"{out}.partial.jsonl").exists()
    assert main(["label", "--method", "bisect", "--problems", str(problems), "--output", str(out)]) == 2  # no model
