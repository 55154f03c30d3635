"""The files of ``prm search compare``: search runs and the sample pool read in, the report written out.

- :func:`read_run` reads a ``prm search`` output and its ``<output>.meta.json`` sidecar into a
  :class:`eval.search_compare.SearchRun`; :func:`samples_as_runs` turns scored samples (``prm sample`` +
  ``prm score``) into best-of-N runs at several n (the first n samples of each problem); :func:`read_pool`
  reads the policy's sample pool for the difficulty bins; :func:`fill_run_verdicts` verifies solutions
  without a verdict against gold answers. Bad input raises ``RecordError`` naming the file, the line and
  the field.
- :func:`write_search_report` writes ``search_compare.md`` (:func:`search_markdown`), ``search_compare.json``,
  ``search_compare.png`` (accuracy vs generated tokens per problem, log x axis, CI error bars) and
  ``search_bins.png`` (the same per difficulty bin, one row of panels per binning).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data.journal import settings_path
from data.jsonl import RecordError, read_jsonl, require_field
from eval.aggregate import AGGREGATIONS
from eval.report import markdown_table, pct, pyplot, save_figure, write_json
from eval.search_compare import Binning, Method, Point, SearchCompareResult, SearchRun
from eval.selection import SELECTION_RULES
from verifiers import VerifyConfig

__all__ = ["fill_run_verdicts", "plot_bins", "plot_compare", "read_pool", "read_run", "samples_as_runs",
           "search_markdown", "write_search_report"]

logger = logging.getLogger(__name__)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scores(values: Any, where: str) -> list[float]:
    """Step scores as floats, None entries (steps past the PRM's length limit) dropped."""
    if not isinstance(values, list) or not all(v is None or _number(v) for v in values):
        raise RecordError(f"{where}: should be a list of numbers (or null), got {str(values)[:60]}")
    return [float(v) for v in values if v is not None]


def _solution(solution: Any, where: str, need_verdict: bool) -> dict[str, Any]:
    if not isinstance(solution, dict):
        raise RecordError(f"{where}: should be an object, got {type(solution).__name__}")
    out = dict(solution)
    if out.get("verdict") is not None and not isinstance(out["verdict"], str):
        raise RecordError(f"{where}: field 'verdict' should be a string, got {type(out['verdict']).__name__}")
    if need_verdict and out.get("verdict") is None:
        raise RecordError(f"{where}: missing field 'verdict' (give --problems with gold answers to verify it)")
    for name in ("step_scores", "orm_step_scores"):
        if out.get(name) is not None:
            out[name] = _scores(out[name], f"{where}.{name}")
    if out.get("verdict") is None and not isinstance(out.get("text"), str):
        raise RecordError(f"{where}: missing field 'text' (needed to verify a solution without a verdict)")
    return out


def _row(row: dict[str, Any], where: str, need_verdict: bool) -> dict[str, Any]:
    require_field(row, ("problem_id",), where)
    solutions = row.get("solutions")
    if not isinstance(solutions, list):
        raise RecordError(f"{where}: missing field 'solutions' (a list; is this a `prm search` output?)"
                          if solutions is None else f"{where}: field 'solutions' should be a list")
    compute = row.get("compute")
    if not isinstance(compute, dict) or not _number(compute.get("generated_tokens")):
        raise RecordError(f"{where}: missing field 'compute.generated_tokens' (a number)")
    for name in ("prm_calls", "prm_tokens", "policy_flops", "prm_flops"):
        if compute.get(name) is not None and not _number(compute[name]):
            raise RecordError(f"{where}: field 'compute.{name}' should be a number")
    cleaned = [_solution(s, f"{where}: solutions[{i}]", need_verdict) for i, s in enumerate(solutions)]
    return {**row, "problem_id": str(row["problem_id"]), "solutions": cleaned}


def read_run(path: str | Path, label: str | None = None, need_verdict: bool = True) -> SearchRun:
    """A ``prm search`` output and its sidecar; RecordError naming the file, line and field on bad input."""
    path = Path(path)
    side = settings_path(path)
    try:
        meta = json.loads(side.read_text(encoding="utf-8")) if side.exists() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RecordError(f"{side}: not valid JSON ({error})") from None
    if not isinstance(meta, dict):
        raise RecordError(f"{side}: expected a JSON object")
    rows: dict[str, dict[str, Any]] = {}
    lines: dict[str, int] = {}
    settings: dict[str, Any] = {}
    for line_no, raw in read_jsonl(path):
        where = f"{path} line {line_no}"
        row = _row(raw, where, need_verdict)
        pid = row["problem_id"]
        if pid in rows:
            raise RecordError(f"{where}: problem_id {pid!r} again (first on line {lines[pid]})")
        for key in ("strategy", "n", "aggregation"):
            value = row.get(key, meta.get(key))
            if value is None:
                raise RecordError(f"{where}: missing field {key!r} (and not in {side.name})")
            if settings.setdefault(key, value) != value:
                raise RecordError(f"{where}: field {key!r} is {value!r}, earlier rows have {settings[key]!r}")
        rows[pid], lines[pid] = row, line_no
    if not rows:
        raise RecordError(f"{path}: no rows")
    if not isinstance(settings["n"], int) or settings["aggregation"] not in AGGREGATIONS:
        raise RecordError(f"{path}: 'n' should be an integer and 'aggregation' one of {', '.join(AGGREGATIONS)}")
    strategy = str(settings["strategy"])
    if label is None:
        label = f"{strategy}-{Path(str(meta['prm'])).name}" if meta.get("prm") else strategy
    return SearchRun(str(path), label, strategy, settings["n"], settings["aggregation"], meta, rows, lines)


def samples_as_runs(path: str | Path, label: str, aggregation: str, ns: Sequence[int] | None = None,
                    need_verdict: bool = True) -> list[SearchRun]:
    """Sampled solutions (``prm sample`` + ``prm score`` rows) as best-of-N runs: at each n in ``ns`` (default:
    powers of two up to the fewest samples a problem has) the first n samples of every problem, their tokens
    as the compute. So a pool already drawn and scored is the baseline without sampling it again. PRM calls are
    n (one scoring pass each); PRM tokens are not known here."""
    path = Path(path)
    groups: dict[str, list[dict[str, Any]]] = {}
    lines: dict[str, int] = {}
    for line_no, raw in read_jsonl(path):
        where = f"{path} line {line_no}"
        pid = str(require_field(raw, ("problem_id",), where))
        if not _number(raw.get("num_tokens")):
            raise RecordError(f"{where}: missing field 'num_tokens' (a number; is this a `prm sample` output?)")
        groups.setdefault(pid, []).append(_solution(raw, where, need_verdict))
        lines.setdefault(pid, line_no)
    if not groups:
        raise RecordError(f"{path}: no samples")
    fewest = min(len(group) for group in groups.values())
    ns = list(ns) if ns else [2 ** k for k in range(fewest.bit_length()) if 2 ** k <= fewest]
    if max(ns) > fewest:
        raise RecordError(f"{path}: n={max(ns)} asked, but a problem has only {fewest} samples")
    runs = []
    for n in ns:
        rows = {}
        for pid, group in groups.items():
            chosen = sorted(group, key=lambda s: s.get("sample_idx", 0))[:n]
            rows[pid] = {"problem_id": pid, "solutions": chosen,
                         "compute": {"generated_tokens": sum(s["num_tokens"] for s in chosen), "prm_calls": n}}
        meta = {"strategy": "best_of_n", "n": n, "aggregation": aggregation, "samples": str(path)}
        runs.append(SearchRun(str(path), label, "best_of_n", n, aggregation, meta, rows, dict(lines)))
    return runs


def read_pool(path: str | Path, need_verdict: bool = True) -> list[dict[str, Any]]:
    """Samples of the policy (``problem_id``, ``verdict`` or ``text``, optional ``step_scores``) for the bins."""
    rows = []
    for line_no, row in read_jsonl(path):
        where = f"{path} line {line_no}"
        require_field(row, ("problem_id",), where)
        rows.append({**_solution(row, where, need_verdict), "problem_id": str(row["problem_id"]), "_line": line_no})
    if not rows:
        raise RecordError(f"{path}: no samples")
    return rows



def fill_run_verdicts(runs: Sequence[SearchRun], pool: Sequence[dict[str, Any]] | None, gold: dict[str, str],
                      workers: int = 1, config: VerifyConfig | None = None, pool_path: str = "--pool") -> int:
    """Verify the solutions (and pool samples) without a verdict against ``gold``; RecordError naming the first
    one left without a verdict (its problem not in ``gold``). Returns how many were verified."""
    from eval.inputs import fill_verdicts

    targets: list[tuple[dict[str, Any], str]] = []
    for run in runs:
        for pid, row in run.rows.items():
            for i, solution in enumerate(row["solutions"]):
                if solution.get("verdict") is None:
                    solution["problem_id"] = pid
                    targets.append((solution, f"{run.path} line {run.lines[pid]}: solutions[{i}]"))
    targets += [(row, f"{pool_path} line {row['_line']}") for row in pool or [] if row.get("verdict") is None]
    if not targets:
        return 0
    filled = fill_verdicts([row for row, _ in targets], gold, workers, config)
    for row, where in targets:
        if row.get("verdict") is None:
            raise RecordError(f"{where}: missing field 'verdict' and problem {row['problem_id']!r} is not in the "
                              "problems file")
    return filled


def _acc(point: Point) -> str:
    return f"{pct(point.accuracy)} [{pct(point.low)}, {pct(point.high)}]"


def _diff(mean: float | None, low: float | None, high: float | None) -> str:
    if mean is None or low is None or high is None:
        return "n/a"
    mark = " *" if low > 0 or high < 0 else ""
    return f"{100 * mean:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]{mark}"


def _num(value: float | None, scale: float = 1.0) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value / scale:,.{0 if scale == 1.0 else 3}f}"


