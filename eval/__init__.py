"""Evaluation: best-of-N harness, step-error evaluation, metrics and reports."""

__distribution__ = "prm-math"  # checked by `import prm`: this is prm-math's eval
