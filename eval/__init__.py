"""Evaluation: best-of-N harness, step-error evaluation, metrics and reports."""