def _overall_lines(result: SearchCompareResult) -> list[str]:
    differences = {(c.method, c.n): c for c in result.comparisons}
    rows = []
    for method in result.methods:
        for p in method.points:
            c = differences.get((method.name, p.n))
            versus = "baseline" if method.name == result.baseline else _diff(*(
                (c.difference, c.low, c.high) if c else (None, None, None)))
            ratio = "1.00" if method.name == result.baseline else f"{c.token_ratio:.2f}" if c else "n/a"
            rows.append([method.name, str(p.n), _num(p.tokens), _num(p.prm_calls), _num(p.prm_tokens),
                         _num(p.flops, 1e12), _acc(p), versus, ratio])
    header = ["method", "n", "tokens/problem", "PRM calls/problem", "PRM tokens/problem", "TFLOPs/problem",
              "accuracy % [CI]", "vs baseline, points [paired CI]", "token ratio"]
    oracle = [[m.label, str(p.n), _num(p.tokens), _acc(p)] for m in result.oracle for p in m.points]
    return ["## Accuracy against compute", "",
            f"Baseline: **{result.baseline or 'none'}**; differences are paired (the same resampled problems for "
            "both methods, * = CI excludes 0) at the same n; token ratio = the method's generated tokens over the "
            "baseline's at that n.", "", *markdown_table(header, rows), "",
            "## Oracle: pass@n ceiling (a correct finished solution exists; not a selection rule)", "",
            *markdown_table(["run", "n", "tokens/problem", "pass@n % [CI]"], oracle)]


