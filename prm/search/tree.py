"""The state of a PRM-guided search: partial solutions, the subtrees that hold them, and what they cost.

- :class:`SearchSettings` is how a strategy searches (``n``, beam width, iterations, aggregation, lookahead,
  sampling), shared by every strategy and by ``prm search``'s config;
- :class:`Path` is one partial or finished solution: its steps so far, the tokens that wrote them, and the
  step scores the PRM gave it the last time it was scored;
- :class:`Subtree` is what a strategy keeps between iterations: the paths it will expand, the solutions that
  have left it finished, and how many candidates it draws per iteration. Best-of-N is one subtree that
  draws ``n`` full solutions at once; beam search one subtree per problem keeping ``n / beam_width`` paths;
  DVTS ``n / beam_width`` subtrees per problem, each keeping its own best path;
- :class:`Compute` counts what a problem's search spent (tokens generated, prefix tokens re-read, PRM
  tokens and calls, seconds). No torch at import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from data.segment import STEP_SEPARATOR
from eval.aggregate import AGGREGATIONS, solution_score

__all__ = ["Compute", "Path", "SearchSettings", "Subtree"]


@dataclass(frozen=True)
class SearchSettings:
    """How to search; the same meaning for every strategy (``prm search --help`` says each)."""

    n: int = 16
    beam_width: int = 4
    max_iterations: int = 40
    aggregation: str = "last"
    lookahead: int = 0
    temperature: float = 0.8
    top_p: float = 1.0
    max_new_tokens: int = 512
    max_step_tokens: int = 256
    step_separator: str = STEP_SEPARATOR

    def __post_init__(self) -> None:
        if self.n < 1 or self.beam_width < 1 or self.max_iterations < 1:
            raise ValueError(f"n, beam_width and max_iterations must be >= 1, got {self.n}, {self.beam_width}, "
                             f"{self.max_iterations}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}; known: {', '.join(AGGREGATIONS)}")
        if self.lookahead < 0 or self.max_new_tokens < 1 or self.max_step_tokens < 1:
            raise ValueError("lookahead must be >= 0, max_new_tokens and max_step_tokens >= 1")

    def check_beams(self) -> None:
        """Beam search and DVTS split ``n`` into groups of ``beam_width``: it must divide ``n``."""
        if self.n % self.beam_width:
            raise ValueError(f"n ({self.n}) must be a multiple of beam_width ({self.beam_width}) for beam and dvts")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Path:
    """A partial (or finished) solution of problem ``problem``: steps so far and what they cost."""

    problem: int
    steps: tuple[str, ...] = ()
    num_tokens: int = 0  # generated tokens along this path (its own steps only, not pruned siblings)
    finished: bool = False
    finish_reason: str | None = None  # "stop" (end of sequence or an answer), "length", "iterations"
    step_scores: list[float | None] = field(default_factory=list)
    iteration: int = 0  # the iteration that wrote its last step

    def score(self, aggregation: str) -> float | None:
        """The path's score: its step scores aggregated (None when no step was scored)."""
        return solution_score(self.step_scores, aggregation)

    def text(self, separator: str = STEP_SEPARATOR) -> str:
        return separator.join(self.steps)

    def prefix_text(self, separator: str = STEP_SEPARATOR) -> str:
        """What the policy continues after the prompt: the steps so far, each followed by the separator."""
        return "".join(step + separator for step in self.steps)

    def extend(self, steps: Sequence[str], tokens: int, iteration: int) -> Path:
        """This path with ``steps`` appended (empty ones add nothing) and ``tokens`` more generated."""
        kept = tuple(step for step in steps if step.strip())
        return Path(self.problem, self.steps + kept, self.num_tokens + tokens, iteration=iteration)


@dataclass
class Subtree:
    """Paths a strategy keeps for one problem (beam, best-of-N) or one of its subtrees (DVTS)."""

    problem: int
    width: int  # candidates drawn per iteration
    keep: int  # paths kept per iteration
    frontier: list[Path] = field(default_factory=list)
    finished: list[Path] = field(default_factory=list)
    done: bool = False

    def expansions(self) -> list[Path]:
        """The paths to expand this iteration: ``width`` in all, the kept paths in turn (the first ones get
        one more when ``width`` is not a multiple of their number)."""
        if not self.frontier:
            return []
        return [self.frontier[i % len(self.frontier)] for i in range(self.width)]


@dataclass
class Compute:
    """What one problem's search spent; ``flops`` fills the estimates once parameter counts are known."""

    generated_tokens: int = 0  # every token the policy wrote (pruned candidates and lookahead included)
    prefix_tokens: int = 0  # prompt and prefix tokens of every generate request (re-read, prefix-cached by vLLM)
    generate_requests: int = 0
    prm_tokens: int = 0  # tokens of every sequence the PRM read
    prm_calls: int = 0  # sequences the PRM scored
    iterations: int = 0
    wall_s: float = 0.0  # this problem's share of its batch's wall time

    def add(self, other: Compute) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def to_dict(self, policy_params: int | None = None, prm_params: int | None = None) -> dict[str, Any]:
        """The counters plus FLOPs estimates, 2 x parameters x tokens (None where a parameter count is unknown)."""
        record: dict[str, Any] = asdict(self)
        record["wall_s"] = round(self.wall_s, 4)
        record["policy_flops"] = 2 * policy_params * self.generated_tokens if policy_params else None
        record["prm_flops"] = 2 * prm_params * self.prm_tokens if prm_params else None
        return record
