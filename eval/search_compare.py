"""Search strategies against best-of-N at equal compute: accuracy, tokens, paired CIs and difficulty bins.

Reads the outputs of ``prm search`` (one row per problem, its finished solutions inside; the run's settings in
the ``<output>.meta.json`` sidecar) and compares *methods*: a run label (given, or ``<strategy>-<prm folder>``)
with a selection rule of :mod:`eval.selection`, at each budget ``n`` the label's runs have:

- ``prm_<agg>`` (the run's aggregation): the finished solution with the highest PRM score, the search's pick;
- ``prm_vote_<agg>``: weighted best-of-N, the answer cluster with the largest summed score;
- ``majority``; ``orm`` when solutions carry ``orm_score`` / ``orm_step_scores``;
- ``oracle`` (pass@n, a correct solution if any): the ceiling, reported apart.

Rules are deterministic (no random subsets: a search's solutions are its own). A problem with no finished
solution counts as wrong. Per method and ``n``: accuracy over the problems common to every run with a
percentile bootstrap CI (one resample index for all methods, so differences are paired), and the mean
generated tokens (the x axis), PRM calls, PRM tokens and FLOPs per problem. Against a baseline method
(default: the best_of_n run's ``prm_vote_<agg>``): the paired difference at the same ``n`` and the token ratio,
and at equal tokens (the baseline's per-problem accuracy linearly interpolated in log(tokens) between its two
nearest budgets, never extrapolated). Difficulty bins as Snell et al. 2024: equal-size bins by rank (ties by
problem id) of (a) the policy's pass@1 on a separate sample pool ("oracle") and (b) the mean PRM score of
those samples ("deployable"); bin 1 is the easiest (highest value), the last bin the hardest.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from eval.aggregate import AGGREGATIONS
from eval.answers import AnswerClusterer
from eval.bon import bootstrap_ci
from eval.selection import SELECTION_RULES, Group, RuleNotApplicable

__all__ = ["Binning", "CompareConfig", "Comparison", "DifficultyBin", "EqualTokens", "Method", "Point",
           "SearchCompareResult", "SearchRun", "bin_columns", "compare_runs", "difficulty_values", "interpolation",
           "run_rules"]

logger = logging.getLogger(__name__)

ORACLE = "oracle"
BEST_OF_N = "best_of_n"


@dataclass
class SearchRun:
    """One ``prm search`` output (``eval.search_report.read_run``): its label, settings (``meta``: the sidecar) and
    rows by problem id, each solution's ``step_scores`` without None; ``lines``: each row's line in the file."""

    path: str
    label: str
    strategy: str
    n: int
    aggregation: str
    meta: dict[str, Any]
    rows: dict[str, dict[str, Any]]
    lines: dict[str, int]


def run_rules(run: SearchRun) -> list[str]:
    """The rules a run is compared by (``oracle`` apart): its aggregation's PRM pick and vote, majority, ORM."""
    rules = [f"prm_{run.aggregation}", f"prm_vote_{run.aggregation}", "majority"]
    if any(s.get("orm_score") is not None or s.get("orm_step_scores") for row in run.rows.values()
           for s in row["solutions"]):
        rules.append("orm")
    return rules


@dataclass(frozen=True)
class CompareConfig:
    bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0
    bins: int = 5
    baseline: str | None = None  # "LABEL" or "LABEL:RULE"; default: the best_of_n run's prm_vote_<agg>


@dataclass
class Point:
    """A method at one budget: accuracy with its CI, and the mean compute per problem (FLOPs: None if unknown)."""

    n: int
    accuracy: float
    low: float
    high: float
    tokens: float
    prm_calls: float
    prm_tokens: float
    flops: float | None
    problems: int


@dataclass
class Method:
    label: str
    rule: str
    points: list[Point]

    @property
    def name(self) -> str:
        return f"{self.label}:{self.rule}"


@dataclass
class Comparison:
    """``method - baseline`` at the same ``n``: accuracy difference with a paired CI, and the token ratio."""

    method: str
    n: int
    difference: float
    low: float
    high: float
    token_ratio: float


