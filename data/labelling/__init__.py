"""Step labelling: every way this project turns solutions into step-labelled rows, in one place.

Four methods, all torch-free, all writing :class:`~data.records.StepwiseRow` (1.0 up to the first
wrong step, 0.0 at it) with a ``label_method`` column and records they cannot label counted by reason:

- exact (:mod:`data.labelling.exact`): each step's arithmetic claims (``verifiers.check_steps``) and
  the final-answer check against the gold. No model; precise where steps state checkable arithmetic.
  :func:`label_samples` labels sampled solutions, :func:`label_references` the problems' own solutions.
- perturbation (:mod:`data.labelling.perturb`): a correct reference solution (checked exactly) is a
  positive, and copies with one step corrupted are negatives whose first error is re-checked exactly.
- Monte-Carlo (:mod:`data.labelling.monte_carlo`, Math-Shepherd): ``k`` policy rollouts from every
  step prefix; a step is good when some rollout (hard) or the fraction of rollouts (soft) reaches the
  gold answer. Needs a policy: any object with ``generate(prompts, n, params)``.
- consensus (:mod:`data.labelling.consensus`): not a labeller of its own but a check of one against
  another: Monte-Carlo rows are kept only where their first error equals the exact labeller's, and
  :func:`agreement` measures how often the two agree.

The methods take different inputs (samples, reference solutions, a policy), so there is no common
signature to register them under; ``prm label --method`` is the one place that chooses between them.
"""

from data.labelling.consensus import agreement, consensus_filter, exact_first_error
from data.labelling.exact import (
    AfterError,
    LabelResult,
    MissingAnswer,
    Unlabellable,
    exact_labels,
    judged_steps,
    label_references,
    label_samples,
    make_row,
    reference_steps,
    solution_steps,
    split_answer_line,
)
from data.labelling.monte_carlo import (
    MCItem,
    MCResult,
    RolloutParams,
    RolloutSampler,
    first_error,
    mc_items,
    mc_label,
    mc_label_journalled,
    mc_rows,
    prefix_texts,
)
from data.labelling.perturb import (
    DEFAULT_WEIGHTS,
    KINDS,
    Corruption,
    NoCorruption,
    PerturbReport,
    corrupt,
    perturb_problem,
    perturb_problems,
)

__all__ = [
    # exact
    "AfterError", "LabelResult", "MissingAnswer", "Unlabellable", "exact_labels", "judged_steps",
    "label_references", "label_samples", "make_row", "reference_steps", "solution_steps", "split_answer_line",
    # perturbation
    "DEFAULT_WEIGHTS", "KINDS", "Corruption", "NoCorruption", "PerturbReport", "corrupt", "perturb_problem",
    "perturb_problems",
    # Monte-Carlo
    "MCItem", "MCResult", "RolloutParams", "RolloutSampler", "first_error", "mc_items", "mc_label",
    "mc_label_journalled", "mc_rows", "prefix_texts",
    # consensus
    "agreement", "consensus_filter", "exact_first_error",
]  # fmt: skip
