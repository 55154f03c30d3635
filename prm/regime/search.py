"""Search on the regime task with the project's own search code: beam search vs best-of-N, per verifier.

The strategies of :data:`prm.search.SEARCH_STRATEGIES` run unchanged; the regime task plugs in through the
two interfaces they use:

- :class:`RegimePolicy` is a :class:`prm.sampling.base.Sampler` whose "model" is the task's policy
  (:func:`data.regime.task.continue_solution`): it parses the prompt (problem text + the steps so far) and
  writes one more line (``stop_at_step_end``) or the rest of the solution, with the step separator as the
  stop reason while the solution can go on and none once it has ended (a fix may still follow a wrong last
  line, in which case the next call writes the fix or ends with an empty step). A "token" is a word.
- :class:`RegimeScorer` scores (problem, steps) with a trained regime verifier.

:func:`search_accuracy` runs best-of-N and beam search (width M=4) at each n for one verifier and returns,
per strategy and n, the accuracy of the top solution (answer and process-correct) and the words generated
per problem.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from data.regime.task import (
    Knobs,
    Line,
    Problem,
    answer_correct,
    continue_solution,
    is_wrong,
    parse_step,
    process_correct,
    render,
)
from prm.sampling.base import Completion, Sampler, SamplingConfig
from prm.search.expand import SearchContext, SearchProblem
from prm.search.strategies import SEARCH_STRATEGIES
from prm.search.tree import SearchSettings

__all__ = ["RegimePolicy", "RegimeScorer", "search_accuracy"]

BEAM_WIDTH = 4


class _WordTokenizer:
    """Counts words; the search only needs lengths (its budgets are far above what a solution writes)."""

    bos_token = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": [0] * len(text.split())}

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        raise NotImplementedError("the regime policy's completions are never cut")


class RegimePolicy(Sampler):
    """The regime task's policy behind the sampler interface (seeded once, like the vLLM backend)."""

    backend = "regime"
    precision = "exact"

    def __init__(self, problems: Sequence[Problem], knobs: Knobs, seed: int) -> None:
        self.tokenizer = _WordTokenizer()
        self.knobs = knobs
        self.rng = random.Random(seed)
        self.by_prompt = {prompt_of(problem, knobs): problem for problem in problems}

    def _state(self, prompt: str) -> tuple[Problem, list[Line]]:
        head, _, rest = prompt.partition("\n\n")
        problem = self.by_prompt[head + "\n\n"]
        return problem, [parse_step(step) for step in rest.split("\n\n") if step.strip()]

    def _can_go_on(self, problem: Problem, lines: list[Line]) -> bool:
        if sum(line.kind == 0 for line in lines) < self.knobs.depth:
            return True
        last = lines[-1]
        return last.kind == 0 and is_wrong(last, self.knobs.modulus) and self.knobs.self_correction_rate > 0

    def _one(self, prompt: str, params: SamplingConfig) -> Completion:
        problem, lines = self._state(prompt)
        written = continue_solution(problem, self.knobs, lines, self.rng,
                                    max_lines=1 if params.stop_at_step_end else None)[len(lines):]
        if not written:  # the policy ends the solution: the end-of-sequence token
            return Completion("", 1, "stop", None)
        text = "\n\n".join(render(problem, written, self.knobs)[1])
        words = len(text.split())
        going_on = params.stop_at_step_end and self._can_go_on(problem, lines + written)
        return Completion(text, words, "stop", params.step_separator if going_on else None)

    def generate(self, prompts: list[str], n: int, params: SamplingConfig) -> list[list[Completion]]:
        return [[self._one(prompt, params) for _ in range(n)] for prompt in prompts]


class RegimeScorer:
    """A trained regime verifier as a search scorer: P(prefix right) after every step."""

    format = "regime"
    tokenizer = None

    def __init__(self, model: Any) -> None:
        self.model = model

    def score_batch(self, items: Sequence[tuple[str, Sequence[str]]], batch_size: int | None = None
                    ) -> list[list[float]]:
        from prm.regime.verifier import score_lines

        return score_lines(self.model, [[parse_step(step) for step in steps] for _, steps in items])


def prompt_of(problem: Problem, knobs: Knobs) -> str:
    return render(problem, [], knobs)[0] + "\n\n"


def search_accuracy(model: Any, problems: Sequence[Problem], knobs: Knobs, ns: Sequence[int], aggregation: str,
                    seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """{strategy: {n: {"answer", "process", "words"}}} for best-of-N and beam search guided by ``model``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    search_problems = [SearchProblem(str(i), render(p, [], knobs)[0], prompt_of(p, knobs))
                       for i, p in enumerate(problems)]
    for strategy in ("best_of_n", "beam"):
        out[strategy] = {}
        for n in ns:
            settings = SearchSettings(n=n, beam_width=min(BEAM_WIDTH, n), max_iterations=2 * knobs.depth + 1,
                                      aggregation=aggregation, temperature=1.0, max_new_tokens=100_000,
                                      max_step_tokens=1_000)
            ctx = SearchContext(search_problems, RegimePolicy(problems, knobs, seed), RegimeScorer(model), settings,
                                seed=seed)
            solutions = SEARCH_STRATEGIES[strategy](ctx)
            right = clean = 0
            for problem, found in zip(problems, solutions, strict=True):
                lines = [parse_step(step) for step in found[0].steps] if found else []
                right += answer_correct(problem, lines, knobs)
                clean += answer_correct(problem, lines, knobs) and process_correct(lines, knobs.modulus)
            words = sum(spent.generated_tokens for spent in ctx.compute) / len(problems)
            out[strategy][str(n)] = {"answer": right / len(problems), "process": clean / len(problems),
                                     "words": words}
    return out
