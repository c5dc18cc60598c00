"""`reapcheck experiment`'s options: kept apart from the command's work, so that every other
command starts without importing it."""
from __future__ import annotations

import argparse

from ..model.layout import LayoutError
from ..model.synthetic import parse_size

DEFAULT_LAYOUT = "synthetic:60000:4k:0"
DEFAULT_THREADS = 0
DEFAULT_RUNS = 5


def add_parser(sub, positive) -> None:
    """The `experiment` subparser; `positive` parses a count of at least 1."""
    p = sub.add_parser("experiment", help="race process_mrelease() against exit_mmap() on "
                       "this kernel and hold the model's worst case against what it did")
    p.add_argument("layout", nargs="?", default=DEFAULT_LAYOUT,
                   help="maps/smaps file, bundled/NAME, or synthetic:N[:SIZE[:GAP]] "
                        f"(N private anonymous VMAs; default {DEFAULT_LAYOUT}: one page each, "
                        "no gaps)")
    p.add_argument("--runs", type=positive, default=DEFAULT_RUNS,
                   help="raced runs per walkers mode (default 5; each is tried up to 3 times)")
    p.add_argument("--walkers", choices=("opposite", "same", "both"), default="both",
                   help="opposite: one process_mrelease() (descending) against exit_mmap "
                        "(ascending); same: two process_mrelease() threads; both (default)")
    p.add_argument("--seed", type=int, default=0, help="seed of a synthetic layout")
    p.add_argument("--resident", choices=("all", "none"), default="all",
                   help="pages to touch in VMAs without an smaps Rss line (default all)")
    p.add_argument("--max-resident", type=byte_size, metavar="SIZE",
                   help="refuse layouts with more resident memory (default: MemAvailable/4)")
    p.add_argument("--victim-threads", type=int, default=DEFAULT_THREADS, metavar="T",
                   help="threads the victim starts besides its main one (default "
                        f"{DEFAULT_THREADS}); exit_mmap runs in the last one to exit")
    p.add_argument("--no-trace", action="store_true", help="timings only, no tracefs")
    p.add_argument("--from", dest="recorded", metavar="FILE",
                   help="classify a recorded experiment (FILE written by --out) again; "
                        "needs no root")
    p.add_argument("--calibrate", action="store_true",
                   help="fit the timed model's costs (reapcheck timed) on this kernel: "
                        "exit_mmap alone and raced, on layouts of different shapes; write "
                        "the cost file to --out (default: stdout)")
    p.add_argument("--timed-check", metavar="DIR",
                   help="no kernel needed: the timed model (reapcheck timed) against the "
                        "recorded experiments in DIR (opposite.json, same.json and their "
                        ".trace.gz, as --out wrote them), run by run; print the JSON object "
                        "or write it to --out (results/experiments/timed_check.json)")
    p.add_argument("--costs", metavar="FILE",
                   help="with --timed-check: the cost file (default: the shipped one)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true",
                   help="no progress on stderr (default: redrawn on a terminal; elsewhere "
                        "one line every 10 s once a run has taken 5 s)")
    p.add_argument("--out", metavar="FILE",
                   help="write the JSON object to FILE and every run's raw trace to "
                        "FILE's .trace.gz twin")


def byte_size(text: str) -> int:
    """'512m', '2g' or bytes, for --max-resident."""
    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def refuse_unused(args, mode: str, what: str, options: tuple[str, ...]) -> None:
    """LayoutError naming `mode` when any of `options` (as typed: LAYOUT, --from, --out,
    ...) was given a non-default value that `mode` would ignore."""
    given = {"LAYOUT": args.layout != DEFAULT_LAYOUT, "--from": args.recorded is not None,
             "--calibrate": args.calibrate, "--out": args.out is not None,
             "--walkers": args.walkers != "both", "--runs": args.runs != DEFAULT_RUNS,
             "--no-trace": args.no_trace}
    unused = [name for name in options if given[name]]
    if unused:
        raise LayoutError(mode, None, f"{what}: {', '.join(unused)} would have no effect")
