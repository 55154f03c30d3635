"""Adapters that drop our rewards into other trainers: :mod:`prm.integrations.trl` (TRL's GRPOTrainer reward
functions) and :mod:`prm.integrations.verl` (verl's ``compute_score`` and dense step rewards)."""
