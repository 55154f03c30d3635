"""Import structure: `verifiers/` and `data/` (and the CLI entry point, the rewards and the format registry)
import without torch; no import cycles among the project's modules or its `prm` subpackages; `import prm`
refuses a `verifiers` / `data` / `eval` that is not prm-math's own."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("prm", "verifiers", "data", "eval")


def test_light_packages_do_not_import_torch() -> None:
    code = (
        "import sys, verifiers, data, data.jsonl, data.loaders, data.stepwise, data.synth, data.labelling\n"
        "import data.build, prm.cli, prm.commands.verify, prm.commands.label, prm.rewards, prm.model.formats\n"
        "import prm.cli_contract, prm.integrations.trl\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'sympy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imported(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``module`` imports anywhere in its body (function-level imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join([*parts, base] if base else parts)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return defaultdict(set, {name: _imported(name, path, known) for name, path in known.items()})


def test_no_import_cycles_between_modules() -> None:
    assert _cycles(_graph()) == []


def test_no_import_cycles_between_prm_subpackages() -> None:
    def package(name: str) -> str:
        return ".".join(name.split(".")[:2]) if name.startswith("prm.") else name.split(".")[0]

    graph: dict[str, set[str]] = defaultdict(set)
    for module, imported in _graph().items():
        graph[package(module)] |= {package(name) for name in imported} - {package(module)}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles(defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})) == [["a", "b", "c"]]


def test_a_foreign_verifiers_package_is_refused(tmp_path: Path) -> None:
    (tmp_path / "verifiers").mkdir()
    (tmp_path / "verifiers" / "__init__.py").write_text('"""Another distribution\'s verifiers."""\n')
    done = subprocess.run([sys.executable, "-c", "import prm"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode != 0
    assert f"the 'verifiers' package found at {tmp_path / 'verifiers' / '__init__.py'} is not prm-math's" in done.stderr
