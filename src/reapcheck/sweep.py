"""`reapcheck sweep`'s tasks: one pure function per check, a layout path in, JSON lines out.

A task is (layout path, check). `run_task(path, check, options)` loads the layout and
returns the task's result lines, each a JSON-able dict whose first keys are `layout`
(the path as given) and `check`:

- `collisions`: four lines, one per reaper order (forward, reverse) and granularity
  (vma, ptl): `order`, `granularity`, `max_collisions` (the number `reapcheck collisions
  LAYOUT --order O --granularity G --json` gives: PMD shift auto, exit_mmap forward,
  engine auto), plus `exit_order`, `pmd_shift`, `vmas`, `reapable`.
- `timed`: two lines, one per reaper order: the timed model's summary (`reapcheck timed
  --json`'s `summary`; contentions, µs) with the shipped costs, 200 delays over the
  overlap window, every page resident where the layout has no Rss.
- `verify`: one line: walk `rev_find`, the status of each protocol property
  (`properties`: name -> holds | violated | incomplete), `states`, `complete`, `stopped`
  (`max_states` when the state limit ended the search: every verdict not yet violated
  is then incomplete, never holds) and `max_states`.

A layout that cannot be read or is malformed gives one line instead, `{"layout",
"check", "error"}`, `error` being the one-line message `reapcheck collisions` prints
before exiting 2 (file and line, without the `reapcheck: ` prefix). Every function here
runs the same in a Dask worker and in-process (the report calls them serially); none
imports Dask.
"""
from __future__ import annotations

import glob
import os

CHECKS = ("collisions", "timed", "verify")
LINES_PER_TASK = {"collisions": 4, "timed": 2, "verify": 1}  # a complete task's lines
DEFAULT_MAX_STATES = 1_000_000  # verify: a few seconds per layout (README "sweep")
VERIFY_WALK = "rev_find"
LAYOUT_SUFFIXES = ("maps",)  # directory entries taken: names ending in maps (.maps, smaps)


class SweepInputError(ValueError):
    """A PATH that names nothing to sweep (the command's own input: exit 2)."""


def expand_paths(paths: list[str]) -> list[str]:
    """Layout files from PATH arguments, in order, each once: a file as given,
    `bundled/NAME`, every file under a directory whose name ends in `maps` (sorted), or
    a glob's matches (sorted; directories among them expanded the same way).

    Raises SweepInputError naming the first PATH that exists nowhere or matches nothing.
    """
    from . import bundled

    found: list[str] = []
    for path in paths:
        if path.startswith(bundled.PREFIX) and not os.path.exists(path):
            if path not in bundled.names():
                raise SweepInputError(f"{path}: no such bundled layout (have: "
                                      + ", ".join(bundled.names()) + ")")
            found.append(path)
        elif os.path.isdir(path):
            found += _directory(path)
        elif os.path.exists(path):
            found.append(path)
        elif glob.has_magic(path) and (matches := sorted(glob.glob(path))):
            for match in matches:
                found += _directory(match) if os.path.isdir(match) else [match]
        else:
            raise SweepInputError(f"{path}: no such file, directory or glob match")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise SweepInputError(f"{' '.join(paths)}: no maps or smaps file found")
    return unique


def _directory(path: str) -> list[str]:
    """Every file under `path` whose name ends in `maps`, sorted, hidden ones left out."""
    out = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [os.path.join(root, f) for f in sorted(files)
                if f.endswith(LAYOUT_SUFFIXES) and not f.startswith(".")]
    return out


