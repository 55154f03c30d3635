"""The one prompt template shared by policy training, sampling and scoring.

A tokenizer without a chat template (the offline default policy's, built in-process) gets a plain
text prompt; one with a chat template (an instruct model from the hub) gets its own template with a
single user turn, asking for step-by-step reasoning and a boxed answer::

    from prm.prompts import build_prompt
    build_prompt("What is $2 + 3$?")          # 'Problem: What is $2 + 3$?\\nSolution:\\n'
    build_prompt("What is $2 + 3$?", tokenizer)  # the model's chat template, generation prompt added

Training appends the reference solution and the end-of-sequence token to exactly this text, so a
sampler that sends this prompt sees the distribution the policy was trained on. Imports without torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["PLAIN_TEMPLATE", "CHAT_INSTRUCTION", "QWEN_MATH_SYSTEM_PROMPT", "build_prompt", "has_chat_template",
           "problem_from_prompt"]

PLAIN_TEMPLATE = "Problem: {problem}\nSolution:\n"
CHAT_INSTRUCTION = "{problem}\n\nPlease reason step by step, separate steps with blank lines, and put your final " \
                   "answer within \\boxed{{}}."
# The system turn of the Qwen2.5-Math(-Instruct) recipe and of Qwen2.5-Math-PRM's scoring prompt.
QWEN_MATH_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."


def has_chat_template(tokenizer: Any | None) -> bool:
    """Whether ``tokenizer`` (any Hugging Face tokenizer, or None) carries a chat template."""
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))


def build_prompt(problem_text: str, tokenizer: Any | None = None, system_prompt: str | None = None) -> str:
    """The prompt for ``problem_text``: the tokenizer's chat template when it has one, else plain text.

    The returned string is what the policy continues; its completion is the solution (blank-line
    separated steps, the answer in ``\\boxed{}``) followed by the end-of-sequence token. With a
    ``system_prompt`` (e.g. :data:`QWEN_MATH_SYSTEM_PROMPT`, the Qwen2.5-Math recipe) the instruction is the
    system turn and the user turn is the problem alone, as published instruct models were trained; a plain
    prompt then starts with it.
    """
    if not has_chat_template(tokenizer):
        plain = PLAIN_TEMPLATE.format(problem=problem_text)
        return f"{system_prompt}\n\n{plain}" if system_prompt else plain
    if system_prompt:
        messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": problem_text}]
    else:
        messages = [{"role": "user", "content": CHAT_INSTRUCTION.format(problem=problem_text)}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _strip_template(text: str, template: str) -> str:
    head, _, tail = template.partition("{problem}")
    head, tail = head.replace("{{", "{").replace("}}", "}"), tail.replace("{{", "{").replace("}}", "}")
    if text.startswith(head) and text.endswith(tail) and len(text) >= len(head) + len(tail):
        return text[len(head): len(text) - len(tail)]
    return text


def problem_from_prompt(prompt: Any) -> str:
    """The problem text in a prompt: a plain string (the plain template removed) or a conversation (the last
    user turn, the step-by-step instruction removed); the inverse of :func:`build_prompt` for reward functions
    that are handed prompts only."""
    if isinstance(prompt, str):
        return _strip_template(prompt, PLAIN_TEMPLATE).strip()
    if isinstance(prompt, Sequence):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return _strip_template(str(users[-1].get("content", "")), CHAT_INSTRUCTION).strip()
    raise ValueError(f"cannot read a problem from prompt {prompt!r}: expected a string or a list of messages")
