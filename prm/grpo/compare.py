"""Compare finished ``prm grpo`` runs: held-out pass@1 before and after, training curves, the time split.

Runs are grouped by their folder name without a trailing ``-s<seed>`` (``answer-s0`` and
``answer-s1`` are two seeds of ``answer``). Each run folder holds what ``prm grpo`` writes:
``eval_start.json``, ``eval_end.json`` and ``metrics.jsonl``. ``write_comparison`` writes
``grpo_compare.md`` (the table) and ``grpo_compare.png`` (batch accuracy and training reward vs step,
averaged over seeds and smoothed, and the overoptimization view of :mod:`prm.grpo.monitor`: gold reward
(accuracy) and proxy reward (the PRM term) against sqrt(KL to the initial policy)). The table's
"monitor fired" column applies the monitor's rule to each finished run (:func:`prm.grpo.monitor.first_flag`:
a step where the accuracy had fallen significantly while the PRM reward rose) and gives the steps.
"""

from __future__ import annotations

import json
import logging
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prm.grpo.monitor import first_flag, proxy_key

__all__ = ["RunSummary", "comparison_markdown", "load_run", "overoptimized", "write_comparison"]

logger = logging.getLogger(__name__)

_SEED = re.compile(r"-s(\d+)$")
TIME_SHARES = ("generation", "reward", "update", "sync")


@dataclass
class RunSummary:
    name: str
    group: str
    pass1_start: float
    pass1_end: float
    steps: int
    step_seconds: float
    time_shares: dict[str, float]
    accuracy: list[float] = field(repr=False)
    reward: list[float] = field(repr=False)
    kl: list[float] = field(default_factory=list, repr=False)
    proxy: list[float] = field(default_factory=list, repr=False)  # the PRM term's mean reward (monitor)


def _pass1(path: Path) -> float:
    data = json.loads(path.read_text(encoding="utf-8"))
    return float(data["pass_at"]["1"])


def _mean(values: Sequence[float | None]) -> float:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def _reward(line: dict) -> float:
    """The step's training reward: the combined outcome reward, else the (first) process source's mean."""
    keys = ["reward/combined/mean"] + sorted(k for k in line if k.startswith("reward/") and k.endswith("/mean"))
    value = next((line[k] for k in keys if line.get(k) is not None), None)
    return math.nan if value is None else float(value)


def load_run(folder: str | Path) -> RunSummary:
    """The summary of one finished run; a missing file raises FileNotFoundError naming it."""
    folder = Path(folder)
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line]
    shares = {name: _mean([line.get(f"time/{name}_share") for line in lines]) for name in TIME_SHARES}
    return RunSummary(
        name=folder.name, group=_SEED.sub("", folder.name),
        pass1_start=_pass1(folder / "eval_start.json"), pass1_end=_pass1(folder / "eval_end.json"),
        steps=len(lines), step_seconds=_mean([line.get("time/step_s") for line in lines]), time_shares=shares,
        accuracy=[math.nan if line.get("accuracy") is None else line["accuracy"] for line in lines],
        reward=[_reward(line) for line in lines],
        kl=[math.nan if line.get("kl") is None else float(line["kl"]) for line in lines],
        proxy=[_value(line, proxy_key(line)) for line in lines],
    )  # fmt: skip


def _value(line: dict, key: str | None) -> float:
    return math.nan if key is None or line.get(key) is None else float(line[key])


def overoptimized(run: RunSummary, window: int = 20, z: float = 3.0) -> int | None:
    """The first step at which the monitor's rule fires over the finished run (0: never); None without a proxy
    (no PRM term)."""
    if all(math.isnan(v) for v in run.proxy):
        return None
    return first_flag(run.proxy, run.accuracy, window, z) or 0


def _groups(runs: Sequence[RunSummary]) -> dict[str, list[RunSummary]]:
    groups: dict[str, list[RunSummary]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    return groups


# two-sided 95% Student t quantiles by degrees of freedom (seeds - 1); 1.96 beyond the table
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}


def _ci(values: list[float]) -> str:
    """The 95% t-interval of the mean over seeds (n/a with one seed)."""
    if len(values) < 2:
        return "n/a"
    half = _T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    mean = statistics.fmean(values)
    return f"[{mean - half:+.1f}, {mean + half:+.1f}]"