def tasks(paths: list[str], checks: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every (layout, check), layouts in the order given, checks in CHECKS order."""
    return [(path, check) for path in paths for check in CHECKS if check in checks]


def run_task(path: str, check: str, options: dict | None = None) -> list[dict]:
    """The result lines of one task (module docstring). `options`: `max_states` (verify;
    default DEFAULT_MAX_STATES). A bad layout gives one `error` line; any other
    exception is a bug and propagates (Dask retries it, then the sweep writes it as a
    failed task)."""
    from .cli import load_layout
    from .model.layout import LayoutError

    try:
        layout = load_layout(path)
        return check_layout(path, layout, check, options)
    except LayoutError as err:
        return [error_line(path, check, str(err))]


def check_layout(name: str, layout, check: str, options: dict | None = None) -> list[dict]:
    """`run_task` on a layout already loaded (the report's generated layouts have no
    file); `name` is the `layout` key. Raises LayoutError for a layout the check refuses
    (two page sizes, too many items)."""
    options = options or {}
    if check == "collisions":
        return collision_lines(name, layout)
    if check == "timed":
        return timed_lines(name, layout)
    if check == "verify":
        return [verify_line(name, layout, options.get("max_states", DEFAULT_MAX_STATES))]
    raise ValueError(f"check must be one of {', '.join(CHECKS)}, not {check!r}")


def error_line(path: str, check: str, message: str) -> dict:
    return {"layout": path, "check": check, "error": message}


def collision_lines(name: str, layout) -> list[dict]:
    """Both orders x both granularities, exactly as `reapcheck collisions` computes them
    (PMD shift auto, exit_mmap forward, engine auto; the witness is checked)."""
    from .collisions import summary_json, worst_case
    from .model.pmd import resolve_pmd_shift
    from .model.walks import GRANULARITIES, ORDERS, WalkConfig

    shift = resolve_pmd_shift(layout, None)
    lines = []
    for order in ORDERS:
        for granularity in GRANULARITIES:
            s = summary_json(worst_case(layout, WalkConfig(order, granularity, shift)))
            lines.append({"layout": name, "check": "collisions", "order": order,
                          "granularity": granularity, "max_collisions": s["max_collisions"],
                          "exit_order": s["exit_order"], "pmd_shift": s["pmd_shift"],
                          "vmas": s["vmas"], "reapable": s["reapable"]})
    return lines


def timed_lines(name: str, layout) -> list[dict]:
    """The timed model's summary per reaper order (as `reapcheck timed LAYOUT --json`'s
    `orders[order].summary`): contentions and waits in µs over the overlap window."""
    from .model.layout import LayoutError
    from .model.pmd import resolve_pmd_shift
    from .model.walks import WalkConfig
    from .timed import TimedInputError, timed_orders
    from .timed_costs import default_costs

    shift = resolve_pmd_shift(layout, None)
    try:
        results = timed_orders(layout, WalkConfig("reverse", "ptl", shift), default_costs())
    except TimedInputError as err:
        raise LayoutError(name, None, str(err).removeprefix(f"{layout.path}: ")) from None
    return [{"layout": name, "check": "timed", "order": r.config.order,
             "exit_order": r.config.exit_order, "pmd_shift": shift,
             "exit_items": r.exit_items, "reaper_items": r.reaper_items, **r.summary()}
            for r in results]


def verify_line(name: str, layout, max_states: int) -> dict:
    """The protocol properties for walk rev_find (explicit engine, partial-order
    reduction, as `reapcheck verify LAYOUT --max-states N`)."""
    from .model.protocol import ProtocolConfig
    from .verify import verify

    v = verify(layout, ProtocolConfig(VERIFY_WALK), "explicit", max_states, reduction="por")
    return {"layout": name, "check": "verify", "walk": VERIFY_WALK,
            "properties": dict(v.statuses), "states": v.states, "complete": v.complete,
            "stopped": v.stopped, "max_states": max_states}


def task_of(line: dict) -> tuple[str, str]:
    return line["layout"], line["check"]


def complete_task(lines: list[dict]) -> bool:
    """Do these lines (one task's, in file order) make the whole task: an error line,
    or every line the check gives?"""
    if not lines:
        return False
    if any("error" in line for line in lines):
        return True
    return len(lines) == LINES_PER_TASK.get(lines[0]["check"], -1)
