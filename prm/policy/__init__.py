"""The offline default policy: tokenizer, small Llama-style model, training (or SFT) and a quick evaluation.

``prm policy train`` is the command line; the pieces::

    from prm.policy import PolicyTrainConfig, train_policy, evaluate_policy
    result = train_policy(PolicyTrainConfig(out_dir="runs/policy-default"))
    # the folder loads with AutoModelForCausalLM / AutoTokenizer.from_pretrained, and with vLLM

Submodules: ``tokenizer`` (byte-level BPE with single digits), ``model`` (sizes of a new model; saved
policies load with :func:`prm.lm.load_lm`), ``data`` (prompt + solution examples, length-bucketed batches),
``checkpoint`` (resumable state), ``train`` (the loop), ``evaluate`` (pass@k and the best-of-N harness's
majority vote over samples drawn by :class:`prm.sampling.hf.HFSampler`).
"""

from prm.policy.config import PolicyTrainConfig
from prm.policy.evaluate import EvalResult, evaluate_policy, pass_at_k
from prm.policy.train import TrainResult, train_policy

__all__ = ["EvalResult", "PolicyTrainConfig", "TrainResult", "evaluate_policy", "pass_at_k", "train_policy"]
