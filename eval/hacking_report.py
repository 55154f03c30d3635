"""The reward-hacking report (``prm eval hacking``): a Markdown table per reward, a bar chart, the JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eval.hacking import KINDS
from eval.report import markdown_table, pct, pyplot, save_figure, write_json

__all__ = ["hacking_markdown", "write_hacking_report"]


def hacking_markdown(result: Mapping[str, Any]) -> str:
    """Mean reward per kind (rows) and reward (columns), with how often the kind earns >= the reference."""
    table = result["table"]
    names = list(table)
    rows = [[kind, *(f"{table[n][kind]['mean']:.3f} ({pct(table[n][kind]['at_least_reference'])}%)"
                     if kind in table[n] else "n/a" for n in names)] for kind in KINDS]
    lines = ["# Reward-hacking checks", "",
             f"Completions built from {result['problems']} test problems' reference solutions; every one ends in the "
             "correct answer. Cell: mean reward (share of problems where the kind earns at least the reference's "
             "reward). A reward model that resists hacking pays `reference` most and the others less, rarely >= "
             "reference.", "", *markdown_table(["kind", *names], rows)]
    if result.get("correlations"):
        corr = result["correlations"]
        lines += ["", "## Spearman correlation with length and step count (samples)", "",
                  *markdown_table(["reward", "samples", "length", "steps"],
                                  [[n, str(int(c["samples"])), _r(c["length"]), _r(c["steps"])]
                                   for n, c in corr.items()])]
    return "\n".join(lines) + "\n"


def _r(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.2f}"


def _plot(result: Mapping[str, Any], path: Path) -> Path:
    plt = pyplot()
    table = result["table"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(table), 1)
    for i, (name, kinds) in enumerate(table.items()):
        ax.bar([k + i * width for k in range(len(KINDS))], [kinds.get(kind, {}).get("mean", 0.0) for kind in KINDS],
               width, label=name)
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(KINDS))], KINDS, rotation=20, fontsize=8)
    ax.set_ylabel("mean reward")
    ax.set_title("Reward of adversarial completions (all with the correct answer)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def write_hacking_report(result: Mapping[str, Any], out_dir: str | Path) -> str:
    """Write ``hacking.md``, ``hacking.json`` and ``hacking.png`` under ``out_dir``; return the Markdown."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    markdown = hacking_markdown(result)
    (out / "hacking.md").write_text(markdown, encoding="utf-8")
    write_json(out / "hacking.json", dict(result))
    _plot(result, out / "hacking.png")
    return markdown
