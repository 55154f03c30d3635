"""The real-model pipeline at GPU scale, in one call with a time and memory budget (``bench/gpu_check.py
--pipeline`` runs it after the PRM formats).

``prm quickstart --profile smollm`` with a real policy by hub id (default Qwen/Qwen2.5-Math-1.5B-Instruct, whose
chat template and boxed answers are the published recipe's) on synthetic problems of levels 1-3 and GSM8K, vLLM
sampling, exact and Monte-Carlo labels, a likelihood-head PRM and ORM on the policy as verifier LM, best-of-16,
PRM-guided beam search through vLLM and GRPO (LoRA, bf16 autocast). The GPU's memory is sampled with nvidia-smi
while it runs; the run stops at ``--minutes``. Prints the report's stage table, peak GPU memory and the verdict
against the budget, and exits non-zero when a stage failed or the budget was exceeded::

    python bench/gpu_pipeline.py --minutes 9 --max-gib 70
    python bench/gpu_pipeline.py --model HuggingFaceTB/SmolLM2-135M-Instruct --minutes 5   # a smaller policy
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# GPU-scale sizes: 100 test problems x 16 samples, 400 x 4 training samples, 512 new tokens
SCALE = ["--test-problems", "100", "--n", "16", "--train-problem-count", "400", "--train-samples", "4",
         "--mc-samples", "100", "--mc-k", "4", "--max-new-tokens", "512", "--synthetic-levels", "1,2,3",
         "--search-problems", "20", "--search-n", "16", "--search-beam-width", "4", "--search-backend", "vllm",
         "--hf-sample-problems", "20", "--hf-samples", "4", "--grpo-steps", "5", "--threads", "4", "--no-vllm-eager",
         "--system-prompt", "Please reason step by step, and put your final answer within \\boxed{}."]


class MemoryWatch:
    """Peak GPU memory in use (MiB, all processes) from ``nvidia-smi``, sampled every ``every`` seconds."""

    def __init__(self, every: float = 2.0) -> None:
        self.peak_mib, self.every, self._stop = 0, every, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=10).stdout
                self.peak_mib = max([self.peak_mib, *(int(v) for v in out.split() if v.isdigit())])
            except (OSError, subprocess.SubprocessError):
                return  # no nvidia-smi: no memory figure

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def run_pipeline(model: str, out_dir: Path, minutes: float, extra: list[str]) -> dict:
    """Run the pipeline under the time budget; what happened (return code, seconds, peak memory, report)."""
    command = [sys.executable, "-m", "prm.cli", "quickstart", "--profile", "smollm", "--model", model,
               "--out-dir", str(out_dir), *SCALE, *extra]
    logging.info("running: %s", " ".join(command))
    start = time.perf_counter()
    with MemoryWatch() as memory:
        try:
            code = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=minutes * 60).returncode
        except subprocess.TimeoutExpired:
            code = 124
    report = out_dir / "report.md"
    return {"model": model, "returncode": code, "seconds": round(time.perf_counter() - start, 1),
            "peak_gpu_mib": memory.peak_mib, "report": str(report) if report.exists() else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="Qwen/Qwen2.5-Math-1.5B-Instruct", help="policy: hub id, folder or .gguf")
    parser.add_argument("--out-dir", default="runs/gpu-pipeline")
    parser.add_argument("--minutes", type=float, default=9.0, help="time budget of the whole pipeline")
    parser.add_argument("--max-gib", type=float, default=70.0, help="GPU memory budget (peak, all processes)")
    parser.add_argument("--fresh", action="store_true", help="delete --out-dir first (else finished stages are reused)")
    parser.add_argument("extra", nargs="*", help="more quickstart options, after --")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out_dir = Path(args.out_dir)
    if args.fresh and out_dir.exists():
        shutil.rmtree(out_dir)
    result = run_pipeline(args.model, out_dir, args.minutes, args.extra)
    within = result["returncode"] == 0 and result["peak_gpu_mib"] / 1024 <= args.max_gib
    result["verdict"] = "within budget" if within else "FAILED or over budget"
    (out_dir / "gpu_pipeline.json").parent.mkdir(parents=True, exist_ok=True)
    (out_dir / "gpu_pipeline.json").write_text(json.dumps(result, indent=1) + "\n")
    if result["report"]:
        text = Path(result["report"]).read_text()
        sys.stdout.write(text[text.find("## Stages"):] + "\n")
    sys.stdout.write(f"{args.model}: exit {result['returncode']} in {result['seconds']:.0f} s (budget "
                     f"{args.minutes:g} min), peak GPU memory {result['peak_gpu_mib'] / 1024:.1f} GiB (budget "
                     f"{args.max_gib:g}): {result['verdict']}\n")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