def _equal_token_lines(result: SearchCompareResult) -> list[str]:
    if not result.equal_tokens:
        return []
    rows = [[e.method, str(e.n), _num(e.tokens), pct(e.accuracy),
             "n/a (outside)" if e.baseline_accuracy is None else pct(e.baseline_accuracy),
             "-" if e.between is None else f"n={e.between[0]} (measured)" if e.between[0] == e.between[1]
             else f"n={e.between[0]}..{e.between[1]}", _diff(e.difference, e.low, e.high)]
            for e in result.equal_tokens]
    return ["", "## At equal generated tokens (baseline INTERPOLATED)", "",
            f"Unless a method's tokens equal one of the baseline's budgets, or lie within 2% of its smallest or "
            f"largest (\"measured\": compared at that budget), the baseline "
            f"({result.baseline}) was not run at that token count: its accuracy there is **linearly interpolated in "
            "log(tokens per problem) between its two nearest budgets**, problem by problem, not measured. Outside "
            "the baseline's token range nothing is extrapolated (n/a). The CI is paired over problems, with the "
            "interpolated baseline as one arm.", "",
            *markdown_table(["method", "n", "tokens/problem", "accuracy %", "baseline % (interpolated)",
                             "interpolated between", "difference, points [paired CI]"], rows)]


