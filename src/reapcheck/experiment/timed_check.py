"""`reapcheck experiment --timed-check DIR`: the timed model (docs/model.md §8) against
recorded experiments, without a kernel.

DIR holds what `reapcheck experiment --walkers W --out DIR/W.json` recorded, for W in
`opposite` and `same` (each JSON with its `.trace.gz` twin). For every raced run, the
measured PTE-lock contentions and wait (tracefs `lock:contention_*`) are set against the
timed model's at that run's own start times (experiment/calibrate.py `kernel_check`),
with the shipped cost file or `--costs FILE`. The object written is
results/experiments/timed_check.json; the report quotes it.
"""
from __future__ import annotations

import json
import zlib
from pathlib import Path

from ..model.layout import LayoutError
from .recorded import TIMED_CHECK

MODES = ("opposite", "same")
VERSION = 1


def timed_check(costs, directory: str, load_layout) -> dict:
    """The timed_check.json object for the recorded modes found in `directory`.

    Raises LayoutError (one line naming the file) when the directory has no recorded
    mode, or a recorded file or its trace cannot be read as one."""
    from .calibrate import kernel_check

    root = Path(directory)
    if not root.is_dir():
        raise LayoutError(directory, None, "--timed-check needs a directory of recorded "
                          "experiments (opposite.json, same.json and their .trace.gz)")
    found = {m: root / f"{m}.json" for m in MODES if (root / f"{m}.json").is_file()}
    if not found:
        raise LayoutError(directory, None, "no recorded experiment here: expected "
                          + " or ".join(f"{m}.json" for m in MODES)
                          + " (reapcheck experiment --walkers MODE --out FILE)")
    for path in found.values():
        twin = path.with_suffix(".trace.gz")
        if not twin.is_file():
            raise LayoutError(str(twin), None, "missing: the raw traces of "
                              f"{path.name} (written beside it by --out)")
    try:
        modes = kernel_check(costs, found, load_layout)
    except (OSError, EOFError, zlib.error) as err:
        raise LayoutError(directory, None, f"a recorded trace cannot be read: {err}") from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
        raise LayoutError(directory, None, f"not a well-formed recorded experiment "
                          f"({type(err).__name__}: {str(err)[:80]})") from None
    names = ",".join(found)
    return {"version": VERSION, "kind": TIMED_CHECK,
            "what": (f"PTE-lock contentions and wait per raced run of "
                     f"{directory.rstrip('/')}/{{{names}}}.json, measured (tracefs) "
                     "against the timed model at that run's own start times (exit_mmap's "
                     "and each process_mrelease()'s mmap_lock read acquisition), with the "
                     f"{'default cost file' if costs.source == 'default' else costs.source}"
                     "; same = exit_mmap and two reapers in one simulation"),
            "costs": costs.to_json(), "modes": modes}


def command(args, load_layout) -> int:
    """Exit 0 with the object printed or written to --out; 2 on a bad directory, cost
    file, option or output path (nothing written)."""
    from .. import outputs
    from ..timed_costs import CostsError, default_costs, load_costs
    from .options import refuse_unused

    refuse_unused(args, "--timed-check", "reads recorded experiments only",
                  ("LAYOUT", "--from", "--calibrate", "--walkers", "--no-trace"))
    if args.out is not None:
        outputs.check_file(args.out)
    try:
        costs = load_costs(args.costs) if args.costs else default_costs()
    except CostsError as err:
        raise LayoutError(args.costs, None, str(err).removeprefix(f"{args.costs}: ")) from None
    data = timed_check(costs, args.timed_check, load_layout)
    text = json.dumps(data, indent=1) + "\n"
    outputs.emit(args.out, text)
    return 0
