"""Outcome verification for math answers: extraction, typed sympy equivalence, step arithmetic.

Imports without torch. The public API::

    from verifiers import verify, verify_many, extract_answer, check_steps, answer_reward
    verify(r"\\frac{1}{2}", r"... so the answer is \\boxed{0.5}").is_equal   # True
"""

__distribution__ = "prm-math"  # checked by `import prm`: this is prm-math's verifiers

from verifiers.config import DEFAULT_CONFIG, Status, VerifyConfig
from verifiers.extract import extract_answer, last_boxed
from verifiers.rewards import answer_reward
from verifiers.steps import Claim, StepCheck, check_steps
from verifiers.verify import Verdict, verify, verify_many

__all__ = [
    "DEFAULT_CONFIG",
    "Claim",
    "Status",
    "StepCheck",
    "Verdict",
    "VerifyConfig",
    "answer_reward",
    "check_steps",
    "extract_answer",
    "last_boxed",
    "verify",
    "verify_many",
]
