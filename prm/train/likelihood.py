"""``prm train --head likelihood``: fit the likelihood PRM's logistic head on step labels; the LM stays frozen.

Every labelled step of the training rows gets its log-likelihood features from the backbone LM (one
forward pass per row, :class:`prm.model.likelihood.StepFeaturizer`) and a logistic regression maps them
to the labels; the outcome RM (``--outcome``) fits the same features of the last step to its one label
(:func:`prm.train.data.row_labels`). The held-out rows get the metrics of ``prm train`` (step accuracy,
step AUC, first-error F1). On the offline task 12,000 rows take about a minute on one CPU thread.

Output folder: the LM and tokenizer as they were (``AutoModelForCausalLM`` loads it),
``likelihood_head.json`` and ``train_metrics.json``. While it runs, the features computed so far are
journaled in ``features-train.jsonl`` / ``features-eval.jsonl`` (deleted at the end): a killed run
started again with the same options computes only the rows it had not reached (``--no-resume``:
all of them). The learning-rate,
epoch, LoRA and checkpoint options of ``prm train`` do not apply: nothing is trained by gradient
descent, the head's six numbers are fitted.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from data.journal import RowJournal, discard
from data.records import StepwiseRow
from prm.lm import load_lm, save_tokenizer_portable
from prm.model.likelihood import LikelihoodHead, StepFeaturizer, fit_head, standardise
from prm.prompts import CHAT_INSTRUCTION, PLAIN_TEMPLATE, has_chat_template
from prm.runtime import dtype_name, inference_dtype, resolve_device, stage_record, torch_threads
from prm.train.args import peak_memory_mb
from prm.train.config import TrainConfig
from prm.train.data import load_training_rows, row_labels
from prm.train.metrics import step_metrics
from prm.train.pairs import Pair, fit_pairwise, pair_accuracy, training_pairs
from prm.train.result import TrainResult, write_train_metrics

__all__ = ["train_likelihood_prm"]

logger = logging.getLogger(__name__)

FEATURE_CHUNK = 256  # rows per journal append


def _load_lm(config: TrainConfig) -> tuple[Any, Any, torch.device]:
    device = resolve_device(config.device)
    # bf16 log-probabilities are coarse (8 bits of mantissa): float32 on every device unless --bf16 asks
    dtype = inference_dtype("bfloat16" if config.bf16 else "float32", device)
    model, tokenizer = load_lm(config.model, dtype)
    model = model.to(device).eval()
    return model, tokenizer, device


def _journaled_features(featurizer: StepFeaturizer, rows: list[StepwiseRow], journal: RowJournal,
                        batch_size: int) -> list[list[list[float]]]:
    """Every row's step features; rows already in ``journal`` are read back, the rest computed and appended
    chunk by chunk (so a killed run loses at most one chunk)."""
    todo = [i for i in range(len(rows)) if not journal.done(i)]
    if len(todo) < len(rows):
        logger.info("%s: %d of %d rows' features already computed", journal.path, len(rows) - len(todo), len(rows))
    for start in range(0, len(todo), FEATURE_CHUNK):
        chunk = todo[start: start + FEATURE_CHUNK]
        vectors = featurizer.features([(rows[i].prompt, rows[i].completions) for i in chunk], batch_size)
        journal.append([{"row": i, "vectors": v} for i, v in zip(chunk, vectors, strict=True)])
    return [journal.rows[i]["vectors"] for i in range(len(rows))]


def _labelled(rows: list[StepwiseRow], vectors: list[list[list[float]]], outcome: bool
              ) -> list[tuple[list[list[float]], list[float]]]:
    """Per row: the feature vectors and labels of its labelled steps that fit in the LM's context."""
    out = []
    for row, row_vectors in zip(rows, vectors, strict=True):
        # steps past the LM's context have no vector: zip stops at the last one that fit
        labels = row_labels(row, outcome)[: len(row_vectors)]
        pairs = [(v, y) for v, y in zip(row_vectors, labels, strict=True) if y is not None]
        if pairs:
            out.append(([v for v, _ in pairs], [float(y) for _, y in pairs]))
    return out


def _journal(config: TrainConfig, name: str, rows: list[StepwiseRow]) -> RowJournal:
    """``OUT/features-NAME.jsonl``: the rows' features so far, valid only for the same LM, rows and encoding."""
    meta = {"model": config.model, "data": config.data if name == "train" else config.eval_data, "rows": len(rows),
            "limit": config.limit, "eval_limit": config.eval_limit, "eval_fraction": config.eval_fraction,
            "seed": config.seed, "separator": config.step_separator, "max_length": config.max_length}
    path = Path(config.out_dir or "") / f"features-{name}.jsonl"
    if not config.resume:
        discard(path)
    return RowJournal(path, key=lambda row: row["row"], meta=meta)


