"""PRM training with the Hugging Face Trainer: options (``config``), data and batching (``data``),
``TrainingArguments`` and callbacks (``args``), held-out metrics (``metrics``) and the run (``trainer``).

::

    from prm.train import TrainConfig, train_prm
    result = train_prm(TrainConfig(data="rows.jsonl", model="runs/policy-default", out="runs/prm"))
"""

from prm.train.config import TrainConfig
from prm.train.trainer import TrainResult, train_prm

__all__ = ["TrainConfig", "TrainResult", "train_prm"]
