"""Label placement on step tags: table tests over plain id lists, truncation, soft labels, the outcome rule.

No model and no transformers: ``place_labels`` works on lists, ``encode_solution`` is exercised with a
character-level fake tokenizer.
"""

from __future__ import annotations

import pytest

from prm.model.tags import (
    IGNORE_INDEX,
    encode_solution,
    is_complete,
    outcome_labels,
    place_labels,
)

TAG = 99
X = float(IGNORE_INDEX)

PLACEMENT_TABLE = [
    # prompt, steps, labels, max_length -> input_ids, labels, tag positions
    ([1, 2], [[3], [4, 5]], [1.0, 0.0], None,
     [1, 2, 3, TAG, 4, 5, TAG], [X, X, X, 1.0, X, X, 0.0], [3, 6]),
    ([], [[3, 4]], [0.25], None,
     [3, 4, TAG], [X, X, 0.25], [2]),
    ([7], [[3], [4], [5]], [1.0, 1.0, 1.0], None,
     [7, 3, TAG, 4, TAG, 5, TAG], [X, X, 1.0, X, 1.0, X, 1.0], [2, 4, 6]),
    ([7], [[3], [4]], [None, 1.0], None,  # outcome RM: only the last tag is labelled
     [7, 3, TAG, 4, TAG], [X, X, X, X, 1.0], [2, 4]),
    ([7], [[3], [4]], None, None,  # scoring: tags, no labels
     [7, 3, TAG, 4, TAG], [X] * 5, [2, 4]),
    ([7], [[], [4]], [0.0, 1.0], None,  # an empty step still gets its tag
     [7, TAG, 4, TAG], [X, 0.0, X, 1.0], [1, 3]),
]


@pytest.mark.parametrize("prompt,steps,labels,max_length,ids,placed,positions", PLACEMENT_TABLE)
def test_label_placement_table(prompt, steps, labels, max_length, ids, placed, positions):
    seq = place_labels(prompt, steps, TAG, labels, max_length)
    assert seq.input_ids == ids
    assert seq.labels == placed
    assert seq.tag_positions == positions
    assert [seq.input_ids[p] for p in seq.tag_positions] == [TAG] * len(positions)
    assert seq.input_ids.count(TAG) == len(positions)
    assert not seq.truncated


TRUNCATION_TABLE = [
    # max_length -> steps kept (prompt 2 tokens; steps of 2, 3 and 1 tokens, each + 1 tag)
    (100, 3), (2 + 3 + 4 + 2, 3), (2 + 3 + 4 + 1, 2), (2 + 3 + 4, 2), (2 + 3 + 3, 1), (2 + 3, 1), (2 + 2, 0), (1, 0),
]


@pytest.mark.parametrize("max_length,kept", TRUNCATION_TABLE)
def test_truncation_keeps_whole_steps_with_their_labels(max_length, kept):
    labels = [1.0, 0.5, 0.0]
    seq = place_labels([1, 2], [[3, 4], [5, 6, 7], [8]], TAG, labels, max_length)
    assert len(seq.input_ids) <= max(max_length, 2) or kept == 0
    assert len(seq.tag_positions) == kept
    assert [label for label in seq.labels if label != IGNORE_INDEX] == labels[:kept]
    for position, label in zip(seq.tag_positions, labels, strict=False):
        assert seq.input_ids[position] == TAG and seq.labels[position] == label  # never a label without its tag
    assert seq.truncated == (kept < 3)
    if kept:
        assert seq.input_ids[-1] == TAG  # no partial step after the last kept tag


def test_long_solution_keeps_first_steps():
    steps = [[10 + i] * 5 for i in range(40)]
    labels = [1.0] * 30 + [0.0] * 10
    seq = place_labels([1] * 10, steps, TAG, labels, max_length=64)
    assert len(seq.tag_positions) == (64 - 10) // 6
    assert seq.num_labels == len(seq.tag_positions)
    assert all(seq.labels[p] == 1.0 for p in seq.tag_positions)


@pytest.mark.parametrize("soft", [0.4, 0.25, 0.999, 1e-3])
def test_soft_labels_stay_float(soft):
    seq = place_labels([1], [[2], [3]], TAG, [soft, 1], None)
    assert seq.labels[seq.tag_positions[0]] == soft
    assert isinstance(seq.labels[seq.tag_positions[0]], float)
    assert seq.labels[seq.tag_positions[1]] == 1.0 and isinstance(seq.labels[seq.tag_positions[1]], float)