def _bin_lines(binning: Binning, methods: Sequence[Method], oracle: Sequence[Method]) -> list[str]:
    bins = binning.bins
    header = ["method", "n", *(f"bin {b.index} ({len(b.problem_ids)}, {b.value_range[1]:.2f}-"
                               f"{b.value_range[0]:.2f})" for b in bins)]
    rows = []
    for method in [*methods, *oracle]:
        for point in method.points:
            cells = [next((_acc(q) for q in b.methods.get(method.name, []) if q.n == point.n), "n/a") for b in bins]
            rows.append([method.name, str(point.n), *cells])
    ns = sorted(bins[0].best)
    best = [[str(n), *(f"{_names(b.best.get(n, []))} ({pct(_best_accuracy(b.methods, b.best, n))})" for b in bins)]
            for n in ns]
    what = "pass@1" if binning.name == "oracle" else "mean PRM score"
    left = f" {binning.left_out} problem(s) without a value are left out." if binning.left_out else ""
    return ["", f"## Difficulty bins, {binning.name}: {binning.source}", "",
            f"Equal-size bins by rank of {what}, ties broken by problem id: **bin 1 = easiest** (highest {what}), "
            f"bin {len(bins)} = hardest. Header: bin (problems, {what} range).{left} Accuracy % [CI over the "
            "bin's problems].", "", *markdown_table(header, rows), "", "Best method per bin and n (oracle excluded):",
            "", *markdown_table(["n", *(f"bin {b.index}" for b in bins)], best)]


def _names(names: Sequence[str], shown: int = 3) -> str:
    return " = ".join(names[:shown]) + (f" (+{len(names) - shown} tied)" if len(names) > shown else "")


def _best_accuracy(methods: dict[str, list[Point]], best: dict[int, list[str]], n: int) -> float:
    names = best.get(n, [])
    return next((p.accuracy for p in methods[names[0]] if p.n == n), math.nan) if names else math.nan


def search_markdown(result: SearchCompareResult, title: str = "Search vs best-of-N") -> str:
    """The report: runs, accuracy against compute with paired differences, oracle, equal tokens, bins, notes."""
    config = result.config
    runs = [[r["label"], r["strategy"], str(r["n"]), r["aggregation"], str(r["prm"] or "-"), r["path"]]
            for r in result.runs]
    lines = [f"# {title}", "",
             f"{len(result.problem_ids)} problems common to every run. A method is a run label with a selection "
             "rule over the problem's finished solutions (deterministic; a problem with no finished solution "
             f"counts as wrong). Accuracy % [{100 * config.confidence:.0f}% percentile bootstrap CI over problems, "
             f"{config.bootstrap} resamples]; tokens/problem: mean generated tokens (every token the policy wrote, "
             "pruned candidates and lookahead included), the x axis of search_compare.png.", "",
             *markdown_table(["label", "strategy", "n", "aggregation", "prm", "file"], runs), "",
             *_overall_lines(result), *_equal_token_lines(result)]
    for binning in result.binnings:
        lines += _bin_lines(binning, result.methods, result.oracle)
    if result.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in result.notes)]
    rules = sorted({m.rule for m in result.methods + result.oracle})
    lines += ["", "## Rules", "", *(f"- `{r}`: {SELECTION_RULES[r].help}" for r in rules)]
    return "\n".join(lines) + "\n"


_RULE_STYLE = {"prm": "-", "prm_vote": "--", "majority": ":", "orm": "-."}
_MARKERS = "osD^v<>ph*"


def _style(method: Method, labels: Sequence[str]) -> dict[str, Any]:
    """Colour and marker by run label; line style by rule (solid: PRM pick, dashed: weighted vote)."""
    k = labels.index(method.label)
    kind = "prm_vote" if method.rule.startswith("prm_vote_") else "prm" if method.rule.startswith("prm_") \
        else method.rule
    return {"color": f"C{k % 10}", "marker": _MARKERS[k % len(_MARKERS)], "linestyle": _RULE_STYLE.get(kind, "-")}


