"""The regime map's verifiers: one architecture and one training recipe; only the labels differ.

A verifier reads a regime-task solution line by line. Each line (kind, x, op, a, y) is encoded (an MLP of
what its result depends on, the result's embedding and their product), and a GRU runs over the lines, so
the state after line k sees the prefix only; a linear head there gives the logit that the prefix is still
right. That is the token-level head at step tags of
``prm.model`` shrunk to this task: the same model scores a whole solution and any partial one (search).

- A *value* verifier (:class:`LineVerifier`) is trained with binary cross-entropy at every line against
  that line's label. With step labels it is a PRM; with one outcome label copied to every line it is an
  ORM trained as Cobbe et al. and Uesato et al. train theirs (the outcome predicted from every prefix).
- The *implicit* PRM (Yuan et al. 2024, arXiv 2412.01981) is the same network with a language-model head
  (:class:`LineLM`: the next line's kind and result given the prefix). A reference copy is fitted to the
  solutions by maximum likelihood; the verifier starts from it and learns from outcome labels only, with
  reward ``beta * sum_lines log(pi / pi_ref)``; its score after line k is the sigmoid of that sum over the
  first k lines (the implicit Q-value).

Training is a fixed number of Adam steps on mini-batches (budgets are steps, not seconds), seeded, fp32.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from data.regime.task import Line

__all__ = ["LineLM", "LineVerifier", "TrainRecipe", "encode_lines", "score_lines", "train_implicit", "train_value"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainRecipe:
    """The one recipe every verifier is trained with."""

    steps: int = 600
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    width: int = 64
    beta: float = 0.5  # the implicit PRM's reward scale


def encode_lines(solutions: Sequence[Sequence[Line]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``lines`` [B, L, 5] (kind, x, op, a, y; padded with zeros) and ``mask`` [B, L] (1.0 on real lines)."""
    width = max((len(lines) for lines in solutions), default=1) or 1
    ids = torch.zeros((len(solutions), width, 5), dtype=torch.long)
    mask = torch.zeros((len(solutions), width))
    for row, lines in enumerate(solutions):
        if lines:
            ids[row, : len(lines)] = torch.tensor([tuple(line) for line in lines], dtype=torch.long)
            mask[row, : len(lines)] = 1.0
    return ids, mask


class _LineEncoder(nn.Module):
    """A line's vector: what its result should depend on (kind, x, op, a) through an MLP, the result y's
    embedding, and their elementwise product, so "does y fit x op a" is one layer away. With
    ``with_result=False`` only the first part (the LM head predicts y from it)."""

    def __init__(self, modulus: int, width: int, with_result: bool = True) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(size, 16) for size in (2, modulus, 2, modulus))
        self.given = nn.Sequential(nn.Linear(64, 2 * width), nn.ReLU(), nn.Linear(2 * width, width))
        self.result = nn.Embedding(modulus, width) if with_result else None
        self.mix = nn.Sequential(nn.Linear(3 * width, width), nn.ReLU()) if with_result else nn.ReLU()

    def forward(self, lines: torch.Tensor) -> torch.Tensor:
        given = self.given(torch.cat([emb(lines[..., i]) for i, emb in enumerate(self.embeddings)], dim=-1))
        if self.result is None:
            return self.mix(given)
        result = self.result(lines[..., 4])
        return self.mix(torch.cat([given, result, given * result], dim=-1))


