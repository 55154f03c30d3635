"""prm-math's machinery: the ``prm`` command line, model loading, sampling, the PRMs and their training and
scoring, rewards, GRPO, the TRL and verl adapters and the reward server (the README's "Architecture" draws
how they connect). Outcome verification lives in ``verifiers``, records and labelling in ``data``, the
best-of-N and step-error harnesses in ``eval``.

Those three are top-level import names, and ``verifiers`` is also a published PyPI package; importing
``prm`` checks that the three it finds are prm-math's own, so a clash fails here with the fix rather than
later with a confusing error.
"""

from __future__ import annotations

import importlib

__all__: list[str] = []

_SIBLINGS = ("verifiers", "data", "eval")


def _check_siblings() -> None:
    for name in _SIBLINGS:
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise ImportError(f"prm-math needs its {name!r} package, which failed to import: {error}") from error
        if getattr(module, "__distribution__", None) != "prm-math":
            raise ImportError(f"the {name!r} package found at {getattr(module, '__file__', '?')} is not prm-math's "
                              f"(another distribution installs a top-level {name!r}); install prm-math in its own "
                              "virtual environment")


_check_siblings()
