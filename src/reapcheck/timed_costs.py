"""Cost files of the timed model (issue 12): what one item of each walker costs, in µs.

A cost file is JSON (schema `version` 1, `kind` `reapcheck-costs`):

    {"version": 1, "kind": "reapcheck-costs",
     "exit_mmap": {"c_item_us": 0.31, "c_page_us": 0.52},
     "reaper":    {"c_item_us": 0.45, "c_page_us": 0.60},
     "fit": {...}, "kernel": "6.18.44", "machine": "x86_64", "measured": "..."}

`c_item_us` is the cost of one (VMA, page table) item whose page table exists, in µs
(the walk's per-item work: the page-table walk, pte_offset_map_lock(), the VMA's share of
the TLB and mmu-notifier work); `c_page_us` the cost of one resident page zapped in it,
in µs (clearing the PTE, the rmap and the page freed). A file may give one pair for both
walkers at the top level (`c_item_us`, `c_page_us`) instead. Everything else (the fit,
where it was measured) is carried along and printed, never used.

`reapcheck experiment --calibrate` writes these files; the default one
(costs/default.json, package data) was measured on the development machine.
"""
from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field
from importlib.resources import files

KIND = "reapcheck-costs"
VERSION = 1
WALKERS = ("exit_mmap", "reaper")
DEFAULT_NAME = "costs/default.json"
MAX_COST_US = 1e6  # one second per item or page: surely a unit mistake


class CostsError(ValueError):
    """A cost file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class WalkerCosts:
    """One walker's costs, µs: per item whose page table exists, and per resident page."""

    c_item_us: float
    c_page_us: float


@dataclass(frozen=True)
class Costs:
    exit_mmap: WalkerCosts
    reaper: WalkerCosts
    source: str = "<given>"  # the file read, or `default`
    meta: dict = field(default_factory=dict, compare=False)  # fit, kernel, machine, ...

    def of(self, walker: str) -> WalkerCosts:
        return self.exit_mmap if walker == "exit_mmap" else self.reaper

    def to_json(self) -> dict:
        return {"source": self.source,
                **{w: {"c_item_us": self.of(w).c_item_us, "c_page_us": self.of(w).c_page_us}
                   for w in WALKERS},
                **{k: self.meta[k] for k in ("kernel", "machine", "measured", "fit")
                   if k in self.meta}}


def same_costs(c_item_us: float, c_page_us: float, source: str = "<given>") -> Costs:
    """Both walkers with one pair of costs (µs)."""
    pair = WalkerCosts(float(c_item_us), float(c_page_us))
    return Costs(pair, pair, source)


def _number(path: str, where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CostsError(f"{path}: {where} must be a number of microseconds, not "
                         f"{json.dumps(value)[:40]}")
    if not (math.isfinite(value) and 0 <= value <= MAX_COST_US):
        raise CostsError(f"{path}: {where} must be between 0 and {MAX_COST_US:g} µs, "
                         f"not {value!r}"[:200])
    return float(value)


def _pair(path: str, where: str, obj) -> WalkerCosts:
    if not isinstance(obj, dict):
        raise CostsError(f"{path}: {where} must be an object with c_item_us and c_page_us")
    missing = [k for k in ("c_item_us", "c_page_us") if k not in obj]
    if missing:
        raise CostsError(f"{path}: {where} has no {missing[0]}")
    prefix = "" if where == "the top level" else f"{where}."
    costs = WalkerCosts(_number(path, f"{prefix}c_item_us", obj["c_item_us"]),
                        _number(path, f"{prefix}c_page_us", obj["c_page_us"]))
    if costs.c_item_us == 0 and costs.c_page_us == 0:
        raise CostsError(f"{path}: {where}: c_item_us and c_page_us are both 0 (a walk "
                         "would take no time)")
    return costs


def parse_costs(data, path: str) -> Costs:
    """A cost file's JSON object as Costs; CostsError names the file and the key."""
    if not isinstance(data, dict):
        raise CostsError(f"{path}: a cost file is a JSON object")
    if data.get("kind", KIND) != KIND:
        raise CostsError(f"{path}: kind is {json.dumps(data.get('kind'))[:40]}, not {KIND}")
    if data.get("version", VERSION) != VERSION:
        raise CostsError(f"{path}: schema version {json.dumps(data.get('version'))[:20]} "
                         f"(this reapcheck reads {VERSION})")
    if any(w in data for w in WALKERS):
        missing = [w for w in WALKERS if w not in data]
        if missing:
            raise CostsError(f"{path}: has no {missing[0]} costs (give both walkers, or one "
                             "c_item_us/c_page_us pair at the top level)")
        exit_costs, reaper = (_pair(path, w, data[w]) for w in WALKERS)
    else:
        exit_costs = reaper = _pair(path, "the top level", data)
    meta = {k: v for k, v in data.items() if k not in WALKERS}
    return Costs(exit_costs, reaper, path, meta)


def _read_regular(path: str, limit: int = 1 << 20) -> bytes:
    """The first `limit` bytes of a regular file. Anything else (a FIFO, device or
    directory) is refused before any read, as a layout is (model/smaps.read_bytes): a
    FIFO without a writer would otherwise hang the command."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise CostsError(f"{path}: {err.strerror or err}") from None
    try:
        kind = os.fstat(fd).st_mode
        if not stat.S_ISREG(kind):
            what = "a directory" if stat.S_ISDIR(kind) else "not a regular file"
            raise CostsError(f"{path}: cannot read: {what} (a cost file is a JSON file)")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            return stream.read(limit)
    except OSError as err:
        raise CostsError(f"{path}: {err.strerror or err}") from None
    finally:
        os.close(fd)


def load_costs(path: str) -> Costs:
    """Read a cost file; CostsError (one line naming the file) on any problem."""
    raw = _read_regular(path)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise CostsError(f"{path}: not JSON ({str(err)[:60]})") from None
    return parse_costs(data, path)


def default_costs() -> Costs:
    """The cost file shipped with reapcheck (measured on the development machine)."""
    text = (files("reapcheck") / DEFAULT_NAME).read_text()
    costs = parse_costs(json.loads(text), "default")
    return costs
