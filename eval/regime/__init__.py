"""The regime map's evaluation: best-of-N in the PRM800K protocol computed exactly (:mod:`~eval.regime.protocol`)
and the report with its tables and plots (:mod:`~eval.regime.report`). Numpy only; no model is loaded here."""
