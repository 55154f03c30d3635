"""Prompts and steps as published models expect them: a system prompt (the Qwen2.5-Math recipe), the step
segmentation `prm sample` writes, and `prm score` honouring the PRM's own segmentation over a row's steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prm.cli import main
from prm.commands.sample import to_records
from prm.prompts import CHAT_INSTRUCTION, QWEN_MATH_SYSTEM_PROMPT, build_prompt
from prm.sampling.base import Completion

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


class ChatTokenizer:
    """Just what build_prompt uses of a tokenizer with a chat template."""

    chat_template = CHAT_TEMPLATE

    def apply_chat_template(self, messages: list[dict], tokenize: bool, add_generation_prompt: bool) -> str:
        from jinja2 import Template

        return Template(CHAT_TEMPLATE).render(messages=messages, add_generation_prompt=add_generation_prompt)


@pytest.mark.parametrize(("tokenizer", "system", "expected"), [
    (None, None, "Problem: 1+1?\nSolution:\n"),
    (None, "Be brief.", "Be brief.\n\nProblem: 1+1?\nSolution:\n"),
    (ChatTokenizer(), None, f"<|user|>{CHAT_INSTRUCTION.format(problem='1+1?')}\n<|assistant|>"),
    (ChatTokenizer(), QWEN_MATH_SYSTEM_PROMPT, f"<|system|>{QWEN_MATH_SYSTEM_PROMPT}\n<|user|>1+1?\n<|assistant|>"),
])
def test_build_prompt_with_and_without_a_system_turn(tokenizer, system, expected) -> None:
    assert build_prompt("1+1?", tokenizer, system) == expected


def test_the_qwen_math_system_prompt_is_the_published_one() -> None:
    assert QWEN_MATH_SYSTEM_PROMPT == "Please reason step by step, and put your final answer within \\boxed{}."


def test_sample_records_say_how_their_steps_were_cut() -> None:
    completion = Completion("Step 1: a = 2\nStep 2: so \\boxed{2}", 9, "stop")
    from data.records import Problem

    problem = Problem("p", "?", "2", "t")
    (default,) = to_records(problem, [completion])
    (lines,) = to_records(problem, [completion], "newline")
    assert default["steps"] == [completion.text] and "segmentation" not in default
    assert lines["steps"] == ["Step 1: a = 2", "Step 2: so \\boxed{2}"] and lines["segmentation"] == "newline"


def test_an_unknown_segmentation_is_refused_before_sampling(caplog: pytest.LogCaptureFixture) -> None:
    assert main(["sample", "--model", "m", "--problems", "p", "--output", "o.jsonl", "--segmentation", "words"]) == 2
    assert "--segmentation 'words': choose from" in caplog.text


def test_prm_score_resplits_rows_cut_another_way(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from prm.model.tiny import save_tiny_backbone, save_tiny_prm

    texts = ["Problem: 2+3?\nSolution:\n2 + 3 = 5.\n\nSo \\boxed{5}."] * 8
    prm = save_tiny_prm(tmp_path / "prm", save_tiny_backbone(tmp_path / "backbone", texts))  # blank_line PRM
    text = "2 + 3 = 5.\nStill step one.\n\nSo \\boxed{5}."
    rows = [{"problem_id": "p", "sample_idx": 0, "problem": "2+3?", "text": text, "segmentation": "newline",
             "steps": ["2 + 3 = 5.", "Still step one.", "So \\boxed{5}."]},
            {"problem_id": "p", "sample_idx": 1, "problem": "2+3?", "text": text,
             "steps": ["2 + 3 = 5.\nStill step one.", "So \\boxed{5}."]}]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "scored.jsonl"
    assert main(["score", "--samples", str(samples), "--prm", str(prm), "--output", str(out), "--device", "cpu"]) == 0
    resplit, as_given = [json.loads(line)["step_scores"] for line in out.read_text().splitlines()]
    assert len(resplit) == 2 and resplit == pytest.approx(as_given, abs=1e-6)  # the PRM's blank-line steps
    assert "1 rows' steps were cut another way than the PRM's 'blank_line' segmentation" in caplog.text