def _draw(ax: Any, method: Method, points: Sequence[Point], labels: Sequence[str], errors: bool) -> None:
    xs, ys = [p.tokens for p in points], [100 * p.accuracy for p in points]
    style = _style(method, labels)
    if errors:
        yerr = [[100 * (p.accuracy - p.low) for p in points], [100 * (p.high - p.accuracy) for p in points]]
        ax.errorbar(xs, ys, yerr=yerr, label=method.name, markersize=4, capsize=2, elinewidth=0.8, **style)
    else:
        ax.plot(xs, ys, label=method.name, markersize=3, **style)


def _log_tokens(ax: Any, minor_labels: bool = True) -> None:
    """Log x axis with plain token counts as tick labels (minor ticks labelled only where panels are wide)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:,.0f}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain if minor_labels else NullFormatter())
    ax.tick_params(axis="x", which="both", labelsize=7)


def plot_compare(result: SearchCompareResult, path: str | Path) -> Path:
    """Accuracy vs mean generated tokens per problem (log x), one line per method, CI error bars; oracle dotted."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 5.5))
    labels = list(dict.fromkeys(m.label for m in result.methods + result.oracle))
    for method in result.methods:
        _draw(ax, method, method.points, labels, errors=True)
        for p in method.points:
            ax.annotate(f"n={p.n}", (p.tokens, 100 * p.accuracy), fontsize=6, alpha=0.6, xytext=(3, 3),
                        textcoords="offset points")
    for method in result.oracle:
        ax.plot([p.tokens for p in method.points], [100 * p.accuracy for p in method.points], linestyle=":",
                linewidth=1, alpha=0.6, color=_style(method, labels)["color"],
                label=f"{method.label}: pass@n (ceiling)")
    _log_tokens(ax)
    ax.set_xlabel("generated tokens per problem (log)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"Search vs best-of-N: {len(result.problem_ids)} problems, {100 * result.config.confidence:.0f}% "
                 "CI (solid: PRM pick, dashed: weighted vote)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
    return save_figure(fig, path)


def plot_bins(result: SearchCompareResult, path: str | Path) -> Path:
    """One panel per difficulty bin (a row per binning): accuracy vs the bin's mean generated tokens."""
    plt = pyplot()
    binnings = result.binnings
    if not binnings:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no difficulty bins (see the notes)", ha="center", va="center")
        return save_figure(fig, path)
    columns = max(len(b.bins) for b in binnings)
    fig, axes = plt.subplots(len(binnings), columns + 1, figsize=(3.2 * columns + 2.6, 3 * len(binnings)),
                             squeeze=False, sharey=True, gridspec_kw={"width_ratios": [1.0] * columns + [0.8]})
    labels = list(dict.fromkeys(m.label for m in result.methods))
    for row, binning in zip(axes, binnings, strict=False):
        for ax, dbin in zip(row, binning.bins, strict=False):
            for method in result.methods:
                _draw(ax, method, dbin.methods.get(method.name, []), labels, errors=False)
            _log_tokens(ax, minor_labels=False)
            ax.set_title(f"{binning.name} bin {dbin.index}" + (" (easiest)" if dbin.index == 1 else
                         " (hardest)" if dbin.index == len(binning.bins) else ""), fontsize=9)
            ax.grid(alpha=0.3, which="both")
            ax.set_xlabel("tokens per problem", fontsize=8)
        row[0].set_ylabel("accuracy (%)")
        for ax in row[len(binning.bins):]:
            ax.axis("off")
    axes[0][-1].legend(*axes[0][0].get_legend_handles_labels(), fontsize=7, loc="center")
    fig.suptitle("Accuracy vs generated tokens per difficulty bin (bin 1 = easiest)", fontsize=10)
    return save_figure(fig, path)


def write_search_report(result: SearchCompareResult, out_dir: str | Path,
                        title: str = "Search vs best-of-N") -> dict[str, Path]:
    """Write ``search_compare.md``, ``search_compare.json``, ``search_compare.png`` and ``search_bins.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "search_compare.md", "json": out / "search_compare.json",
             "plot": out / "search_compare.png", "bins_plot": out / "search_bins.png"}
    paths["markdown"].write_text(search_markdown(result, title), encoding="utf-8")
    write_json(paths["json"], result.to_dict())
    plot_compare(result, paths["plot"])
    plot_bins(result, paths["bins_plot"])
    logger.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths
