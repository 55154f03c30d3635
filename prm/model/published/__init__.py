"""Scorers for published PRM checkpoints, one module per format, each with ``detect(folder)`` (config files
only, before any weight loads), ``load(name_or_folder, **options)`` (a :class:`prm.model.scorer.Scorer`) and
``SUMMARY`` (one line for error messages). :mod:`prm.model.formats` registers them and imports a module only
when its format is tried. No format module imports another; what they share lives in four modules:
``common`` (torch-free: reading a checkpoint's config files, its published names, a hub id's local snapshot),
``backbone`` (a Qwen2 backbone with a head read at step positions: Qwen2.5-Math-PRM, Skywork), ``causal``
(a causal LM read at token positions, its loading and load options: Math-Shepherd, RLHFlow, implicit PRMs)
and ``vllm_pooling`` (vLLM pooling engines for ``backend="vllm"``: Qwen2.5-Math-PRM, Math-Shepherd, RLHFlow).
"""