class LineVerifier(nn.Module):
    """Line encoder -> GRU over lines -> one logit per line (the prefix ending there is right)."""

    def __init__(self, modulus: int, width: int = 64) -> None:
        super().__init__()
        self.encoder = _LineEncoder(modulus, width)
        self.gru = nn.GRU(width, width, batch_first=True)
        self.head = nn.Linear(width, 1)

    def forward(self, lines: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(self.encoder(lines))
        return self.head(states).squeeze(-1)


class LineLM(nn.Module):
    """The same encoder and GRU with a language-model head: log p(line k | lines before it), per line."""

    def __init__(self, modulus: int, width: int = 64) -> None:
        super().__init__()
        self.encoder = _LineEncoder(modulus, width)
        self.gru = nn.GRU(width, width, batch_first=True)
        self.kind_head = nn.Linear(width, 2)
        self.given = _LineEncoder(modulus, width, with_result=False)  # what the result depends on
        self.result_head = nn.Sequential(nn.Linear(2 * width, 2 * width), nn.ReLU(), nn.Linear(2 * width, modulus))

    def forward(self, lines: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(self.encoder(lines))
        before = torch.cat([torch.zeros_like(states[:, :1]), states[:, :-1]], dim=1)  # the state before each line
        kind = F.log_softmax(self.kind_head(before), dim=-1).gather(-1, lines[..., :1]).squeeze(-1)
        result_logits = self.result_head(torch.cat([before, self.given(lines[..., :4])], dim=-1))
        result = F.log_softmax(result_logits, dim=-1).gather(-1, lines[..., 4:]).squeeze(-1)
        return kind + result


def _batches(count: int, recipe: TrainRecipe, generator: torch.Generator):
    """``recipe.steps`` random mini-batches of row indices (with replacement across batches)."""
    size = min(recipe.batch_size, count)
    for _ in range(recipe.steps):
        yield torch.randperm(count, generator=generator)[:size]


def train_value(solutions: Sequence[Sequence[Line]], labels: Sequence[Sequence[float]], modulus: int,
                recipe: TrainRecipe, seed: int) -> LineVerifier:
    """A :class:`LineVerifier` fitted to one label per line (BCE averaged over real lines)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    lines, mask = encode_lines(solutions)
    targets = torch.zeros_like(mask)
    for row, row_labels in enumerate(labels):
        targets[row, : len(row_labels)] = torch.tensor(row_labels, dtype=torch.float32)
    model = LineVerifier(modulus, recipe.width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    for index in _batches(len(solutions), recipe, generator):
        logits = model(lines[index])
        loss = (F.binary_cross_entropy_with_logits(logits, targets[index], reduction="none") * mask[index]).sum()
        loss = loss / mask[index].sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def _fit_lm(model: LineLM, lines: torch.Tensor, mask: torch.Tensor, recipe: TrainRecipe,
            generator: torch.Generator) -> None:
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    for index in _batches(len(lines), recipe, generator):
        loss = -(model(lines[index]) * mask[index]).sum() / mask[index].sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


class ImplicitPRM(nn.Module):
    """The implicit PRM: a trained :class:`LineLM` and its frozen reference; logit after line k =
    ``beta * sum_{j <= k} (log pi - log pi_ref)``."""

    def __init__(self, policy: LineLM, reference: LineLM, beta: float) -> None:
        super().__init__()
        self.policy, self.reference, self.beta = policy, reference, beta
        for parameter in self.reference.parameters():
            parameter.requires_grad_(False)

    def forward(self, lines: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        ratio = self.policy(lines) - self.reference(lines)
        if mask is not None:
            ratio = ratio * mask
        return self.beta * ratio.cumsum(dim=1)


def train_implicit(solutions: Sequence[Sequence[Line]], outcomes: Sequence[float], modulus: int,
                   recipe: TrainRecipe, seed: int) -> ImplicitPRM:
    """Reference by maximum likelihood on ``solutions``, then the implicit PRM on their outcome labels (BCE of
    the whole solution's reward), each for ``recipe.steps`` steps."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    lines, mask = encode_lines(solutions)
    reference = LineLM(modulus, recipe.width)
    _fit_lm(reference, lines, mask, recipe, generator)
    model = ImplicitPRM(copy.deepcopy(reference), reference.eval(), recipe.beta)
    targets = torch.tensor(list(outcomes), dtype=torch.float32)
    last = (mask.sum(dim=1).long() - 1).clamp(min=0)
    optimizer = torch.optim.AdamW(model.policy.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    for index in _batches(len(solutions), recipe, generator):
        logits = model(lines[index], mask[index]).gather(1, last[index, None]).squeeze(1)
        loss = F.binary_cross_entropy_with_logits(logits, targets[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@torch.no_grad()
def score_lines(model: nn.Module, solutions: Sequence[Sequence[Line]], batch_size: int = 8192) -> list[list[float]]:
    """P(the prefix ending at each line is right), per solution."""
    out: list[list[float]] = []
    for start in range(0, len(solutions), batch_size):
        chunk = solutions[start: start + batch_size]
        lines, mask = encode_lines(chunk)
        logits = model(lines, mask) if isinstance(model, ImplicitPRM) else model(lines)
        probs = torch.sigmoid(logits).tolist()
        out.extend(row[: len(solution)] for row, solution in zip(probs, chunk, strict=True))
    return out
