"""``prm train``: fit a PRM (or the outcome RM baseline) on stepwise rows with the Hugging Face Trainer.

::

    from prm.train import TrainConfig, train_prm          # prm.train.run dispatches on --head
    result = train_prm(TrainConfig(data="data/stepwise.jsonl", model="runs/policy-default", out_dir="runs/prm"))
    result.metrics["eval_step_auc"]

Because it is the stock ``Trainer``, ``accelerate launch -m prm.cli train ...`` runs it under DDP, FSDP
or DeepSpeed. The loss is :func:`prm.model.modeling.prm_loss` passed as ``compute_loss_func`` (summed
over labelled tags, divided by the tag count of the whole accumulated batch, so gradient accumulation
and multi-device runs weight every tag equally). With ``--lora`` the backbone gets peft LoRA adapters
(``TaskType.TOKEN_CLS``), the head is in ``modules_to_save`` (trained and saved whole) and a newly added
tag token's embedding row is trained (``trainable_token_indices``); the adapters are merged before
saving, so the output folder is always a plain ``AutoModelForTokenClassification``. ``--objective pairwise``
trains on pairs with the Bradley-Terry loss instead (:mod:`prm.train.pairwise_head`); either objective reports
the held-out pair accuracy beside the step metrics.

Output folder: the model, tokenizer and ``prm_config.json`` (see :mod:`prm.model.scoring`),
``train_metrics.json``, and ``checkpoints/checkpoint-N`` (Trainer checkpoints; a rerun continues from the
last one with the optimizer, scheduler, RNG and data position restored, unless ``--no-resume``).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer
from transformers.trainer_utils import get_last_checkpoint

from prm.lm import save_tokenizer_portable
from prm.model.modeling import PRMConfig, head_module_name, load_backbone, prm_loss, save_prm
from prm.model.tags import TaggedSequence
from prm.prompts import CHAT_INSTRUCTION, PLAIN_TEMPLATE, has_chat_template
from prm.runtime import budget_record, precision_name, resolve_device, stage_record, torch_threads, use_bf16
from prm.train.args import (
    AlreadyTrained,
    StopWhenTrained,
    TimeBudgetCallback,
    peak_memory_mb,
    saved_elapsed,
    training_arguments,
)
from prm.train.config import TrainConfig
from prm.train.data import PRMCollator, TaggedDataset, encode_rows, load_training_rows
from prm.train.metrics import make_compute_metrics, make_preprocess_logits
from prm.train.pairwise_head import PairCollator, PairDataset, PairwiseTrainer, pair_metrics, sequence_pairs
from prm.train.qlora import dequantized, four_bit_config, prepare_for_training
from prm.train.result import TrainResult, write_train_metrics

__all__ = ["apply_lora", "train_head_prm"]

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"


def apply_lora(model: Any, config: TrainConfig, tag_id: int, tag_added: bool) -> Any:
    """Wrap ``model`` with LoRA adapters; the head and (if new) the tag embedding train in full."""
    from peft import LoraConfig, TaskType, get_peft_model

    if config.load_in_4bit:
        model = prepare_for_training(model, config.gradient_checkpointing)
    targets: str | list[str] = config.lora_targets
    if targets != "all-linear":
        targets = [name.strip() for name in targets.split(",") if name.strip()]
    kwargs: dict[str, Any] = {}
    if tag_added:
        kwargs["trainable_token_indices"] = [tag_id]
    lora = LoraConfig(task_type=TaskType.TOKEN_CLS, r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=targets,
                      modules_to_save=[head_module_name(model)], **kwargs)
    peft_model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in peft_model.parameters())
    logger.info("LoRA r=%d on %s: %d of %d parameters train", config.lora_r, targets, trainable, total)
    return peft_model


def _prm_config(config: TrainConfig, tokenizer: Any, tag_id: int) -> PRMConfig:
    chat = has_chat_template(tokenizer)
    return PRMConfig(tag_token=config.step_tag, tag_token_id=tag_id, head=config.head,
                     step_separator=config.step_separator, segmentation=config.segmentation,
                     prompt_template=CHAT_INSTRUCTION if chat else PLAIN_TEMPLATE, uses_chat_template=chat,
                     objective="outcome" if config.outcome else "process", max_length=config.max_length)


def _build_trainer(config: TrainConfig, model: Any, tokenizer: Any, datasets: tuple[Any, Any],
                   budget: TimeBudgetCallback, bf16: bool) -> Trainer:
    train_set, eval_set = datasets
    checkpoints = Path(config.out_dir or "") / CHECKPOINTS
    args = training_arguments(config, checkpoints, has_eval=eval_set is not None, bf16=bf16)
    if config.objective == "pairwise":
        return PairwiseTrainer(model=model, args=args, data_collator=PairCollator(tokenizer.pad_token_id),
                               train_dataset=train_set, processing_class=tokenizer,
                               callbacks=[budget, StopWhenTrained()], head=config.head)
    return Trainer(
        model=model, args=args, data_collator=PRMCollator(tokenizer.pad_token_id), train_dataset=train_set,
        eval_dataset=eval_set, processing_class=tokenizer, compute_loss_func=partial(_loss, head=config.head),
        compute_metrics=make_compute_metrics(), preprocess_logits_for_metrics=make_preprocess_logits(config.head),
        callbacks=[budget, StopWhenTrained()],
    )


def _loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None, *, head: str) -> torch.Tensor:
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    return prm_loss(logits, labels, head, num_items_in_batch)  # type: ignore[arg-type]


def _pair_set(config: TrainConfig, rows: list[Any], sequences: list[TaggedSequence]) -> PairDataset:
    pairs = sequence_pairs(rows, sequences, config.outcome)
    if not pairs:
        raise ValueError(f"{config.data}: no training pair (see prm.train.pairs for which pairs count)")
    logger.info("pairwise: %d training pairs", len(pairs))
    return PairDataset(sequences, pairs)


def _complete(checkpoint: Path) -> bool:
    """The Trainer writes ``trainer_state.json`` last: a checkpoint without a readable one was cut by a kill."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _resume_point(config: TrainConfig) -> str | None:
    """The newest complete checkpoint; newer ones that a kill left half-written are deleted. ``--no-resume``
    deletes every checkpoint (a fresh run would otherwise leave older, higher-numbered ones to resume from)."""
    folder = Path(config.out_dir or "") / CHECKPOINTS
    if not folder.is_dir():
        return None
    if not config.resume:
        logger.warning("--no-resume: deleting the checkpoints in %s to start over", folder)
        shutil.rmtree(folder)
        return None
    while (last := get_last_checkpoint(str(folder))) is not None and not _complete(Path(last)):
        logger.warning("%s is incomplete (killed while saving?); deleting it", last)
        shutil.rmtree(last)
    if last is not None:
        logger.info("resuming from %s", last)
    return last


