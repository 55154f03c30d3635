"""The heavy machinery: the `prm` command line, and (to come) the PRM model, training, scoring, sampling, GRPO.

Outcome verification lives in `verifiers`.
"""
