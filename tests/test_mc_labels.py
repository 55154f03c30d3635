"""Monte-Carlo step labels (``data.labelling``) and ``prm label --method mc``, with the tiny in-process policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data.labelling.consensus import agreement, consensus_filter
from data.labelling.exact import LabelResult
from data.labelling.monte_carlo import MCItem, first_error, mc_label, mc_rows, prefix_texts
from data.records import StepwiseRow, read_records
from prm.prompts import build_prompt
from prm.sampling import SamplingConfig, make_sampler
from prm.sampling.base import Completion
from verifiers import verify

PARAMS = SamplingConfig(temperature=1.0, max_tokens=30, seed=0)


def _steps(a: int, b: int, c: int | None = None) -> list[str]:
    c = a + b if c is None else c
    return [f"add {a} {b}", f"get {c}", f"\\boxed{{{c}}}"]


def _item(a: int, b: int, c: int | None = None) -> MCItem:
    return MCItem(prompt=build_prompt(f"{a}+{b}"), steps=_steps(a, b, c), gold=str(a + b), problem=f"{a}+{b}")


@pytest.fixture(scope="module")
def hf(tiny_policy: Path):
    from prm.runtime import torch_threads

    with torch_threads(1), make_sampler("hf", str(tiny_policy), batch_size=64, device="cpu") as sampler:
        yield sampler


def test_prefix_texts() -> None:
    assert prefix_texts(["a", "b", "c"]) == ["a", "a\n\nb", "a\n\nb\n\nc"]


def test_shapes_one_call_per_chunk_and_labels(hf) -> None:
    items = [_item(3, 4), _item(1, 1, 5), _item(6, 2)]
    calls: list[tuple[int, int]] = []
    completions: dict[str, list[str]] = {}  # rollout prompt -> its K completions
    generate = hf.generate

    def spy(prompts, n, params):
        calls.append((len(prompts), n))
        groups = generate(prompts, n, params)
        assert [len(g) for g in groups] == [n] * len(prompts)  # K completions per prefix
        completions.update({prompt: [c.text for c in group] for prompt, group in zip(prompts, groups, strict=True)})
        return groups

    hf.generate = spy
    try:
        results = mc_label(hf, items, 3, PARAMS, chunk=2)
    finally:
        hf.generate = generate
    assert calls == [(4, 3), (2, 3)]  # all proper prefixes of a chunk of samples in one call
    assert len(results) == 3
    for item, result in zip(items, results, strict=True):
        assert len(result.correct) == 3 and result.k == 3
        prefixes = prefix_texts(item.steps)[:-1]
        rolled = [completions[item.prompt + prefix + "\n\n"] for prefix in prefixes]
        assert result.correct[:-1] == [sum(verify(item.gold, prefix + "\n\n" + text).is_equal for text in texts)
                                       for prefix, texts in zip(prefixes, rolled, strict=True)]
        assert result.soft == [c / 3 for c in result.correct]
        assert result.hard == [1.0 if s > 0 else 0.0 for s in result.soft]
    # the whole solution is judged by its own answer, not rolled out
    assert results[0].soft[-1] == 1.0 and results[2].soft[-1] == 1.0 and results[1].soft[-1] == 0.0
    rows = mc_rows(results, "soft")
    assert [len(r.labels) for r in rows] == [3, 3, 3]
    assert rows[0].extra["hard_labels"] == results[0].hard and rows[0].labels == results[0].soft
    hard_rows = mc_rows(results, "hard")
    assert hard_rows[1].labels == results[1].hard and hard_rows[1].extra["soft_labels"] == results[1].soft
    assert hard_rows[1].extra["first_error"] == first_error(results[1].hard)


class ScriptedSampler:
    """A policy whose completions of each rollout prompt are written out in advance, so counts are known."""

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script = script
        self.calls: list[list[str]] = []

    def generate(self, prompts: list[str], n: int, params: object) -> list[list[Completion]]:
        self.calls.append(prompts)
        assert all(len(self.script[prompt]) == n for prompt in prompts)
        return [[Completion(text, 1, "stop") for text in self.script[prompt]] for prompt in prompts]


def test_monte_carlo_counts_of_every_step_from_scripted_rollouts() -> None:
    items = [_item(3, 4), _item(1, 1, 5), _item(6, 2)]
    rollouts = {  # per item, per proper prefix: K = 3 completions (prefix + completion is what gets verified)
        0: [["get 7\n\n\\boxed{7}", "get 8\n\n\\boxed{8}", "\\boxed{7}"], ["\\boxed{7}", "\\boxed{6}", "\\boxed{9}"]],
        1: [["get 2\n\n\\boxed{2}", "\\boxed{2}", "\\boxed{2}"], ["\\boxed{5}", "\\boxed{5}", "\\boxed{5}"]],
        2: [["\\boxed{1}", "\\boxed{8}", "get 8\n\n\\boxed{8}"], ["\\boxed{8}", "\\boxed{8}", "\\boxed{8}"]],
    }
    script = {items[i].prompt + prefix + "\n\n": texts
              for i, groups in rollouts.items()
              for prefix, texts in zip(prefix_texts(items[i].steps)[:-1], groups, strict=True)}
    sampler = ScriptedSampler(script)
    results = mc_label(sampler, items, 3, PARAMS, chunk=2)
    assert [len(prompts) for prompts in sampler.calls] == [4, 2]
    # steps before the last: completions reaching the gold; the last: the solution's own answer, for all K
    assert [r.correct for r in results] == [[2, 1, 3], [3, 0, 0], [2, 3, 3]]
    assert results[0].soft == [2 / 3, 1 / 3, 1.0] and results[1].hard == [1.0, 0.0, 0.0]
    assert [r.first_error for r in results] == [-1, 1, -1]


def test_mc_label_rejects_bad_input(hf) -> None:
    with pytest.raises(ValueError):
        mc_label(hf, [_item(1, 2)], 0, PARAMS)
    with pytest.raises(ValueError):
        mc_label(hf, [MCItem(prompt="p", steps=[], gold="1")], 2, PARAMS)


def _row(hard: list[float], label: str = "hard") -> StepwiseRow:
    soft = [x / 2 for x in hard]
    labels, other = (hard, soft) if label == "hard" else (soft, hard)
    key = "soft_labels" if label == "hard" else "hard_labels"
    return StepwiseRow(prompt="p", completions=[f"s{i}" for i in range(len(hard))], labels=labels,
                       extra={"mc_label": label, key: other})


def test_first_error() -> None:
    assert first_error([1.0, 1.0]) == -1
    assert first_error([1.0, 0.0, 1.0]) == 1
    assert first_error([0.0, 1.0]) == 0
    assert first_error([]) == -1


def test_consensus_filter_is_pure_and_counts_drops() -> None:
    rows = [_row([1.0, 1.0, 1.0]), _row([1.0, 0.0, 0.0], "soft"), _row([1.0, 0.0, 0.0]), _row([0.0])]
    kept, dropped = consensus_filter(rows, [-1, 1, 2, None])
    assert kept == rows[:2]
    assert dropped == {"consensus: first errors differ": 1, "consensus: other labeller could not judge": 1}
    with pytest.raises(ValueError):
        consensus_filter(rows, [-1])


def test_agreement_on_hand_built_rows() -> None:
    rows = [_row([1.0, 1.0, 1.0]), _row([1.0, 0.0, 0.0], "soft"), _row([1.0, 1.0])]
    exact = [
        LabelResult(["a", "b", "c"], [1.0, 1.0, 1.0], -1),  # 3 steps agree, first error agrees
        LabelResult(["a", "b"], [1.0, 0.0], 1),  # truncated (drop): 2 steps compared, both agree
        LabelResult(["a", "b"], [0.0, 0.0], 0),  # 0 of 2 steps agree, first error differs
    ]
    result = agreement(rows, [r.labels for r in exact])
    assert result["rows"] == 3 and result["steps"] == 7
    assert result["step_agreement"] == pytest.approx(5 / 7)
    assert result["first_error_agreement"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        agreement(rows, [exact[0].labels])


def _problems(path: Path) -> Path:
    rows = [
        {"id": "p0", "problem": "3+4", "answer": "7", "source": "test", "solution": "add 3 4\n\nget 7\n\n\\boxed{7}"},
        {"id": "p1", "problem": "1+1", "answer": "2", "source": "test", "solution": "add 1 1\n\nget 5\n\n\\boxed{5}"},
        {"id": "p2", "problem": "6+2", "answer": "8", "source": "test", "solution": "add 6 2\n\nget 8\n\n\\boxed{8}"},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_cli_label_mc_end_to_end(tiny_policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from prm.cli import main

    problems = _problems(tmp_path / "problems.jsonl")
    out = tmp_path / "mc.jsonl"
    common = ["label", "--method", "mc", "--problems", str(problems), "--model", str(tiny_policy), "--k", "2",
              "--backend", "hf", "--max-new-tokens", "30", "--temperature", "1.0"]
    assert main([*common, "--output", str(out)]) == 0
    rows = list(read_records(out, StepwiseRow))
    assert len(rows) == 3 and [r.prompt for r in rows] == ["3+4", "1+1", "6+2"]
    for row in rows:
        assert len(row.labels) == len(row.completions) == 3
        assert all(x in (0.0, 0.5, 1.0) for x in row.labels)  # soft labels with K=2
        assert row.extra["hard_labels"] == [1.0 if x > 0 else 0.0 for x in row.labels]
        assert row.extra["label_method"] == "mc" and row.extra["mc_k"] == 2
    assert [r.labels[-1] for r in rows] == [1.0, 0.0, 1.0]
    hard = tmp_path / "hard.jsonl"
    assert main([*common, "--output", str(hard), "--mc-label", "hard", "--consensus", "exact"]) == 0
    kept = list(read_records(hard, StepwiseRow))
    assert len(kept) <= 3 and all(set(r.labels) <= {0.0, 1.0} for r in kept)
    assert "skipped" in capsys.readouterr().out or len(kept) == 3
    assert main(["label", "--method", "mc", "--problems", str(problems), "--output", str(hard)]) == 2  # no --model