def train_head_prm(config: TrainConfig) -> TrainResult:
    """Train, evaluate and save a PRM with a two_class or scalar head, as the module docstring describes."""
    with torch_threads(config.threads):
        return _train(config)


def _train(config: TrainConfig) -> TrainResult:
    torch.manual_seed(config.seed)
    model, tokenizer, tag_id, added = load_backbone(config.model, config.head, config.step_tag,
                                                    head_dropout=config.head_dropout,
                                                    quantization=four_bit_config() if config.load_in_4bit else None)
    train_rows, eval_rows = load_training_rows(config)
    encode = partial(encode_rows, tokenizer=tokenizer, tag_id=tag_id, max_length=config.max_length,
                     separator=config.step_separator, tag_token=config.step_tag, outcome=config.outcome,
                     keep_unlabelled=True)  # aligned with the rows, for pairs; the label fits use the labelled ones
    train_all, train_stats = encode(train_rows)
    eval_all, eval_stats = encode(eval_rows)
    train_seqs, eval_seqs = [s for s in train_all if s.num_labels], [s for s in eval_all if s.num_labels]
    logger.info("train: %s", train_stats.summary())
    logger.info("eval: %s", eval_stats.summary())
    if not train_seqs:
        raise ValueError(f"{config.data}: no training row (of {len(train_rows)} loaded) has a label that fits in "
                         f"--max-length {config.max_length}")
    if config.lora:
        model = apply_lora(model, config, tag_id, added)
    resume = _resume_point(config)
    budget = TimeBudgetCallback(config.minutes, saved_elapsed(resume))
    pairwise = config.objective == "pairwise"
    train_set = _pair_set(config, train_rows, train_all) if pairwise else TaggedDataset(train_seqs)
    eval_set = TaggedDataset(eval_seqs) if eval_seqs and not pairwise else None
    bf16 = use_bf16(config.bf16, config.device, getattr(model.config, "hidden_size", None))
    trainer = _build_trainer(config, model, tokenizer, (train_set, eval_set), budget, bf16)
    try:
        train_metrics = trainer.train(resume_from_checkpoint=resume).metrics
    except AlreadyTrained:  # rerun after its last checkpoint was written: nothing left to train
        logger.info("%s holds all %d steps: nothing left to train", resume, trainer.state.max_steps)
        train_metrics = {}
    done, planned = trainer.state.global_step, trainer.state.max_steps
    metrics = trainer.evaluate() if eval_set is not None else {}
    if eval_rows:
        metrics.update(pair_metrics(trainer.model, eval_rows, eval_all, config, tokenizer.pad_token_id,
                                    with_steps=pairwise))
    out = _save(trainer, config, tokenizer, _prm_config(config, tokenizer, tag_id))
    result = TrainResult(
        out=out, metrics={k: float(v) for k, v in metrics.items()}, global_step=trainer.state.global_step,
        train_rows=len(train_seqs), eval_rows=len(eval_seqs), train_seconds=budget.elapsed_s,
        tokens_per_second=budget.tokens_per_second, peak_memory_mb=peak_memory_mb(),
        train_loss=float(train_metrics.get("train_loss", math.nan)), main_process=trainer.is_world_process_zero(),
        runtime=stage_record(resolve_device(config.device), precision_name(bf16), budget.tokens_per_second,
                             budget_record(done, planned, config.minutes, budget.elapsed_s)),
    )
    if result.main_process:
        write_train_metrics(result, config)
    return result


def _save(trainer: Trainer, config: TrainConfig, tokenizer: Any, prm_config: PRMConfig) -> Path:
    """Write the final PRM folder from the main process (LoRA adapters merged into the weights).

    Without LoRA, ``Trainer.save_model`` gathers FSDP/DeepSpeed-sharded weights. With LoRA the merge
    runs on the main process's copy, which DDP has in full; a ZeRO-3/FSDP-sharded LoRA run should merge
    from its last checkpoint instead.
    """
    out = Path(config.out_dir or "")
    if config.lora:
        if trainer.is_world_process_zero():
            merged = dequantized(trainer.accelerator.unwrap_model(trainer.model).merge_and_unload())
            save_prm(merged, tokenizer, prm_config, out)
    else:
        trainer.save_model(str(out))
        if trainer.is_world_process_zero():
            save_tokenizer_portable(tokenizer, out)
            prm_config.save(out)
            logger.info("saved the PRM to %s", out)
    trainer.accelerator.wait_for_everyone()
    return out
