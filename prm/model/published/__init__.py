"""Scorers for published PRM checkpoints, one module per format, each with ``detect(folder)`` (config files
only, before any weight loads), ``load(name_or_folder, **options)`` (a :class:`prm.model.scorer.Scorer`) and
``SUMMARY`` (one line for error messages). :mod:`prm.model.formats` registers them and imports a module only
when its format is tried. ``common`` holds what they share: reading a checkpoint's config files.
"""
