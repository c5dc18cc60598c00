"""The shape of a protocol trace file, checked before `replay` uses any of it.

A small schema checker (no dependency): every key `verify --trace-out` writes, with its
type and allowed values; a wrong one is reported by its path, e.g.
`config.stuck_writer: want true or false, not "yes"`. Values are then trusted by type
(replay decides whether the steps are legal).
"""
from __future__ import annotations

import json
import re

from .model.layout import MAPS_SHARED_RULES

HEX = re.compile(r"(0[xX])?[0-9a-fA-F]{1,17}")  # an address below or at 2**64
PERMS = re.compile(r"[r-][w-][x-][ps]")
FLAG = re.compile(r"[a-z0-9]{2}")


class ShapeError(ValueError):
    """A trace key with the wrong type or value; the message starts with its path."""


def _show(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _want(path: str, what: str, value) -> ShapeError:
    return ShapeError(f"{path}: want {what}, not {_show(value)}")


def _object(value, path: str, required: dict, optional: dict) -> None:
    """Check an object's keys: `required`/`optional` map key -> checker(value, path)."""
    if not isinstance(value, dict):
        raise _want(path, "an object", value)
    for key in value:
        if key not in required and key not in optional:
            raise ShapeError(f"{path}.{key}: unknown key (known: "
                             f"{', '.join(list(required) + list(optional))})")
    for key, check in required.items():
        if key not in value:
            raise ShapeError(f"{path}.{key}: missing")
        check(value[key], f"{path}.{key}")
    for key, check in optional.items():
        if key in value:
            check(value[key], f"{path}.{key}")


def _int(value, path):
    if type(value) is not int:
        raise _want(path, "an integer", value)


def _str(value, path):
    if not isinstance(value, str):
        raise _want(path, "a string", value)


def _bool(value, path):
    if type(value) is not bool:
        raise _want(path, "true or false", value)


def _one_of(choices, nullable=False):
    def check(value, path):
        if (value is None and nullable) or (isinstance(value, str) and value in choices):
            return
        shown = ", ".join(choices) + (" or null" if nullable else "")
        raise _want(path, f"one of {shown}", value)
    return check


def _matching(pattern, what, nullable=False):
    def check(value, path):
        if value is None and nullable:
            return
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise _want(path, what, value)
    return check


def _list(item_check, nullable=False):
    def check(value, path):
        if value is None and nullable:
            return
        if not isinstance(value, list):
            raise _want(path, "a list" + (" or null" if nullable else ""), value)
        for i, item in enumerate(value):
            item_check(item, f"{path}[{i}]")
    return check


def _vma(value, path):
    _object(value, path, {"start": _matching(HEX, "a hex address"),
                          "end": _matching(HEX, "a hex address"),
                          "perms": _matching(PERMS, "permissions like rw-p")},
            {"flags": _list(_matching(FLAG, "a two-letter VmFlags mnemonic"), nullable=True)})


def _changes(value, path):
    if not isinstance(value, dict):
        raise _want(path, "an object", value)
    for name, pair in value.items():
        if not (isinstance(pair, list) and len(pair) == 2
                and all(type(x) is int for x in pair)):
            raise _want(f"{path}.{name}", "[old, new] integers", pair)


def _vma_index(value, path):
    if value is not None and type(value) is not int:
        raise _want(path, "a VMA index or null", value)


def _step(value, path):
    _object(value, path, {"actor": _str, "action": _str},
            {"step": _int, "name": _str, "vma": _vma_index, "kernel": _str,
             "changes": _changes})


def check_trace(data, kind: str, walks, mutants, properties) -> None:
    """Raise ShapeError naming the first key of `data` that a trace cannot have."""
    if not isinstance(data, dict):
        raise _want("trace", "a JSON object", data)
    if data.get("kind") != kind:
        raise ShapeError(f"kind: want \"{kind}\" (not a reapcheck protocol trace)")
    _object(data, "trace", {
        "kind": _str,
        "layout": lambda v, p: _object(v, p, {"vmas": _list(_vma)}, {
            "path": _str, "maps_shared_rule": _one_of(MAPS_SHARED_RULES)}),
        "config": lambda v, p: _object(v, p, {"walk": _one_of(walks)}, {
            "mutant": _one_of(sorted(mutants), nullable=True),
            "stuck_writer": _bool, "mrelease": _bool, "kernel": _str,
            "mlocked": _list(_index)}),
        "steps": _list(_step),
    }, {
        "version": _one_of_int(1),
        "property": _one_of(list(properties), nullable=True),
        "engine": _str,
        "init": _any_object,
    })


def _index(value, path):
    if type(value) is not int or value < 0:
        raise _want(path, "a VMA index (an integer >= 0)", value)


def _any_object(value, path):
    if not isinstance(value, dict):
        raise _want(path, "an object", value)


def _one_of_int(*allowed):
    def check(value, path):
        if type(value) is not int or value not in allowed:
            raise _want(path, " or ".join(map(str, allowed)), value)
    return check
