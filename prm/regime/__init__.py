"""The regime map's machinery (``prm regime``): the verifiers and their one training recipe
(:mod:`~prm.regime.verifier`), what is swept (:mod:`~prm.regime.cells`), the resumable runner
(:mod:`~prm.regime.run`) and the adapters that run ``prm.search`` on the regime task (:mod:`~prm.regime.search`).
The task itself is :mod:`data.regime`; the protocol and the report are :mod:`eval.regime`."""
