"""`reapcheck export` and `reapcheck import-trail`: options and work (issue 14).

    reapcheck export LAYOUT --format promela (--protocol [--walk W] [--mutant M]
        [--stuck-writer] [--mrelease] | --collisions --order O --granularity G
        [--bound B] [--pmd-shift S] [--exit-order O]) [--maps-shared-rule R] [-o FILE]
    reapcheck import-trail MODEL.pml [TRAIL] [-o FILE]

Every option is checked, the layout read and the -o path tried before any work; a
problem is one line naming the option or file, exit 2, and nothing written.
"""
from __future__ import annotations

import argparse
import json
import sys

from . import outputs
from .kernel_options import add_kernel_options, protocol_config
from .model.protocol import MUTANTS, PROTOCOL_WALKS
from .model.walks import GRANULARITIES, ORDERS, WalkConfig

FORMATS = ("promela",)
PROTOCOL_ONLY = ("walk", "mutant", "stuck_writer", "mrelease", "kernel", "mlocked")
COLLISIONS_ONLY = ("order", "granularity", "bound", "pmd_shift", "exit_order")


def _bound(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value}")
    return value


def add_parsers(sub, pmd_shift_type, maps_shared_rule_option) -> None:
    """The `export` and `import-trail` subparsers (cli.py passes its option helpers)."""
    p = sub.add_parser("export", help="the protocol or collision model as Promela, for SPIN")
    p.add_argument("layout", help="a /proc/PID/maps or smaps file, or bundled/NAME")
    p.add_argument("--format", choices=FORMATS, required=True,
                   help="promela (SPIN's language; the file's header says how to check it)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--protocol", action="store_true",
                      help="the mmap_lock/MMF protocol with its seven properties")
    what.add_argument("--collisions", action="store_true",
                      help="the two walks with a collision counter and a bound B")
    p.add_argument("--walk", choices=PROTOCOL_WALKS, default=None,
                   help="--protocol: the reaper's iterator (default rev_find)")
    p.add_argument("--mutant", choices=sorted(MUTANTS), default=None,
                   help="--protocol: a seeded bug")
    p.add_argument("--stuck-writer", action="store_true", default=None,
                   help="--protocol: a thread holds mmap_lock for writing forever")
    p.add_argument("--mrelease", action="store_true", default=None,
                   help="--protocol: process_mrelease() as an actor")
    add_kernel_options(p)
    p.add_argument("--order", choices=ORDERS, default=None,
                   help="--collisions: the reaper's VMA order (required)")
    p.add_argument("--granularity", choices=GRANULARITIES, default=None,
                   help="--collisions: vma or ptl (required)")
    p.add_argument("--bound", type=_bound, default=None, metavar="B",
                   help="--collisions: the bound SPIN checks (default: reapcheck's worst "
                        "case W, so that SPIN proving B and reaching B establishes W)")
    p.add_argument("--pmd-shift", type=pmd_shift_type, default=None, metavar="S",
                   help="--collisions: PMD shift, 12..63 or auto (default auto)")
    p.add_argument("--exit-order", choices=ORDERS, default=None,
                   help="--collisions: exit_mmap's VMA order (default forward)")
    maps_shared_rule_option(p)
    p.add_argument("-o", "--out", metavar="FILE", help="output file (default: stdout)")

    p = sub.add_parser("import-trail", help="a SPIN trail of a protocol export as a "
                       "reapcheck trace JSON (reapcheck replay checks it)")
    p.add_argument("model", help="the .pml file `reapcheck export --protocol` wrote")
    p.add_argument("trail", nargs="?", help="the trail pan wrote (default: MODEL.trail)")
    p.add_argument("-o", "--out", metavar="FILE", help="output file (default: stdout)")


def _given(args, names) -> list[str]:
    return [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is not None]


def cmd_export(args, load_layout, usage_error) -> int:
    """Check everything, then render and write the file."""
    from .model.pmd import resolve_pmd_shift
    from .promela import ExportError, export_collisions, export_protocol

    if args.protocol and _given(args, COLLISIONS_ONLY):
        raise usage_error(f"reapcheck export: {', '.join(_given(args, COLLISIONS_ONLY))} "
                          "only apply to --collisions")
    if args.collisions:
        if _given(args, PROTOCOL_ONLY):
            raise usage_error(f"reapcheck export: {', '.join(_given(args, PROTOCOL_ONLY))} "
                              "only apply to --protocol")
        missing = [f"--{n}" for n in ("order", "granularity") if getattr(args, n) is None]
        if missing:
            raise usage_error(f"reapcheck export: --collisions needs {' and '.join(missing)}")
    if args.out:
        outputs.check_file(args.out)  # before the work: nothing is written on a failure
    layout = load_layout(args.layout, args.maps_shared_rule)
    try:
        if args.protocol:
            try:
                config = protocol_config(args, layout, "export", args.mutant,
                                         bool(args.stuck_writer), bool(args.mrelease))
            except ValueError as err:
                raise usage_error(str(err)) from None
            export = export_protocol(layout, config, args.out, args.maps_shared_rule)
        else:
            shift = resolve_pmd_shift(layout, args.pmd_shift)
            config = WalkConfig(args.order, args.granularity, shift,
                                args.exit_order or "forward")
            bound, source = args.bound, "given with --bound"
            if bound is None:
                from .collisions import worst_case

                bound = worst_case(layout, config).result.max_collisions
                source = "reapcheck collisions' worst case W"
            export = export_collisions(layout, config, bound, args.out, args.maps_shared_rule,
                                       source)
    except ExportError as err:
        raise usage_error(f"reapcheck export: {err}") from None
    outputs.emit(args.out, export.text)
    return 0


def cmd_import_trail(args) -> int:
    """0: the trail is a legal run of the model reaching the violation (trace written);
    1: it is not (the first illegal step named); 2: bad input or no spin."""
    from .spin import SpinFailed, SpinUnavailable, import_trail
    from .traces import TraceError

    if args.out:
        outputs.check_file(args.out)
    try:
        trace = import_trail(args.model, args.trail)
    except (SpinUnavailable, SpinFailed) as err:
        print(f"reapcheck: {args.model}: {err}", file=sys.stderr)
        return 2
    except TraceError as err:
        print(f"reapcheck: {err}", file=sys.stderr)
        return 1
    text = json.dumps(trace, indent=1) + "\n"
    outputs.emit(args.out, text)
    return 0
