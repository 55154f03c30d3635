"""Dataclass-driven options: every field becomes ``--field-name``; ``--config`` reads YAML first.

A field's type decides its flag (``bool``: ``--x/--no-x``; ``Literal``: choices; ``int`` / ``float`` /
``str``) and how a YAML value is read: ints and floats must be numbers (``1e-4`` too, which YAML reads as
a string), bools true/false, a choice one of the choices (an integer matches the choice spelled the same),
a string anything scalar. Every problem names the option, and the YAML file it came from. A field whose
metadata says ``required`` must be given, on the command line or in the YAML file; ``--name value`` on the
command line overrides the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

__all__ = ["add_config_arguments", "config_from_args", "convert_value", "flag_of"]


def flag_of(name: str) -> str:
    """``out_dir`` -> ``--out-dir``."""
    return "--" + name.replace("_", "-")


def _field_types(owner: type) -> dict[str, tuple[Any, bool]]:
    """Field name -> (its type without None, whether None is allowed)."""
    out = {}
    for name, kind in typing.get_type_hints(owner).items():
        optional = False
        if get_origin(kind) in (typing.Union, types.UnionType):
            options = [a for a in get_args(kind) if a is not type(None)]
            optional = len(options) < len(get_args(kind))
            kind = options[0] if len(options) == 1 else str
        out[name] = (kind, optional)
    return out


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """Add ``--config`` and one option per dataclass field (defaults stay in the dataclass)."""
    parser.add_argument("--config", type=Path, help="YAML file of options; command-line options override it")
    kinds = _field_types(config_cls)
    for field in dataclasses.fields(config_cls):
        kind = kinds[field.name][0]
        required = " (required)" if field.metadata.get("required") else ""
        help_text = f"{field.metadata.get('help', '')}{required} (default: {field.default!r})"
        if kind is bool:
            parser.add_argument(flag_of(field.name), action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        elif get_origin(kind) is Literal:
            parser.add_argument(flag_of(field.name), choices=list(get_args(kind)), default=None, help=help_text)
        else:
            parser.add_argument(flag_of(field.name), type=kind if kind in (int, float) else str, default=None,
                                help=help_text)


def convert_value(name: str, value: Any, kind: Any, optional: bool) -> Any:
    """A YAML ``value`` as option ``name``'s type; ValueError naming the option and what it expected."""
    if value is None:
        if optional:
            return None
        raise ValueError(f"option {name}: a value is required (got null)")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"option {name}: expected true or false, got {value!r}")
    if kind in (int, float):
        if isinstance(value, str):  # YAML reads 1e-4 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        number_ok = isinstance(value, int | float) and not isinstance(value, bool)
        if number_ok and (kind is float or float(value).is_integer()):
            return kind(value)
        raise ValueError(f"option {name}: expected {'an integer' if kind is int else 'a number'}, got {value!r}")
    if get_origin(kind) is Literal:
        if value in get_args(kind):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and str(value) in get_args(kind):
            return str(value)  # YAML reads ``phase: 2`` as a number; the choice is the string "2"
        raise ValueError(f"option {name}: expected one of {', '.join(map(str, get_args(kind)))}, got {value!r}")
    if isinstance(value, dict | list):
        raise ValueError(f"option {name}: expected a single value, got {type(value).__name__} {value!r}")
    return value if isinstance(value, str) else str(value)


def _from_yaml(path: Path, config_cls: type) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping of option names to values")
    kinds = _field_types(config_cls)
    known = {f.name for f in dataclasses.fields(config_cls)}
    values: dict[str, Any] = {}
    for key, value in loaded.items():
        name = str(key).replace("-", "_")
        if name not in known:
            raise ValueError(f"{path}: unknown option {key!r}; known: {', '.join(sorted(known))}")
        try:
            values[name] = convert_value(name, value, *kinds[name])
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    return values


def config_from_args(config_cls: type, args: argparse.Namespace, profile: dict[str, Any] | None = None) -> Any:
    """The dataclass built from a ``profile`` (named defaults, e.g. ``prm quickstart --profile``), then the YAML
    file (if any), then explicit command-line options, each overriding the one before; ValueError naming every
    required option left unset."""
    values = dict(profile or {})
    if getattr(args, "config", None) is not None:
        values.update(_from_yaml(args.config, config_cls))
    for field in dataclasses.fields(config_cls):
        value = getattr(args, field.name, None)
        if value is not None:
            values[field.name] = value
    missing = [flag_of(f.name) for f in dataclasses.fields(config_cls)
               if f.metadata.get("required") and values.get(f.name, f.default) in (None, "")]
    if missing:
        raise ValueError(f"missing required option(s): {', '.join(missing)}")
    return config_cls(**values)
