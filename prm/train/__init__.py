"""PRM training with the Hugging Face Trainer: options (``config``), data and batching (``data``),
``TrainingArguments`` and callbacks (``args``), held-out metrics (``metrics``), the fine-tuned heads' run
(``trainer``), the likelihood PRM's fit (``likelihood``), the result (``result``) and the entry point (``run``).

::

    from prm.train import TrainConfig, train_prm
    result = train_prm(TrainConfig(data="rows.jsonl", model="runs/policy-default", out_dir="runs/prm"))
"""

from prm.train.config import TrainConfig
from prm.train.result import TrainResult
from prm.train.run import train_prm

__all__ = ["TrainConfig", "TrainResult", "train_prm"]
