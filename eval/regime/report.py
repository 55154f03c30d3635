"""The regime map's report: where the PRM beats the ORM, where they tie, where the ORM wins, from the journal.

Input: the journal rows of :mod:`prm.regime.run` (one per cell, seed and verifier) and the profile's points
(sweep, value, cell key, the PRM verifier that point is about). Every number is a mean over seeds with a
Student-t 95% interval over seeds; a difference is paired by seed (same data, same initial weights), and a
verdict is "PRM wins" / "ORM wins" only when that interval excludes zero.

Writes ``regime.md`` (the map, accuracy vs N at the centre, label budget at equal count and equal cost with
the crossover, Monte-Carlo vs binary-search labels, the depth x spurious grid), ``regime.json`` and PNGs:
``regime_n.png`` (accuracy vs N), ``regime_budget.png`` (accuracy vs labelled solutions and vs rollouts),
``regime_grid.png`` (the grid as a heat map).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eval.report import markdown_table, pyplot, save_figure, write_json

__all__ = ["REFERENCE_N", "Point", "RegimeRows", "mean_ci", "regime_markdown", "write_regime_report"]

# two-sided 95% Student t quantiles by degrees of freedom
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
ORM = ("orm_final", "last")
REFERENCE_N = 16


@dataclass(frozen=True)
class Point:
    """One row of the map: a sweep's value, its cell, and the PRM verifier the row compares with the ORM."""

    sweep: str
    value: Any
    cell: str
    prm: str
    orm_cell: str | None = None  # where the ORM of the comparison was trained (same data), if not ``cell``

    @property
    def orm_at(self) -> str:
        return self.orm_cell or self.cell


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and Student-t 95% interval over seeds (nan bounds for one seed)."""
    data = np.asarray(values, dtype=np.float64)
    mean = float(data.mean()) if data.size else math.nan
    if data.size < 2:
        return mean, math.nan, math.nan
    half = _T975.get(data.size - 1, 1.96) * float(data.std(ddof=1)) / math.sqrt(data.size)
    return mean, mean - half, mean + half


def _fmt(stats: tuple[float, float, float], signed: bool = False) -> str:
    mean, low, high = (100 * v for v in stats)
    if math.isnan(mean):
        return "-"
    head = f"{mean:+.1f}" if signed else f"{mean:.1f}"
    return head if math.isnan(low) else f"{head} [{low:+.1f}, {high:+.1f}]" if signed else \
        f"{head} [{low:.1f}, {high:.1f}]"


def verdict(stats: tuple[float, float, float]) -> str:
    _, low, high = stats
    if math.isnan(low):
        return "-"
    return "**PRM wins**" if low > 0 else "**ORM wins**" if high < 0 else "tie"


class RegimeRows:
    """The journal's rows, looked up by (cell, verifier) and seed."""

    def __init__(self, rows: Sequence[dict[str, Any]]) -> None:
        self.by: dict[tuple[str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
        for row in rows:
            self.by[(row["cell"], row["verifier"])][int(row["seed"])] = row

    def seeds(self, cell: str, verifier: str) -> dict[int, dict[str, Any]]:
        return self.by.get((cell, verifier), {})

    def metric(self, cell: str, verifier: str, how: str, n: int, key: str = "answer") -> dict[int, float]:
        """Per seed: the pick's ``key`` rate at N=n for ``verifier`` read with aggregation ``how``."""
        return {seed: row["metrics"][how][str(n)][key] for seed, row in self.seeds(cell, verifier).items()
                if str(n) in row["metrics"][how]}

    def field(self, cell: str, verifier: str, name: str) -> dict[int, float]:
        return {seed: row[name] for seed, row in self.seeds(cell, verifier).items() if name in row}

    def pool(self, cell: str, name: str, n: int) -> dict[int, float]:
        return {seed: row[name][str(n)] for seed, row in self.seeds(cell, "_pool").items() if str(n) in row[name]}

    def diff(self, cell: str, a: tuple[str, str], b: tuple[str, str], n: int, key: str = "answer",
             b_cell: str | None = None) -> tuple[float, float, float]:
        """a - b, paired by seed (seeds where both exist); b read at ``b_cell`` when given (a cell of the same
        data, e.g. the centre for the flip-rate sweep, whose cells differ only in the flipped PRM's labels)."""
        left, right = self.metric(cell, *a, n, key), self.metric(b_cell or cell, *b, n, key)
        return mean_ci([left[s] - right[s] for s in sorted(set(left) & set(right))])

    def stats(self, cell: str, verifier: str, how: str, n: int, key: str = "answer") -> tuple[float, float, float]:
        return mean_ci(list(self.metric(cell, verifier, how, n, key).values()))


def _value(point: Point) -> str:
    if point.sweep == "depth x spurious":
        depth, rate = point.value
        return f"K={depth}, s={rate}"
    return "-" if point.value is None else str(point.value)


def map_lines(rows: RegimeRows, points: Sequence[Point], n: int) -> list[str]:
    """The map: one row per point, the PRM of that point against the ORM on final-answer labels."""
    table = []
    for point in points:
        prm = (point.prm, "min")
        answer = rows.diff(point.cell, prm, ORM, n, b_cell=point.orm_at)
        process = rows.diff(point.cell, prm, ORM, n, "process", b_cell=point.orm_at)
        table.append([point.sweep, _value(point), point.prm, _fmt(rows.stats(point.orm_at, *ORM, n)),
                      _fmt(rows.stats(point.cell, *prm, n)), _fmt(answer, True), verdict(answer),
                      _fmt(process, True), verdict(process)])
    return markdown_table(["sweep", "value", "PRM", "ORM (final, last)", "PRM (min)", "PRM - ORM answer [CI]",
                           "answer", "PRM - ORM process-correct [CI]", "process"], table)


def n_lines(rows: RegimeRows, cell: str, verifiers: Sequence[str], ns: Sequence[int]) -> list[str]:
    """Accuracy vs N at one cell for every verifier and aggregation, majority vote and pass@N."""
    table = []
    for verifier in verifiers:
        for how in ("min", "product", "last"):
            if rows.seeds(cell, verifier):
                table.append([f"{verifier} ({how})", *(_fmt(rows.stats(cell, verifier, how, n)) for n in ns)])
    for name, label in (("majority", "majority vote"), ("pass_at", "pass@N (oracle)")):
        table.append([label, *(_fmt(mean_ci(list(rows.pool(cell, name, n).values()))) for n in ns)])
    return markdown_table(["verifier (aggregation)", *(f"N={n}" for n in ns)], table)


def budget_curves(rows: RegimeRows, cells: dict[int, str], verifier: str, how: str, n: int
                  ) -> tuple[list[int], list[float], list[float]]:
    """(labelled solutions, labelling cost in rollouts incl. drawing each solution, mean accuracy) per budget."""
    counts, costs, accuracy = [], [], []
    for count, cell in sorted(cells.items()):
        per_seed = rows.metric(cell, verifier, how, n)
        rollouts = list(rows.field(cell, verifier, "rollouts_per_solution").values())
        if per_seed:
            counts.append(count)
            costs.append(count * (1.0 + float(np.mean(rollouts))))
            accuracy.append(float(np.mean(list(per_seed.values()))))
    return counts, costs, accuracy


def crossover(x_a: Sequence[float], y_a: Sequence[float], x_b: Sequence[float], y_b: Sequence[float]
              ) -> tuple[float | None, str]:
    """Where curve a - curve b (both interpolated in log x) goes from one sign to the other over the x range
    both cover: (x, "") at the first crossing, else (None, a sentence saying which curve is ahead there)."""
    if len(x_a) < 2 or len(x_b) < 2:
        return None, "too few budgets"
    low, high = max(min(x_a), min(x_b)), min(max(x_a), max(x_b))
    if low >= high:
        return None, "no common range"
    grid = np.exp(np.linspace(math.log(low), math.log(high), 200))
    gap = np.interp(np.log(grid), np.log(x_a), y_a) - np.interp(np.log(grid), np.log(x_b), y_b)
    signs = np.sign(np.where(np.abs(gap) < 1e-9, 0.0, gap))
    seen = 0.0
    for index, sign in enumerate(signs):  # a crossing goes from one side to the other; touching is not one
        if sign and seen and sign != seen:
            return float(grid[index]), ""
        seen = sign or seen
    where = f"over {low:,.0f}-{high:,.0f}"
    if not seen:
        return None, f"equal {where}"
    return None, f"{'the PRM' if seen > 0 else 'the ORM'} ahead or equal {where}, no crossing"


def budget_lines(rows: RegimeRows, cells: dict[int, str], verifiers: Sequence[str], n: int) -> list[str]:
    """Equal count and equal cost tables, and where each PRM's curve crosses the ORM's."""
    counts = sorted(cells)
    table = []
    for verifier in verifiers:
        how = "last" if verifier.startswith("orm") else "min"
        cost = budget_curves(rows, cells, verifier, how, n)[1]
        table.append([f"{verifier} ({how})", *(_fmt(rows.stats(cells[c], verifier, how, n)) for c in counts),
                      ", ".join(f"{c:,.0f}" for c in cost)])
    lines = markdown_table(["verifier", *(f"{c} solutions" for c in counts), "cost (rollouts) at each budget"],
                           table)
    orm = budget_curves(rows, cells, "orm_final", "last", n)
    for verifier in verifiers:
        if verifier.startswith("orm"):
            continue
        curve = budget_curves(rows, cells, verifier, "min", n)
        parts = []
        for label, axis in (("equal count (labelled solutions)", 0), ("equal cost (rollouts)", 1)):
            at, otherwise = crossover(curve[axis], curve[2], orm[axis], orm[2])
            parts.append(f"{label}: {'crossing at ' + format(at, ',.0f') if at is not None else otherwise}")
        lines.append(f"- {verifier} vs orm_final: " + "; ".join(parts) + ".")
    return lines


def label_cost_lines(rows: RegimeRows, cell: str) -> list[str]:
    """Monte-Carlo vs binary search labels: rollouts per solution and agreement with exact labels."""
    seeds = rows.seeds(cell, "_label_cost")
    if not seeds:
        return []
    names = list(next(iter(seeds.values()))["label_cost"])
    table = []
    for name in names:
        values = {key: [row["label_cost"][name][key] for row in seeds.values()] for key in
                  ("rollouts_per_solution", "label_line_agreement", "label_first_error_agreement")}
        table.append([name, f"{np.mean(values['rollouts_per_solution']):.2f}",
                      f"{100 * np.mean(values['label_line_agreement']):.1f}",
                      f"{100 * np.mean(values['label_first_error_agreement']):.1f}"])
    return markdown_table(["labels (method, m)", "rollouts per solution", "line agreement %",
                           "first-error agreement %"], table)


def grid_lines(rows: RegimeRows, points: Sequence[Point], n: int) -> list[str]:
    """PRM (exact, min) - ORM (final, last) over depth x spurious rate, answer and process-correct."""
    grid = [p for p in points if p.sweep == "depth x spurious"]
    depths = sorted({p.value[0] for p in grid})
    rates = sorted({p.value[1] for p in grid})
    cell = {p.value: p.cell for p in grid}
    table = []
    for key in ("answer", "process"):
        for depth in depths:
            table.append([key, f"K={depth}", *(_fmt(rows.diff(cell[(depth, r)], ("prm_exact", "min"), ORM, n, key),
                                                    True) if (depth, r) in cell else "-" for r in rates)])
    return markdown_table(["metric", "depth", *(f"spurious {r}" for r in rates)], table)


def _search(rows: RegimeRows, cell: str, verifier: str, strategy: str, n: int, key: str = "answer"
            ) -> dict[int, float]:
    return {seed: row["search"][strategy][str(n)][key] for seed, row in rows.seeds(cell, verifier).items()
            if "search" in row and str(n) in row["search"][strategy]}


def search_lines(rows: RegimeRows, points: Sequence[tuple[str, str]], verifiers: Sequence[str], ns: Sequence[int]
                 ) -> list[str]:
    """Per search point, n and verifier: best-of-N and beam accuracy, beam - best-of-N (paired by seed), and
    under beam search each verifier - the ORM on final-answer labels."""
    table = []
    for label, cell in points:
        for n in ns:
            orm_beam = _search(rows, cell, "orm_final", "beam", n)
            for verifier in verifiers:
                bon, beam = _search(rows, cell, verifier, "best_of_n", n), _search(rows, cell, verifier, "beam", n)
                if not beam:
                    continue
                gain = mean_ci([beam[s] - bon[s] for s in sorted(set(bon) & set(beam))])
                versus = mean_ci([beam[s] - orm_beam[s] for s in sorted(set(beam) & set(orm_beam))])
                words = np.mean(list(_search(rows, cell, verifier, "beam", n, "words").values()))
                table.append([label, str(n), verifier, _fmt(mean_ci(list(bon.values()))),
                              _fmt(mean_ci(list(beam.values()))), _fmt(gain, True), verdict(gain).replace(
                                  "PRM", "beam").replace("ORM", "best-of-N"),
                              "-" if verifier == "orm_final" else _fmt(versus, True), f"{words:.0f}"])
    return markdown_table(["point", "n", "verifier", "best-of-n", "beam (M=4)", "beam - best-of-n [CI]", "verdict",
                           "beam: verifier - ORM [CI]", "words per problem (beam)"], table)


def regime_markdown(rows: RegimeRows, points: Sequence[Point], context: dict[str, Any]) -> str:
    """The whole report; ``context``: centre cell, budget cells, verifiers, ns, profile and recipe lines."""
    n = context.get("reference_n", REFERENCE_N)
    centre = context["centre"]
    lines = [f"# {context.get('title', 'Where the PRM wins: the regime map')}", "",
             *context.get("preamble", []), "",
             f"## The map (best-of-N at N={n}, accuracy %, mean [95% t-interval] over seeds)", "",
             "Each row moves one factor away from the centre (the grid rows move two). PRM - ORM is paired by "
             "seed; a verdict names a winner only when the interval excludes zero.", "",
             *map_lines(rows, points, n), "",
             "## Accuracy vs N at the centre", "", "![accuracy vs N](regime_n.png)", "",
             *n_lines(rows, centre, context["verifiers"], context["ns"]), "",
             f"## Depth x spurious rate (PRM exact min - ORM final last, N={n})", "",
             "![grid](regime_grid.png)", "", *grid_lines(rows, points, n)]
    if context.get("budget_cells"):
        lines += ["", f"## Label budget: equal count and equal cost (N={n})", "",
                  "Cost counts every policy rollout: drawing the labelled solution (1) plus the labeller's rollouts "
                  "(final-answer and exact labels cost none beyond it).", "", "![budget](regime_budget.png)", "",
                  *budget_lines(rows, context["budget_cells"], context["budget_verifiers"], n)]
    if context.get("search_points"):
        lines += ["", "## Beam search guided by each verifier", "",
                  "The project's own beam search (`prm.search`, keep n/4, expand 4 ways) with the task's policy, "
                  "against best-of-N picked by the same verifier at the same n (same words generated); "
                  f"the first {context.get('search_problems', '?')} test problems of each point.", "",
                  *search_lines(rows, context["search_points"], context["verifiers"], context["search_ns"])]
    cost = label_cost_lines(rows, centre)
    if cost:
        lines += ["", "## Cheaper step labels: Monte-Carlo vs binary search (OmegaPRM), at the centre", "", *cost]
    return "\n".join(lines) + "\n"


def plot_n(rows: RegimeRows, cell: str, series: Sequence[tuple[str, str]], ns: Sequence[int], path: Path) -> Path:
    """Accuracy vs N (log2 x) with t-interval bands; majority vote and pass@N as references."""
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(7, 4.5))
    for verifier, how in series:
        stats = [rows.stats(cell, verifier, how, n) for n in ns]
        if all(math.isnan(s[0]) for s in stats):
            continue
        mean = np.array([s[0] for s in stats]) * 100
        axis.plot(ns, mean, marker="o", label=f"{verifier} ({how})")
        low, high = (np.array([s[i] for s in stats]) * 100 for i in (1, 2))
        if not np.isnan(low).all():
            axis.fill_between(ns, low, high, alpha=0.15)
    for name, style in (("majority", "--"), ("pass_at", ":")):
        mean = [100 * mean_ci(list(rows.pool(cell, name, n).values()))[0] for n in ns]
        axis.plot(ns, mean, linestyle=style, color="black", label="majority vote" if name == "majority" else "pass@N")
    axis.set_xscale("log", base=2)
    axis.set_xlabel("N (solutions per problem)")
    axis.set_ylabel("accuracy of the pick (%)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_budget(rows: RegimeRows, cells: dict[int, str], verifiers: Sequence[str], n: int, path: Path) -> Path:
    """Accuracy vs labelled solutions (left) and vs labelling cost in rollouts (right), log x."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for verifier in verifiers:
        how = "last" if verifier.startswith("orm") else "min"
        counts, costs, accuracy = budget_curves(rows, cells, verifier, how, n)
        for axis, x in zip(axes, (counts, costs), strict=True):
            axis.plot(x, np.array(accuracy) * 100, marker="o", label=f"{verifier} ({how})")
    for axis, label in zip(axes, ("labelled solutions", "labelling cost (policy rollouts)"), strict=True):
        axis.set_xscale("log")
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(f"best-of-{n} accuracy (%)")
    axes[0].legend(fontsize=8)
    return save_figure(fig, path)


def plot_grid(rows: RegimeRows, points: Sequence[Point], n: int, path: Path) -> Path:
    """PRM - ORM (answer accuracy) over depth x spurious rate as a heat map with the values written in."""
    grid = [p for p in points if p.sweep == "depth x spurious"]
    depths = sorted({p.value[0] for p in grid})
    rates = sorted({p.value[1] for p in grid})
    cell = {p.value: p.cell for p in grid}
    values = np.full((len(depths), len(rates)), np.nan)
    for i, depth in enumerate(depths):
        for j, rate in enumerate(rates):
            if (depth, rate) in cell:
                values[i, j] = 100 * rows.diff(cell[(depth, rate)], ("prm_exact", "min"), ORM, n)[0]
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(5, 4))
    bound = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    image = axis.imshow(values, cmap="RdBu", vmin=-bound, vmax=bound, origin="lower", aspect="auto")
    for i in range(len(depths)):
        for j in range(len(rates)):
            axis.text(j, i, "-" if np.isnan(values[i, j]) else f"{values[i, j]:+.1f}", ha="center", va="center")
    axis.set_xticks(range(len(rates)), [str(r) for r in rates])
    axis.set_yticks(range(len(depths)), [str(d) for d in depths])
    axis.set_xlabel("spurious-correct rate")
    axis.set_ylabel("depth K")
    axis.set_title(f"PRM - ORM, best-of-{n} accuracy (points)")
    fig.colorbar(image, ax=axis)
    return save_figure(fig, path)


def write_regime_report(rows: Sequence[dict[str, Any]], points: Sequence[Point], context: dict[str, Any],
                        out_dir: str | Path) -> dict[str, Path]:
    """Write ``regime.md``, ``regime.json`` and the PNGs under ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = RegimeRows(rows)
    n = context.get("reference_n", REFERENCE_N)
    paths = {"markdown": out / "regime.md", "json": out / "regime.json"}
    paths["markdown"].write_text(regime_markdown(table, points, context), encoding="utf-8")
    series = [(v, "last" if v.startswith("orm") else "min") for v in context["verifiers"]]
    paths["n_plot"] = plot_n(table, context["centre"], series, context["ns"], out / "regime_n.png")
    paths["grid_plot"] = plot_grid(table, points, n, out / "regime_grid.png")
    if context.get("budget_cells") and any(budget_curves(table, context["budget_cells"], v, "min", n)[0]
                                           for v in context["budget_verifiers"]):
        paths["budget_plot"] = plot_budget(table, context["budget_cells"], context["budget_verifiers"], n,
                                           out / "regime_budget.png")
    summary = [{"sweep": p.sweep, "value": p.value, "prm": p.prm,
                "answer_diff": table.diff(p.cell, (p.prm, "min"), ORM, n, b_cell=p.orm_at),
                "process_diff": table.diff(p.cell, (p.prm, "min"), ORM, n, "process", b_cell=p.orm_at)}
               for p in points]
    write_json(paths["json"], {"reference_n": n, "map": summary,
                               "context": {k: v for k, v in context.items() if k != "budget_cells"}})
    return paths
