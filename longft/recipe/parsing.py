"""Typed parsing: YAML values into the schema's dataclasses, and `--section.field value` overrides."""
from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import types
import typing
from typing import Any

from ..errors import RecipeError
from ..yaml_files import load_yaml

def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def diff_fields(old: dict, new: dict, prefix: str = ""):
    """(dotted path, old value, new value) for every leaf where two nested recipe dicts differ."""
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            yield from diff_fields(a, b, f"{prefix}{key}.")
        elif a != b:
            yield f"{prefix}{key}", a, b


def parse_overrides(args: list[str]) -> dict:
    """`--train.max_steps 5` / `--train.max_steps=5` -> nested dict; values parsed as YAML."""
    out: dict = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise RecipeError(f"unexpected argument {arg!r}: overrides look like --section.field value")
        key = arg[2:]
        if "=" in key:
            key, text = key.split("=", 1)
        else:
            if i + 1 >= len(args):
                raise RecipeError(f"override {arg} has no value")
            text = args[i + 1]
            i += 1
        i += 1
        try:
            value = load_yaml(text, f"override --{key} {text[:80]!r}") if text != "" else ""
        except RecipeError as exc:
            raise RecipeError(f"{exc}; it must be a valid YAML value: quote strings, write lists as [a, b] "
                              "and mappings as {k: v}") from None
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out



def _refuse_non_finite(value: Any, path: str) -> None:
    """NaN and infinity pass every range check (each comparison is False), so no field takes them:
    a NaN weight decay would train an all-NaN model, a NaN max_grad_norm switch clipping off."""
    if isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(f"{path} = {value!r}: expected a finite number (not nan or inf)")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_non_finite(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_non_finite(item, f"{path}[{i}]")


def _build(cls, raw: Any, where: str):
    if not isinstance(raw, dict):
        raise RecipeError(f"{where or 'recipe'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise RecipeError(f"unknown key {path!r}{hint} Valid keys here: {', '.join(names)}")
        kwargs[key] = _coerce(value, hints[key], path)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, path: str):
    _refuse_non_finite(value, path)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        for hint_ in non_none[1:]:  # `dict | str`: the first type the value is; errors name the first
            try:
                return _coerce(value, hint_, path)
            except RecipeError:
                pass
        return _coerce(value, non_none[0], path)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise RecipeError(f"{path} = {value!r}: expected true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise RecipeError(f"{path} = {value!r}: expected an integer")
    if hint is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):  # YAML 1.1 reads 3e-4 (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            raise RecipeError(f"{path} = {value!r}: expected a number")
        _refuse_non_finite(number, path)
        return number
    if hint is str:
        if isinstance(value, str):
            return value
        raise RecipeError(f"{path} = {value!r}: expected a string")
    if hint is list or origin is list:
        if isinstance(value, str) and path.endswith("report_to"):
            return [value]
        if isinstance(value, list):
            return value
        raise RecipeError(f"{path} = {value!r}: expected a list")
    if hint is dict or origin is dict:
        if isinstance(value, dict):
            return value
        raise RecipeError(f"{path} = {value!r}: expected a mapping")
    return value


