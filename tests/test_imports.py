"""`verifiers/` and `data/` (and the CLI entry point) import without torch."""

from __future__ import annotations

import subprocess
import sys


def test_light_packages_do_not_import_torch() -> None:
    code = (
        "import sys, verifiers, data, data.jsonl, data.loaders, data.stepwise, data.synth, data.labelling\n"
        "import data.build, prm.cli, prm.commands.verify, prm.commands.label\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'sympy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
