"""What the regime map measures: the verifiers, the cells (one task setting each) and the sweeps over them.

A *verifier* (``VERIFIERS``) is a kind of supervision: which labeller of :mod:`data.regime.labels` labels
the training solutions and which head learns from them (:mod:`prm.regime.verifier`). Every verifier of a
cell and seed is trained on the same solutions from the same initial weights; only the labels differ.

A *cell* is one point of the map: the task's knobs, how many labelled solutions the verifiers get and the
label-flip rate ``eta``. A *sweep* moves one factor away from the centre (``CENTRE``) at a time, or two for
the depth x spurious grid; cells shared between sweeps (the centre above all) are run once. A *profile*
(``PROFILES``) says which sweeps, with how many seeds, problems and pool samples per problem.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from data.regime.task import Knobs

__all__ = ["CENTRE", "PROFILES", "VERIFIERS", "Cell", "Profile", "VerifierSpec", "profile_cells"]


@dataclass(frozen=True)
class VerifierSpec:
    """Labeller name and parameter (``"eta"``: the cell's flip rate), the head, and a line for the report."""

    labeller: str
    param: float | str = 0.0
    head: str = "value"  # "value" (BCE per line) or "implicit" (LM head, outcome labels)
    about: str = ""


VERIFIERS: dict[str, VerifierSpec] = {
    "orm_final": VerifierSpec("final", about="ORM on final-answer labels"),
    "orm_process": VerifierSpec("process", about="ORM on all-steps-correct labels"),
    "prm_exact": VerifierSpec("exact", about="PRM on exact step labels"),
    "prm_mc1": VerifierSpec("mc", 1, about="PRM on Monte-Carlo labels, m=1"),
    "prm_mc4": VerifierSpec("mc", 4, about="PRM on Monte-Carlo labels, m=4"),
    "prm_mc16": VerifierSpec("mc", 16, about="PRM on Monte-Carlo labels, m=16"),
    "prm_bisect4": VerifierSpec("bisect", 4, about="PRM on binary-search (OmegaPRM) labels, m=4"),
    "prm_flip": VerifierSpec("flip", "eta", about="PRM on exact labels flipped at rate eta"),
    "implicit": VerifierSpec("final", head="implicit", about="implicit PRM (outcome labels, LM head)"),
}

CORE = ("orm_final", "orm_process", "prm_exact", "prm_mc4", "implicit")


@dataclass(frozen=True)
class Cell:
    """One point of the map and the verifiers measured there."""

    knobs: Knobs = field(default_factory=Knobs)
    train_solutions: int = 2000
    eta: float = 0.2
    verifiers: tuple[str, ...] = CORE

    @property
    def key(self) -> str:
        """What identifies the cell's data and labels (not which verifiers run)."""
        return json.dumps({"knobs": self.knobs.to_dict(), "train": self.train_solutions, "eta": self.eta},
                          sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        return {"knobs": self.knobs.to_dict(), "train_solutions": self.train_solutions, "eta": self.eta}


CENTRE = Cell()


def _knob(name: str, value: Any, verifiers: tuple[str, ...] = CORE) -> Cell:
    if name in ("train_solutions", "eta"):
        return replace(CENTRE, **{name: value}, verifiers=verifiers)
    return replace(CENTRE, knobs=replace(CENTRE.knobs, **{name: value}), verifiers=verifiers)


@dataclass(frozen=True)
class Profile:
    """Which sweeps (name -> factor and values), with how many seeds, test problems and samples per problem."""

    seeds: int
    problems: int
    pool: int
    sweeps: dict[str, tuple[str, tuple[Any, ...]]]
    grid: tuple[tuple[int, ...], tuple[float, ...]]  # depth x spurious rate
    extra_verifiers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # sweep -> its own verifiers
    core: tuple[str, ...] = CORE  # the verifiers of every other cell off the centre
    search: tuple[tuple[str, Any], ...] = ()  # (sweep, value) points where each verifier also guides beam search
    search_ns: tuple[int, ...] = (4, 16)
    search_problems: int = 100

    @property
    def ns(self) -> list[int]:
        out, n = [], 1
        while n <= self.pool:
            out.append(n)
            n *= 2
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_LABEL_VERIFIERS = ("prm_mc1", "prm_mc4", "prm_mc16", "prm_bisect4")
_BUDGET_VERIFIERS = ("orm_final", "prm_exact", "prm_mc4", "implicit")
_GRID_VERIFIERS = ("orm_final", "orm_process", "prm_exact", "prm_mc4")

PROFILES: dict[str, Profile] = {
    # a first look and the tests: every kind of row, too few seeds and problems for its numbers to mean much
    "tiny": Profile(
        seeds=2, problems=20, pool=8,
        sweeps={"spurious_rate": ("spurious_rate", (0.0, 0.5)), "eta": ("eta", (0.2,)), "m": ("m", (4,)),
                "train_solutions": ("train_solutions", (500, 2000))},
        grid=((2,), (0.5,)),
        extra_verifiers={"eta": ("prm_flip",), "train_solutions": ("orm_final", "prm_exact", "prm_mc4")},
        search=(("spurious_rate", 0.5),), search_ns=(4,), search_problems=10),
    "reduced": Profile(
        seeds=5, problems=200, pool=64,
        sweeps={"depth": ("depth", (2, 4, 8)), "spurious_rate": ("spurious_rate", (0.0, 0.5)),
                "self_correction_rate": ("self_correction_rate", (0.0, 0.5)),
                "answer_space": ("answer_space", (6, 2)), "eta": ("eta", (0.0, 0.2, 0.4)),
                "m": ("m", (1, 4, 16)), "train_solutions": ("train_solutions", (500, 2000, 8000))},
        grid=((2, 4, 8), (0.0, 0.5)),  # every point is a cell of the one-factor sweeps but (2, 0.5), (8, 0.5)
        extra_verifiers={"eta": ("prm_flip",), "m": _LABEL_VERIFIERS, "train_solutions": _BUDGET_VERIFIERS},
        core=_GRID_VERIFIERS,  # the implicit PRM only at the centre and in the budget sweep: the time limit
        search=(("centre", None), ("depth", 8), ("spurious_rate", 0.5), ("train_solutions", 500))),
    "full": Profile(
        seeds=5, problems=300, pool=256,
        sweeps={"depth": ("depth", (2, 3, 4, 6, 8)), "error_rate": ("error_rate", (0.05, 0.15, 0.3)),
                "spurious_rate": ("spurious_rate", (0.0, 0.25, 0.5, 0.75)),
                "self_correction_rate": ("self_correction_rate", (0.0, 0.25, 0.5)),
                "answer_space": ("answer_space", (6, 3, 2)), "eta": ("eta", (0.0, 0.1, 0.2, 0.3, 0.4)),
                "m": ("m", (1, 4, 16)), "train_solutions": ("train_solutions", (250, 500, 1000, 2000, 4000, 8000))},
        grid=((2, 4, 8), (0.0, 0.25, 0.5)),
        extra_verifiers={"eta": ("prm_flip",), "m": _LABEL_VERIFIERS, "train_solutions": _BUDGET_VERIFIERS},
        search=(("centre", None), ("spurious_rate", 0.5), ("self_correction_rate", 0.5), ("train_solutions", 500),
                ("depth", 8)), search_problems=200),
}


def profile_cells(profile: Profile) -> list[tuple[str, Any, Cell]]:
    """(sweep name, factor value, cell) for every point of the profile; the ``m`` sweep is the centre cell
    with the Monte-Carlo verifiers; the grid's points are named ``depth x spurious``."""
    out: list[tuple[str, Any, Cell]] = [("centre", None, CENTRE)]
    for sweep, (factor, values) in profile.sweeps.items():
        verifiers = profile.extra_verifiers.get(sweep, profile.core)
        for value in values:
            if factor == "m":
                out.append((sweep, value, replace(CENTRE, verifiers=(f"prm_mc{value}", "prm_bisect4", "prm_exact"))))
            else:
                out.append((sweep, value, _knob(factor, value, verifiers)))
    depths, rates = profile.grid
    for depth in depths:
        for rate in rates:
            knobs = replace(CENTRE.knobs, depth=depth, spurious_rate=rate)
            out.append(("depth x spurious", (depth, rate), replace(CENTRE, knobs=knobs, verifiers=_GRID_VERIFIERS)))
    return out
