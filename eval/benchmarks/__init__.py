"""Published PRM benchmarks read in their own schema and scored by their own protocol: ProcessBench
(:mod:`eval.benchmarks.processbench`), PRMBench (:mod:`eval.benchmarks.prmbench`), and the resumable store
of a PRM's step scores they share (:mod:`eval.benchmarks.score_store`). Torch-free."""