def test_label_count_must_match_steps():
    with pytest.raises(ValueError, match="2 steps but 1 labels"):
        place_labels([1], [[2], [3]], TAG, [1.0])
    with pytest.raises(ValueError, match="1 steps but 2 labels"):
        place_labels([1], [[2]], TAG, [1.0, 0.0])


@pytest.mark.parametrize("bad", [1.5, -0.1, True, "1", float("nan")])
def test_bad_labels_are_refused(bad):
    with pytest.raises(ValueError, match="label 0"):
        place_labels([1], [[2]], TAG, [bad])


def test_tag_inside_text_is_refused():
    with pytest.raises(ValueError, match="step 1 already contains the step tag"):
        place_labels([1], [[2], [3, TAG]], TAG, [1.0, 1.0])
    with pytest.raises(ValueError, match="prompt already contains"):
        place_labels([TAG], [[2]], TAG, [1.0])


class CharTokenizer:
    """A character-level stand-in for a Hugging Face tokenizer: BOS (id 1) with special tokens."""

    chat_template = None

    def _encode(self, text: str, add_special_tokens: bool) -> list[int]:
        return ([1] if add_special_tokens else []) + [ord(c) for c in text]

    def __call__(self, text, add_special_tokens: bool = True):
        if isinstance(text, list):
            return {"input_ids": [self._encode(t, add_special_tokens) for t in text]}
        return {"input_ids": self._encode(text, add_special_tokens)}


def test_encode_solution_layout_and_prefix_property():
    tok, steps = CharTokenizer(), ["a=1", "b=2", "so \\boxed{3}"]
    full = encode_solution(tok, "P?", steps, tag_id=0, labels=[1.0, 0.5, 0.0])
    text = "".join(chr(i) if i > 1 else ("<s>" if i == 1 else "|") for i in full.input_ids)
    assert text == "<s>Problem: P?\nSolution:\na=1|\n\nb=2|\n\nso \\boxed{3}|"
    assert [full.labels[p] for p in full.tag_positions] == [1.0, 0.5, 0.0]
    for j in range(1, 4):  # the ids of the first j steps are a prefix of the full ids
        prefix = encode_solution(tok, "P?", steps[:j], tag_id=0)
        assert full.input_ids[: len(prefix.input_ids)] == prefix.input_ids
        assert prefix.tag_positions == full.tag_positions[:j]


def test_encode_solution_strips_literal_tags():
    tok = CharTokenizer()
    seq = encode_solution(tok, "P <tag>", ["x<tag>y"], tag_id=0, labels=[1.0], tag_token="<tag>")
    assert seq.input_ids.count(0) == 1 and seq.num_labels == 1
    assert "".join(chr(i) for i in seq.input_ids[1:-1]).endswith("xy")


OUTCOME_TABLE = [
    # step labels, complete -> outcome labels
    ([1.0, 1.0, 1.0], True, [None, None, 1.0]),
    ([1.0, 1.0, 1.0], False, [None, None, 0.0]),  # correct so far but no final answer
    ([1.0, 0.0], True, [None, 0.0]),
    ([1.0, 0.9], True, [None, 0.0]),  # soft labels below 1 are not "correct"
    ([1.0], True, [1.0]),
    ([], True, []),
]

# the verifier's final-answer check, when a row records it, is all an outcome RM sees
ANSWER_CORRECT_TABLE = [
    ([1.0, 0.0, 0.0], True, True, [None, None, 1.0]),  # right answer despite a wrong step
    ([1.0, 1.0], True, False, [None, 0.0]),
    ([1.0, 1.0], False, None, [None, 0.0]),  # unknown: falls back to the step-label rule
]


@pytest.mark.parametrize("labels,complete,expected", OUTCOME_TABLE)
def test_outcome_rule(labels, complete, expected):
    assert outcome_labels(labels, complete) == expected


@pytest.mark.parametrize("labels,complete,answer_correct,expected", ANSWER_CORRECT_TABLE)
def test_outcome_rule_prefers_the_answer_check(labels, complete, answer_correct, expected):
    assert outcome_labels(labels, complete, answer_correct) == expected


def test_is_complete():
    assert is_complete(["x", "so \\boxed{4}"])
    assert not is_complete(["\\boxed{4}", "and then"])
    assert not is_complete([])
    assert is_complete(["no box"], {"complete": True})
    assert not is_complete(["\\boxed{1}"], {"complete": False})