def _head_meta(config: TrainConfig, tokenizer: Any) -> dict[str, Any]:
    chat = has_chat_template(tokenizer)
    return {"objective": "outcome" if config.outcome else "process", "step_separator": config.step_separator,
            "segmentation": config.segmentation, "prompt_template": CHAT_INSTRUCTION if chat else PLAIN_TEMPLATE,
            "uses_chat_template": chat, "max_length": config.max_length}


def _evaluate(head: LikelihoodHead, held_out: list[tuple[list[list[float]], list[float]]]) -> dict[str, float]:
    probs = [head.probabilities(vectors) for vectors, _ in held_out]
    metrics = step_metrics(probs, [labels for _, labels in held_out])
    return {f"eval_{name}": value for name, value in metrics.items()}


def _pairs(rows: list[StepwiseRow], vectors: list[list[list[float]]], outcome: bool) -> list[Pair]:
    return training_pairs(rows, lambda index: len(vectors[index]), outcome)


def _pairwise_head(config: TrainConfig, tokenizer: Any, rows: list[StepwiseRow], vectors: list[list[list[float]]],
                   flat: list[list[float]], labels: list[float]) -> LikelihoodHead:
    """Bradley-Terry weights on the training pairs, then the bias alone on the labels."""
    pairs = _pairs(rows, vectors, config.outcome)
    _, mean, scale = standardise(flat)

    def z(side: tuple[int, int]) -> list[float]:
        return vectors[side[0]][side[1]]

    chosen = (torch.tensor([z(a) for a, _ in pairs], dtype=torch.float64) - mean) / scale
    rejected = (torch.tensor([z(b) for _, b in pairs], dtype=torch.float64) - mean) / scale
    weights = fit_pairwise(chosen.reshape(len(pairs), -1), rejected.reshape(len(pairs), -1))
    logger.info("pairwise head: %d training pairs", len(pairs))
    return fit_head(flat, labels, fixed_weights=weights.tolist(), **_head_meta(config, tokenizer))


def _pair_metrics(head: LikelihoodHead, rows: list[StepwiseRow], vectors: list[list[list[float]]], outcome: bool
                  ) -> dict[str, float]:
    """Held-out pair accuracy (outcome: the within-problem AUC of correct against wrong solutions)."""
    pairs = _pairs(rows, vectors, outcome)
    score = {}
    for (a, b) in pairs:
        for side in (a, b):
            if side not in score:
                score[side] = head.probabilities([vectors[side[0]][side[1]]])[0]
    return {"eval_pair_accuracy": pair_accuracy(score.__getitem__, pairs), "eval_pairs": float(len(pairs))}


def train_likelihood_prm(config: TrainConfig) -> TrainResult:
    """Fit, evaluate and save a likelihood PRM (or outcome RM) as the module docstring describes."""
    if config.lora:
        raise ValueError("--lora does not apply to --head likelihood (the LM is not trained)")
    start = time.perf_counter()
    with torch_threads(config.threads):
        model, tokenizer, device = _load_lm(config)
        train_rows, eval_rows = load_training_rows(config)
        featurizer = StepFeaturizer(model, tokenizer, config.step_separator, config.max_length, device)
        journals = [_journal(config, "train", train_rows), _journal(config, "eval", eval_rows)]
        train_vectors = _journaled_features(featurizer, train_rows, journals[0], config.batch_size)
        eval_vectors = _journaled_features(featurizer, eval_rows, journals[1], config.batch_size)
    train = _labelled(train_rows, train_vectors, config.outcome)
    held_out = _labelled(eval_rows, eval_vectors, config.outcome)
    vectors = [v for row_vectors, _ in train for v in row_vectors]
    labels = [y for _, row_labels_ in train for y in row_labels_]
    if not vectors:
        raise ValueError(f"{config.data}: no training row (of {len(train_rows)} loaded) has a labelled step that "
                         f"fits in --max-length {config.max_length}")
    if config.objective == "pairwise":
        head = _pairwise_head(config, tokenizer, train_rows, train_vectors, vectors, labels)
    else:
        head = fit_head(vectors, labels, **_head_meta(config, tokenizer))
    logger.info("likelihood head (%s) on %d labelled steps of %d rows: weights %s, bias %.3f", config.objective,
                len(vectors), len(train), [round(w, 3) for w in head.weights], head.bias)
    metrics = {**_evaluate(head, held_out), **_pair_metrics(head, eval_rows, eval_vectors, config.outcome)} \
        if held_out else {}
    out = Path(config.out_dir or "")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    save_tokenizer_portable(tokenizer, out)
    head.save(out)
    for journal in journals:
        journal.remove()
    seconds = time.perf_counter() - start
    result = TrainResult(out=out, metrics=metrics, train_rows=len(train), eval_rows=len(held_out),
                         train_seconds=seconds, peak_memory_mb=peak_memory_mb(),
                         runtime=stage_record(device, dtype_name(next(model.parameters()).dtype),
                                              None, rows_per_s=(len(train_rows) + len(eval_rows)) / seconds))
    write_train_metrics(result, config)
    logger.info("saved the likelihood PRM to %s (%.0f s)", out, seconds)
    return result