@dataclass
class EqualTokens:
    """A method point against the baseline interpolated in log(tokens) at the point's tokens (None: outside the
    baseline's range, no extrapolation); ``between``: the baseline budgets interpolated between."""

    method: str
    n: int
    tokens: float
    accuracy: float
    baseline_accuracy: float | None
    difference: float | None
    low: float | None
    high: float | None
    between: tuple[int, int] | None


@dataclass
class DifficultyBin:
    index: int  # 1 = easiest
    problem_ids: list[str]
    value_range: tuple[float, float]  # (lowest, highest) pass@1 or score in the bin
    methods: dict[str, list[Point]]  # method name (oracle: "<label>:oracle") -> points by n
    best: dict[int, list[str]]  # n -> the best method(s), oracle excluded


@dataclass
class Binning:
    name: str  # "oracle" (pass@1) or "deployable" (mean PRM score)
    source: str
    bins: list[DifficultyBin]
    left_out: int  # problems without a value (no pool sample, no scored sample)


@dataclass
class SearchCompareResult:
    """What :func:`compare_runs` measured; ``per_problem[(method, n)]`` (0/1 per problem) is left out of
    ``to_dict``."""

    problem_ids: list[str]
    runs: list[dict[str, Any]]
    methods: list[Method]
    oracle: list[Method]
    baseline: str | None
    comparisons: list[Comparison]
    equal_tokens: list[EqualTokens]
    binnings: list[Binning]
    notes: list[str]
    config: CompareConfig
    per_problem: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)

    def method(self, name: str) -> Method:
        return next(m for m in self.methods + self.oracle if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        def method_dict(m: Method) -> dict[str, Any]:
            return {"name": m.name, "label": m.label, "rule": m.rule, "points": [asdict(p) for p in m.points]}

        return {
            "problems": len(self.problem_ids), "runs": self.runs, "baseline": self.baseline,
            "methods": [method_dict(m) for m in self.methods], "oracle": [method_dict(m) for m in self.oracle],
            "comparisons": [asdict(c) for c in self.comparisons],
            "equal_tokens": [asdict(e) for e in self.equal_tokens],
            "binnings": [asdict(b) for b in self.binnings], "notes": self.notes, "config": asdict(self.config),
        }  # fmt: skip


@dataclass
class _RunData:
    """Per problem (common order): tokens, PRM calls/tokens, FLOPs (NaN: unknown), and 0/1 per rule."""

    run: SearchRun
    tokens: np.ndarray
    prm_calls: np.ndarray
    prm_tokens: np.ndarray
    flops: np.ndarray
    outcomes: dict[str, np.ndarray]


def _compute_column(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> np.ndarray:
    values = []
    for row in rows:
        present = [row["compute"][k] for k in names if row["compute"].get(k) is not None]
        values.append(float(sum(present)) if present else math.nan)
    return np.array(values, dtype=float)


def _run_data(run: SearchRun, problem_ids: Sequence[str], clusterer: AnswerClusterer, notes: list[str]) -> _RunData:
    rules = [*run_rules(run), ORACLE]
    outcomes = {rule: np.zeros(len(problem_ids)) for rule in rules}
    fallback = dict.fromkeys(rules, 0)
    rows = [run.rows[pid] for pid in problem_ids]
    for k, row in enumerate(rows):
        if not row["solutions"]:
            continue  # no finished solution: wrong under every rule
        group = Group(row["solutions"], clusterer)
        correct = group.correct
        for rule in rules:
            try:
                outcomes[rule][k] = correct[SELECTION_RULES[rule](group)]
            except RuleNotApplicable:
                fallback[rule] += 1
                outcomes[rule][k] = correct[0]  # the search's own best
    for rule, count in fallback.items():
        if count:
            notes.append(f"{run.label} n={run.n}, {rule}: {count} problem(s) without its scores; the search's "
                         "first (best-scored) solution is taken there")
    empty = sum(not row["solutions"] for row in rows)
    if empty:
        notes.append(f"{run.label} n={run.n}: {empty} problem(s) with no finished solution (counted wrong)")
    return _RunData(run, _compute_column(rows, ["generated_tokens"]), _compute_column(rows, ["prm_calls"]),
                    _compute_column(rows, ["prm_tokens"]), _compute_column(rows, ["policy_flops", "prm_flops"]),
                    outcomes)


def _mean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def _point(data: _RunData, rule: str, columns: np.ndarray, index: np.ndarray, confidence: float) -> Point:
    values = data.outcomes[rule][columns]
    low, high = bootstrap_ci(values, confidence=confidence, index=index)
    flops = data.flops[columns]
    return Point(data.run.n, float(values.mean()), float(low), float(high), _mean(data.tokens[columns]),
                 _mean(data.prm_calls[columns]), _mean(data.prm_tokens[columns]),
                 None if np.isnan(flops).all() else _mean(flops), int(columns.size))


def _methods(datas: Sequence[_RunData], columns: np.ndarray, index: np.ndarray,
             confidence: float) -> tuple[list[Method], list[Method]]:
    """Methods (label, rule) with a point per budget, in run order; oracle curves apart."""
    methods: dict[str, Method] = {}
    for data in sorted(datas, key=lambda d: d.run.n):
        for rule in data.outcomes:
            name = f"{data.run.label}:{rule}"
            method = methods.setdefault(name, Method(data.run.label, rule, []))
            method.points.append(_point(data, rule, columns, index, confidence))
    order = {d.run.label: i for i, d in reversed(list(enumerate(datas)))}
    ranked = sorted(methods.values(), key=lambda m: order[m.label])
    return [m for m in ranked if m.rule != ORACLE], [m for m in ranked if m.rule == ORACLE]


def _baseline(spec: str | None, datas: Sequence[_RunData], methods: Sequence[Method]) -> str | None:
    """The baseline method's name: ``spec`` ("LABEL" or "LABEL:RULE"), else the best_of_n run's weighted vote."""
    labels = {d.run.label: d.run for d in datas}
    if spec is None:
        run = next((d.run for d in datas if d.run.strategy == BEST_OF_N), None)
        return None if run is None else f"{run.label}:prm_vote_{run.aggregation}"
    label, rule = (spec, None) if spec in labels or ":" not in spec else spec.rsplit(":", 1)
    if label not in labels:
        raise ValueError(f"--baseline {spec}: no run labelled {label!r}; labels: {', '.join(labels)}")
    name = f"{label}:{rule or f'prm_vote_{labels[label].aggregation}'}"
    if name not in {m.name for m in methods}:
        raise ValueError(f"--baseline {spec}: no method {name}; methods: {', '.join(m.name for m in methods)}")
    return name


def _paired(delta: np.ndarray, index: np.ndarray, confidence: float) -> tuple[float, float, float]:
    low, high = bootstrap_ci(delta, confidence=confidence, index=index)
    return float(delta.mean()), float(low), float(high)


def _comparisons(methods: Sequence[Method], baseline: str, per_problem: Mapping[tuple[str, int], np.ndarray],
                 index: np.ndarray, confidence: float) -> list[Comparison]:
    base = {p.n: p for p in next(m for m in methods if m.name == baseline).points}
    out = []
    for method in methods:
        for point in method.points:
            if method.name == baseline or point.n not in base:
                continue
            delta = per_problem[(method.name, point.n)] - per_problem[(baseline, point.n)]
            ratio = point.tokens / base[point.n].tokens if base[point.n].tokens > 0 else math.nan
            out.append(Comparison(method.name, point.n, *_paired(delta, index, confidence), ratio))
    return out


END_TOLERANCE = 0.02  # a point within 2% of the baseline's smallest or largest budget is compared at that budget


def interpolation(tokens: Sequence[float], at: float) -> tuple[int, int, float] | None:
    """Where ``at`` falls among increasing ``tokens``: (i, j, w), the value there being ``(1-w) v_i + w v_j``
    with ``w`` linear in log(tokens); None outside ``[tokens[0], tokens[-1]]`` (no extrapolation), except that a
    point within ``END_TOLERANCE`` of an end is taken at that end (search and best-of-N at one n spend
    tokens equal to within a fraction of a percent)."""
    if not tokens or at <= 0 or tokens[0] <= 0:
        return None
    if tokens[0] * (1 - END_TOLERANCE) <= at < tokens[0]:
        return 0, 0, 0.0
    if tokens[-1] < at <= tokens[-1] * (1 + END_TOLERANCE):
        return len(tokens) - 1, len(tokens) - 1, 0.0
    if not tokens[0] <= at <= tokens[-1]:
        return None
    j = next(k for k, t in enumerate(tokens) if t >= at)
    if tokens[j] == at or j == 0:
        return j, j, 0.0
    i = j - 1
    return i, j, (math.log(at) - math.log(tokens[i])) / (math.log(tokens[j]) - math.log(tokens[i]))


def _equal_tokens(methods: Sequence[Method], baseline: str, per_problem: Mapping[tuple[str, int], np.ndarray],
                  index: np.ndarray, confidence: float) -> list[EqualTokens]:
    base = sorted(next(m for m in methods if m.name == baseline).points, key=lambda p: p.tokens)
    out = []
    for method in methods:
        if method.name == baseline:
            continue
        for point in method.points:
            where = interpolation([p.tokens for p in base], point.tokens)
            if where is None:
                out.append(EqualTokens(method.name, point.n, point.tokens, point.accuracy, None, None, None, None,
                                       None))
                continue
            i, j, w = where
            reference = (1 - w) * per_problem[(baseline, base[i].n)] + w * per_problem[(baseline, base[j].n)]
            mean, low, high = _paired(per_problem[(method.name, point.n)] - reference, index, confidence)
            out.append(EqualTokens(method.name, point.n, point.tokens, point.accuracy, float(reference.mean()),
                                   mean, low, high, (base[i].n, base[j].n)))
    return out


def difficulty_values(samples: Mapping[str, Sequence[Mapping[str, Any]]],
                      aggregation: str) -> tuple[dict[str, float], dict[str, float]]:
    """Per problem: pass@1 (share of ``correct`` samples) and the mean aggregated PRM score of its scored
    samples (NaN: none scored); problems without samples are absent."""
    pass1, score = {}, {}
    for pid, rows in samples.items():
        if not rows:
            continue
        pass1[pid] = sum(r.get("verdict") == "correct" for r in rows) / len(rows)
        scored = [AGGREGATIONS[aggregation](r["step_scores"]) for r in rows if r.get("step_scores")]
        score[pid] = math.fsum(scored) / len(scored) if scored else math.nan
    return pass1, score


def bin_columns(values: Mapping[str, float], problem_ids: Sequence[str], bins: int) -> list[np.ndarray]:
    """Equal-size bins (sizes differ by at most one, the first bins larger) of the problems with a value, by
    rank from the highest value (bin 1, the easiest) to the lowest; ties by problem id. Empty bins dropped."""
    present = [(values[pid], pid, k) for k, pid in enumerate(problem_ids)
               if pid in values and not math.isnan(values[pid])]
    ranked = np.array([k for _, _, k in sorted(present, key=lambda item: (-item[0], item[1]))], dtype=np.intp)
    return [chunk for chunk in np.array_split(ranked, bins) if chunk.size]


def _binning(name: str, source: str, values: Mapping[str, float], problem_ids: Sequence[str],
             datas: Sequence[_RunData], config: CompareConfig, salt: int) -> Binning:
    bins = []
    for b, columns in enumerate(bin_columns(values, problem_ids, config.bins)):
        index = np.random.default_rng([config.seed, salt, b]).integers(0, columns.size,
                                                                       (config.bootstrap, columns.size))
        methods, oracle = _methods(datas, columns, index, config.confidence)
        best: dict[int, list[str]] = {}
        for n in sorted({p.n for m in methods for p in m.points}):
            scores = {m.name: p.accuracy for m in methods for p in m.points if p.n == n}
            top = max(scores.values())
            best[n] = [name for name, acc in scores.items() if acc == top]
        bin_values = [values[problem_ids[k]] for k in columns]
        bins.append(DifficultyBin(b + 1, [problem_ids[k] for k in columns], (min(bin_values), max(bin_values)),
                                  {m.name: m.points for m in methods + oracle}, best))
    left_out = len(problem_ids) - sum(len(b.problem_ids) for b in bins)
    return Binning(name, source, bins, left_out)


def _difficulty(datas: Sequence[_RunData], problem_ids: Sequence[str], pool: Sequence[Mapping[str, Any]] | None,
                pool_name: str, aggregation: str, config: CompareConfig, notes: list[str]) -> list[Binning]:
    """Both binnings, from the pool, or else from the largest best_of_n run's solutions (noted)."""
    if pool is not None:
        samples: dict[str, list[Mapping[str, Any]]] = {}
        for row in pool:
            samples.setdefault(str(row["problem_id"]), []).append(row)
        source = f"{len(pool)} pool samples ({pool_name})"
    else:
        bon = [d for d in datas if d.run.strategy == BEST_OF_N]
        if not bon:
            notes.append("no --pool and no best_of_n run: no difficulty bins")
            return []
        run = max(bon, key=lambda d: d.run.n).run
        samples = {pid: run.rows[pid]["solutions"] for pid in problem_ids}
        source = f"the solutions of {run.label} n={run.n} (no --pool)"
        notes.append(f"difficulty bins from {source}: the samples binned by are also evaluated, which biases the "
                     "bins toward the runs' own outcomes; give --pool (separate samples) as Snell et al. 2024")
    pass1, score = difficulty_values(samples, aggregation)
    binnings = [_binning("oracle", f"policy pass@1 on {source}", pass1, problem_ids, datas, config, 1),
                _binning("deployable", f"mean PRM score ({aggregation}) of {source}", score, problem_ids, datas,
                         config, 2)]
    return [b for b in binnings if b.bins]


def _common_problems(runs: Sequence[SearchRun], notes: list[str]) -> list[str]:
    common = set.intersection(*(set(run.rows) for run in runs))
    for run in runs:
        if len(run.rows) > len(common):
            notes.append(f"{run.path}: {len(run.rows) - len(common)} problem(s) not in every run (left out)")
    if not common:
        raise ValueError("the runs have no problem in common")
    return [pid for pid in runs[0].rows if pid in common]


def compare_runs(runs: Sequence[SearchRun], config: CompareConfig | None = None,
                 pool: Sequence[Mapping[str, Any]] | None = None, pool_name: str = "--pool",
                 clusterer: AnswerClusterer | None = None) -> SearchCompareResult:
    """Every method of ``runs`` (each with verdicts on all solutions) over the problems common to all of them."""
    config = config or CompareConfig()
    if not runs:
        raise ValueError("no runs to compare")
    seen: dict[tuple[str, int], str] = {}
    for run in runs:
        if (run.label, run.n) in seen:
            raise ValueError(f"{seen[(run.label, run.n)]} and {run.path} are both {run.label} at n={run.n}: name "
                             "them apart with LABEL=PATH")
        seen[(run.label, run.n)] = run.path
    notes: list[str] = []
    problem_ids = _common_problems(runs, notes)
    clusterer = clusterer or AnswerClusterer()
    datas = [_run_data(run, problem_ids, clusterer, notes) for run in runs]
    columns = np.arange(len(problem_ids))
    index = np.random.default_rng(config.seed).integers(0, len(problem_ids), (config.bootstrap, len(problem_ids)))
    methods, oracle = _methods(datas, columns, index, config.confidence)
    per_problem = {(f"{d.run.label}:{rule}", d.run.n): v for d in datas for rule, v in d.outcomes.items()}
    baseline = _baseline(config.baseline, datas, methods)
    comparisons, equal = [], []
    if baseline is None:
        notes.append("no best_of_n run: no baseline comparison (give --baseline LABEL:RULE)")
    else:
        comparisons = _comparisons(methods, baseline, per_problem, index, config.confidence)
        equal = _equal_tokens(methods, baseline, per_problem, index, config.confidence)
    base_run = next((d.run for d in datas if baseline and baseline.startswith(f"{d.run.label}:")), datas[0].run)
    binnings = _difficulty(datas, problem_ids, pool, pool_name, base_run.aggregation, config, notes)
    summaries = [{"label": r.label, "path": r.path, "strategy": r.strategy, "n": r.n, "aggregation": r.aggregation,
                  "model": r.meta.get("model"), "prm": r.meta.get("prm"), "problems": len(r.rows)} for r in runs]
    logger.info("compared %d runs (%d methods) over %d problems", len(runs), len(methods), len(problem_ids))
    return SearchCompareResult(problem_ids, summaries, methods, oracle, baseline, comparisons, equal, binnings,
                               notes, config, per_problem)
