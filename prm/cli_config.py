"""Dataclass-driven options: every field becomes ``--field-name``; ``--config`` reads YAML first."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml


def _field_type(field: dataclasses.Field, owner: type) -> Any:
    hints = typing.get_type_hints(owner)
    kind = hints[field.name]
    if get_origin(kind) in (typing.Union, types.UnionType):
        options = [a for a in get_args(kind) if a is not type(None)]
        kind = options[0] if len(options) == 1 else str
    return kind


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """Add ``--config`` and one option per dataclass field (defaults stay in the dataclass)."""
    parser.add_argument("--config", type=Path, help="YAML file of options; command-line options override it")
    for field in dataclasses.fields(config_cls):
        kind = _field_type(field, config_cls)
        flag = "--" + field.name.replace("_", "-")
        help_text = f"{field.metadata.get('help', '')} (default: {field.default!r})"
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif get_origin(kind) is Literal:
            parser.add_argument(flag, choices=list(get_args(kind)), default=None, help=help_text)
        else:
            parser.add_argument(flag, type=kind if kind in (int, float) else str, default=None, help=help_text)


def config_from_args(config_cls: type, args: argparse.Namespace) -> Any:
    """The dataclass built from the YAML file (if any) overridden by explicit command-line options."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    values: dict[str, Any] = {}
    if args.config is not None:
        loaded = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{args.config}: expected a mapping of option names to values")
        unknown = sorted(set(loaded) - names)
        if unknown:
            known = ", ".join(sorted(names))
            raise ValueError(f"{args.config}: unknown option(s) {', '.join(unknown)}; known: {known}")
        values.update(loaded)
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    return config_cls(**values)