def _spread(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.fmean(values):.1f} ± {100 * sd:.1f}"


def comparison_markdown(runs: Sequence[RunSummary]) -> str:
    """One row per group: pass@1 before/after (mean ± sd over seeds), the change, step time and its split."""
    header = ["run", "seeds", "steps", "pass@1 before (%)", "pass@1 after (%)", "change (points)",
              "change 95% CI", "monitor fired (step)", "s/step", *(f"{name} share" for name in TIME_SHARES)]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for group, members in _groups(runs).items():
        deltas = [100 * (r.pass1_end - r.pass1_start) for r in members]
        shares = [f"{100 * _mean([r.time_shares[name] for r in members]):.0f}%" for name in TIME_SHARES]
        lines.append("| " + " | ".join([
            group, str(len(members)), str(members[0].steps), _spread([r.pass1_start for r in members]),
            _spread([r.pass1_end for r in members]), f"{statistics.fmean(deltas):+.1f} (per seed: "
            + ", ".join(f"{d:+.1f}" for d in deltas) + ")", _ci(deltas), _flagged(members),
            f"{_mean([r.step_seconds for r in members]):.2f}",
            *shares]) + " |")
    return "\n".join(lines) + "\n"


def _flagged(members: Sequence[RunSummary]) -> str:
    flags = [overoptimized(r) for r in members]
    if all(f is None for f in flags):
        return "n/a (no PRM term)"
    steps = ", ".join(str(f) for f in flags if f)
    return f"{sum(bool(f) for f in flags)} of {len(flags)} seeds" + (f" ({steps})" if steps else "")


def _smooth(values: list[float], window: int = 10) -> list[float]:
    out = []
    for i in range(len(values)):
        out.append(_mean(values[max(0, i - window + 1): i + 1]))
    return out


def _plot(runs: Sequence[RunSummary], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(16, 4))
    for index, (group, members) in enumerate(_groups(runs).items()):
        means = {}
        for attribute in ("accuracy", "reward", "kl", "proxy"):
            length = min(len(getattr(r, attribute)) for r in members)
            means[attribute] = _smooth([_mean([getattr(r, attribute)[i] for r in members]) for i in range(length)])
        label, color = f"{group} ({len(members)} seeds)", f"C{index % 10}"
        for axis, attribute in zip(axes[:2], ("accuracy", "reward"), strict=True):
            axis.plot(range(1, len(means[attribute]) + 1), means[attribute], label=label, color=color)
        root_kl = [math.sqrt(max(v, 0.0)) if not math.isnan(v) else math.nan for v in means["kl"]]
        axes[2].plot(root_kl, means["accuracy"], color=color, label=f"{group}: gold (accuracy)")
        if not all(math.isnan(v) for v in means["proxy"]):
            axes[2].plot(root_kl, means["proxy"], color=color, linestyle="--", label=f"{group}: proxy (PRM)")
    for axis, title in zip(axes[:2], ("batch accuracy (answer check)", "training reward"), strict=True):
        axis.set_xlabel("GRPO step")
        axis.set_title(f"{title}, 10-step moving average")
        axis.grid(alpha=0.3)
    axes[2].set_xlabel("sqrt(KL to the initial policy)")
    axes[2].set_title("gold and proxy reward vs sqrt(KL)")
    axes[2].grid(alpha=0.3)
    axes[2].legend(fontsize=7)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_comparison(folders: Sequence[str | Path], out_dir: str | Path) -> Path:
    """Write ``grpo_compare.md`` and ``grpo_compare.png`` for ``folders`` into ``out_dir``."""
    runs = [load_run(folder) for folder in folders]
    if not runs:
        raise ValueError("no runs to compare")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / "grpo_compare.md"
    markdown.write_text("# GRPO runs compared\n\n" + comparison_markdown(runs)
                        + "\n![batch accuracy and reward vs step](grpo_compare.png)\n", encoding="utf-8")
    _plot(runs, out / "grpo_compare.png")
    logger.info("wrote %s and %s", markdown, out / "grpo_compare.png")
    return markdown
