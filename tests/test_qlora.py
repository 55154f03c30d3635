"""QLoRA options of `prm train` (prm.train.qlora): what --load-in-4bit needs is checked before anything loads,
and the quantisation is the QLoRA recipe. The 4-bit training itself needs a CUDA GPU (not run here)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from prm.cli import main
from prm.train.config import TrainConfig
from prm.train.qlora import check_qlora, dequantized, four_bit_config

BASE = TrainConfig(data="d.jsonl", out_dir="o", lora=True, load_in_4bit=True)


@pytest.mark.parametrize(("changes", "cuda", "message"), [
    ({"lora": False}, True, "add --lora"),
    ({"head": "likelihood"}, True, "does not apply to --head likelihood"),
    ({}, False, "needs a CUDA GPU"),
    ({"device": "cpu"}, True, "needs a CUDA GPU"),
])
def test_what_load_in_4bit_needs(changes: dict, cuda: bool, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_qlora(dataclasses.replace(BASE, **changes), cuda)


def test_a_valid_qlora_config_and_plain_runs_pass() -> None:
    check_qlora(BASE, cuda_available=True)
    check_qlora(dataclasses.replace(BASE, load_in_4bit=False, lora=False), cuda_available=False)


def test_the_quantisation_is_the_qlora_recipe() -> None:
    config = four_bit_config()
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4" and config.bnb_4bit_use_double_quant
    assert config.bnb_4bit_compute_dtype == torch.bfloat16


def test_an_unquantised_model_is_saved_as_is() -> None:
    model = torch.nn.Linear(2, 2)
    assert dequantized(model) is model


def test_the_command_refuses_before_loading(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text('{"prompt": "p", "completions": ["a"], "labels": [1.0]}\n')
    assert main(["train", "--data", str(data), "--out-dir", str(tmp_path / "o"), "--load-in-4bit",
                 "--model", str(tmp_path / "no-such-model")]) == 2
    assert "--load-in-4bit trains LoRA adapters on a frozen 4-bit backbone: add --lora" in caplog.text
