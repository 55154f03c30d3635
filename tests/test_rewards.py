"""The answer reward with TRL's reward-function contract."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from verifiers import answer_reward


def test_scores_strings_and_conversations() -> None:
    completions = [
        "so the answer is \\boxed{\\frac{1}{2}}",
        [{"role": "assistant", "content": "The answer is 3."}],
        "no answer here, just rambling " * 30,
    ]
    assert answer_reward(["p1", "p2", "p3"], completions, answer=["0.5", "4", "1"]) == [1.0, 0.0, 0.0]


def test_unparsable_gold_gives_none_not_zero() -> None:
    assert answer_reward(None, ["\\boxed{1}", "\\boxed{1}"], answer=["", "(1,2"]) == [None, None]


def test_extra_dataset_columns_are_accepted() -> None:
    rewards = answer_reward(["p"], ["\\boxed{x^2+2x+1}"], answer=["(x+1)^2"], completion_ids=[[1, 2]], level=[3])
    assert rewards == [1.0]


def test_thread_safe_like_trl_calls_it() -> None:
    batch = (["\\boxed{2\\sqrt2}", "\\boxed{3}"], ["\\sqrt{8}", "4"])
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: answer_reward(None, *batch), range(8)))
    assert results == [[1.0, 0.0]] * 8


def test_length_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="2 completions but 1 answers"):
        answer_reward(None, ["a", "b"], answer=["1"])
