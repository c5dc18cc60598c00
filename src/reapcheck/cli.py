"""The `reapcheck` command: argument parsing and dispatch; each subcommand's work lives elsewhere."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from contextlib import contextmanager

# Only what every command needs is imported here: `reapcheck collisions` on a small layout
# takes about 0.1 s, most of it Python's start-up, so each subcommand's options are added
# when that subcommand is parsed (_TopParser) and its work imports what it uses (verify,
# Z3, networkx, tabulate, the experiment, export and sweep modules) inside its cmd_*.
from . import bundled
from .model.layout import MAPS_SHARED_RULES, Layout, LayoutError
from .model.walks import GRANULARITIES, ORDERS

# Exit status of every command (README "Exit status"): 0 as expected, 1 violated, 2 bad
# input (or an output that cannot be written), 3 incomplete or unknown; 4 an internal
# error; 130 and 143 after SIGINT and SIGTERM.
EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_INTERNAL = range(5)


def _version() -> str:
    """The installed package's version (its metadata), else the source tree's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("reapcheck")
    except PackageNotFoundError:
        from . import __version__

        return __version__


class _VersionAction(argparse.Action):
    """`--version`: read the package metadata only when asked (about 50 ms)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print reapcheck's version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"reapcheck {_version()}")
        parser.exit()


class UsageError(Exception):
    """Bad command line: one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _pmd_shift(text: str) -> int | None:
    """An explicit PMD shift, or None for `auto` (model/pmd.py: from KernelPageSize)."""
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 12 <= value <= 63:
        raise argparse.ArgumentTypeError(f"must be between 12 and 63, not {value}")
    return value


def _walk_options(p: argparse.ArgumentParser, with_order: bool = True) -> None:
    if with_order:
        p.add_argument("--order", choices=ORDERS, required=True,
                       help="the reaper's VMA order: forward (before v6.18) or reverse (the patch)")
        p.add_argument("--granularity", choices=GRANULARITIES, required=True,
                       help="vma: overlap inside one VMA; ptl: contention on PTE page-table locks")
    p.add_argument("--pmd-shift", type=_pmd_shift, default=None, metavar="S",
                   help="log2 of the address range one PTE page table maps, 12..63, or auto "
                        "(default): from smaps KernelPageSize (4 kB: 21, 16 kB: 25, 64 kB: 29), "
                        "21 without it")
    p.add_argument("--exit-order", choices=ORDERS, default="forward",
                   help="exit_mmap's VMA order (the kernel's is forward; default forward)")
    _maps_shared_rule_option(p)


def _quiet_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true",
                   help="no progress on stderr (default: redrawn on a terminal; elsewhere "
                        "one line every 10 s once a run has taken 5 s)")


def _progress(args, label: str = ""):
    """This command's progress on stderr (progress.py), silenced by --quiet."""
    from .progress import Progress

    return Progress(label, quiet=args.quiet)


def _maps_shared_rule_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--maps-shared-rule", choices=MAPS_SHARED_RULES, default=None,
                   help="which VMAs without VmFlags (plain maps) the reaper takes: private "
                        "(default, docs/model.md §1): 4th permission character p; writable: also "
                        "s without w (maps' s is VM_MAYSHARE; a read-only shared file "
                        "mapping may lack VM_SHARED). smaps VmFlags are always exact")


class _TopParser(_Parser):
    """The `reapcheck` parser, whose subcommands get their options when first needed.

    Every subcommand is registered with argparse in its place (SUBCOMMANDS' order) only
    when a group of them is added; `reapcheck collisions ...` adds the collisions
    group alone, so the verify, export or experiment modules that other groups' choices
    come from are not imported. Anything else (`--help`, an unknown command, no
    command) adds every group first, so help and errors are what they always were."""

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        self._groups = groups  # [(names, add(sub))], in SUBCOMMANDS' order
        self._sub = None

    def add_groups(self, command: str | None = None) -> None:
        """Add `command`'s group of subparsers (every group for None), keeping the order."""
        for names, add in list(self._groups):
            if command is None or command in names:
                self._groups.remove((names, add))
                add(self._sub)
        rank = {name: i for i, name in enumerate(SUBCOMMANDS)}
        by_name = self._sub._name_parser_map  # also the action's `choices`: keep the object
        ordered = sorted(by_name.items(), key=lambda item: rank[item[0]])
        by_name.clear()
        by_name.update(ordered)
        self._sub._choices_actions.sort(key=lambda action: rank[action.dest])

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        self.add_groups(args[0] if args and args[0] in SUBCOMMANDS else None)
        return super().parse_known_args(args, namespace)

    def format_usage(self):
        self.add_groups()
        return super().format_usage()

    def format_help(self):
        self.add_groups()
        return super().format_help()


# Every subcommand, in the order of `reapcheck --help`.
SUBCOMMANDS = ("collisions", "compare", "timed", "generate", "anonymize", "verify", "replay",
               "iterate", "prove", "experiment", "export", "import-trail", "sweep", "report")


def build_parser() -> argparse.ArgumentParser:
    groups = [(("collisions",), _add_collisions), (("compare",), _add_compare),
              (("timed",), _add_timed), (("generate",), _add_generate),
              (("anonymize",), _add_anonymize), (("verify",), _add_verify),
              (("replay",), _add_replay), (("iterate",), _add_iterate),
              (("prove",), _add_prove), (("experiment",), _add_experiment),
              (("export", "import-trail"), _add_export), (("sweep",), _add_sweep),
              (("report",), _add_report)]
    parser = _TopParser(groups, prog="reapcheck", description=(
        "Model checker for the OOM reaper's VMA walk order against exit_mmap(). "
        "With no command: compare both orders on the bundled real layouts."),
        epilog="exit status: 0 as expected, 1 a property or claim violated, 2 bad input, "
               "3 incomplete or unknown, 4 internal error (README \"Exit status\")")
    parser.add_argument("--version", action=_VersionAction)
    parser._sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    return parser


def _add_collisions(sub) -> None:
    from .collisions import ENGINES, FULL_WITNESS_LIMIT, WITNESS_FORMS

    p = sub.add_parser("collisions", help="exact worst-case collisions for one layout and walk")
    p.add_argument("layout", help="a /proc/PID/maps or smaps file, or bundled/NAME")
    _walk_options(p)
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="sparse: any size, fastest; graph: networkx state graph, adds the "
                        "schedule count; auto (default): sparse")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--witness", choices=WITNESS_FORMS, default="auto",
                   help="with --json: full (every step), compact (steps and runs of steps), "
                        f"auto (full up to {FULL_WITNESS_LIMIT:,} steps; default)")
    _quiet_option(p)


def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="both orders x both granularities, side by side")
    p.add_argument("layouts", nargs="*", help="layout files (default: every bundled layout)")
    _walk_options(p, with_order=False)
    p.add_argument("--json", action="store_true", help="print a JSON list of results")
    p.add_argument("--timed", action="store_true",
                   help="add the timed model's columns (reapcheck timed) beside the ptl worst case")
    p.add_argument("--costs", metavar="FILE", help="with --timed: a cost file (default: the "
                                                   "one shipped)")
    _quiet_option(p)


def _add_timed(sub) -> None:
    from .timed_command import add_parser as add_timed_parser

    add_timed_parser(sub, _pmd_shift, _maps_shared_rule_option, _quiet_option)


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="write a synthetic layout in smaps format")
    p.add_argument("vmas", type=_vma_count,
                   help=f"number of VMAs (1 to {MAX_GENERATE_VMAS:,})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", help="VMA sizes, e.g. 4k or 4k-2m (default: a realistic mixture)")
    p.add_argument("--gap", help="gaps between VMAs, e.g. 0 or 0-64k (default: mostly none)")
    p.add_argument("--shared", type=float, default=0.10, help="fraction of VM_SHARED VMAs")
    p.add_argument("--hugetlb", type=float, default=0.01, help="fraction of VM_HUGETLB VMAs")
    p.add_argument("--pfnmap", type=float, default=0.01, help="fraction of VM_PFNMAP VMAs")
    p.add_argument("-o", "--out", help="output file (default: stdout)")


def _add_anonymize(sub) -> None:
    p = sub.add_parser("anonymize", help="replace file names, devices and inodes in a capture")
    p.add_argument("layout", help="a /proc/PID/maps or smaps capture")
    p.add_argument("-o", "--out", help="output file (default: stdout)")


def _add_verify(sub) -> None:
    from .engines.explicit.reduction import REDUCTIONS
    from .kernel_options import add_kernel_options
    from .model.protocol import MUTANTS, PROTOCOL_WALKS
    from .properties.protocol import HISTORY_PROPERTIES, PROPERTIES
    from .verify import VERIFY_ENGINES

    p = sub.add_parser("verify", help="check the mmap_lock/MMF protocol properties on every schedule")
    p.add_argument("layout", nargs="?", default="bundled/tiny.maps",
                   help="layout file or bundled/NAME (default: bundled/tiny.maps)")
    p.add_argument("--walk", choices=PROTOCOL_WALKS, default=None,
                   help="the reaper's iterator (default rev_find, as merged; forward with "
                        "--kernel before 6.18)")
    p.add_argument("--mutant", choices=sorted(MUTANTS), help="check a seeded bug instead")
    p.add_argument("--stuck-writer", action="store_true",
                   help="a thread holds mmap_lock for writing and never lets go")
    p.add_argument("--mrelease", action="store_true", help="add process_mrelease() as an actor")
    add_kernel_options(p)
    _maps_shared_rule_option(p)
    p.add_argument("--max-states", type=_positive, metavar="N",
                   help="stop after N distinct states (verdicts become incomplete)")
    p.add_argument("--engine", choices=VERIFY_ENGINES, default="explicit",
                   help="explicit: breadth-first over every state; z3: Spacer invariants "
                        "(unbounded) and BMC for the shortest traces")
    p.add_argument("--reduction", choices=REDUCTIONS, default=None,
                   help="explicit: por (default) follows one actor where its steps commute "
                        "with everything the others can do and no property sees them "
                        "(partial-order reduction), and drops variables nothing reads; none "
                        "explores every reachable state. Same verdicts; traces shortest. "
                        "With --kernel other than 6.18: none only (the default there)")
    p.add_argument("--timeout", type=_seconds, metavar="S",
                   help="explicit: seconds for the whole search (then verdicts are "
                        "incomplete); z3: solver budget per property (default 300; out of "
                        "time is unknown)")
    p.add_argument("--property", choices=[q.name for q in PROPERTIES + HISTORY_PROPERTIES],
                   help="with --trace-out: which violated property's trace to write")
    p.add_argument("--trace-out", metavar="FILE",
                   help="write the shortest counterexample as JSON (and FILE's .itf.json twin)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _quiet_option(p)


def _add_replay(sub) -> None:
    p = sub.add_parser("replay", help="re-execute a trace or witness against the model")
    p.add_argument("trace", help="a trace JSON written by verify --trace-out, or the JSON "
                                 "of collisions --json (full or compact witness)")


def _add_iterate(sub) -> None:
    from .model import maple

    p = sub.add_parser("iterate", help="which VMAs each reaper iterator visits (maple-tree semantics)")
    p.add_argument("layouts", nargs="+", metavar="LAYOUT")
    p.add_argument("--walk", choices=maple.WALKS, required=True)
    p.add_argument("--json", action="store_true", help="one JSON object per layout, one per line")


def _add_prove(sub) -> None:
    p = sub.add_parser("prove", help="Z3 proofs: iterators visit every VMA; collision bounds; "
                                     "protocol properties for any layout")
    p.add_argument("--timeout", type=_positive, metavar="S", default=120,
                   help="solver budget per claim in seconds (default 120); out of time is unknown")
    p.add_argument("--claim", action="append", metavar="NAME",
                   help="prove only this claim (repeatable; default: every claim)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _quiet_option(p)


def _add_experiment(sub) -> None:
    from .experiment.options import add_parser as add_experiment_parser

    add_experiment_parser(sub, _positive)


def _add_export(sub) -> None:
    from .export_command import add_parsers as add_export_parsers

    add_export_parsers(sub, _pmd_shift, _maps_shared_rule_option)


def _add_sweep(sub) -> None:
    from .sweep_command import add_parser as add_sweep_parser

    add_sweep_parser(sub, _positive, _quiet_option)


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="regenerate the reviewer-facing results/ directory")
    p.add_argument("--out", default="results", help="output directory (default: results)")
    _quiet_option(p)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


# `generate`'s cap: 15 times vm.max_map_count's default (65530), for model experiments
# beyond it; a VMA takes about 1.5 KiB while the layout is drawn and written, so the cap
# is about 1.5 GiB and 30 s. (The address space alone would allow about 1.7e10: 2**47
# bytes of user space, two pages a VMA with its gap.)
MAX_GENERATE_VMAS = 1_000_000


def _vma_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text[:40]!r}") from None
    if not 1 <= value <= MAX_GENERATE_VMAS:
        raise argparse.ArgumentTypeError(
            f"1 to {MAX_GENERATE_VMAS:,} VMAs (about 1.5 KiB of memory each while "
            f"generating), not {value:,}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def load_layout(name: str, maps_shared_rule: str | None = None) -> Layout:
    """A file path, or bundled/NAME for a layout shipped with reapcheck; VMAs without
    VmFlags judged by `maps_shared_rule` (None: docs/model.md §1's default, private)."""
    if name.startswith(bundled.PREFIX) and not os.path.exists(name):
        if name not in bundled.names():
            raise LayoutError(name, None, "no such bundled layout (have: "
                              + ", ".join(bundled.names()) + ")")
        layout = bundled.load_bundled(name)
    else:
        from .model.smaps import load

        layout = load(name)
    return layout if maps_shared_rule is None else layout.with_maps_shared_rule(maps_shared_rule)


def _bundled_text(name: str) -> str | None:
    """bundled/NAME's text, as load_layout() resolves the name; None for a file path."""
    if not name.startswith(bundled.PREFIX) or os.path.exists(name):
        return None
    if name not in bundled.names():
        raise LayoutError(name, None, "no such bundled layout (have: "
                          + ", ".join(bundled.names()) + ")")
    return bundled.text(name)


def _own_process(path: str) -> bool:
    """Is `path` a file of reapcheck's own process: under /proc/self/, /proc/thread-self/
    or /proc/<our pid>/ (after symlinks, so a link to one counts too)?"""
    own = f"/proc/{os.getpid()}"
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return False
    return real == own or real.startswith(own + "/")


def _input_warnings(names, layouts=None) -> list[str]:
    """Where the input misleads (issue 11): a file of reapcheck's own process, and
    layouts without VmFlags (plain maps), whose reapable count smaps may contradict."""
    lines = [f"reapcheck: warning: {name} belongs to reapcheck's own process (pid "
             f"{os.getpid()}), not to the process you may mean: give /proc/PID/"
             f"{os.path.basename(name)} of that process" for name in names if _own_process(name)]
    for name, layout in zip(names, layouts or ()):
        plain = layout.plain_vmas
        if plain == 0 or (name.startswith(bundled.PREFIX) and not os.path.exists(name)):
            continue  # VmFlags on every VMA, or a bundled layout (README "Bundled layouts")
        what = ("is a plain maps file" if plain == len(layout) else
                f"has {plain} of {len(layout)} VMAs without a VmFlags line")
        lines.append(f"reapcheck: warning: {name} {what}: maps cannot show VmFlags pf "
                     "(VM_PFNMAP) or ht (VM_HUGETLB), so the reapable count may differ from "
                     "the same process's smaps (e.g. [vvar] is pf); smaps is exact")
    return lines


def _warn(lines) -> None:
    """Warnings on stderr, printed once every input has been checked (so a bad input
    stays one line of stderr)."""
    for line in lines:
        print(line, file=sys.stderr)


def _warn_unused_rule(layouts, rule: str | None) -> None:
    """--maps-shared-rule given, but some layouts have VmFlags on every VMA: say it
    changes nothing there (smaps `sh` is exact) instead of ignoring it silently."""
    exact = [layout.path for layout in layouts if layout.plain_vmas == 0]
    if rule is not None and exact:
        print(f"reapcheck: warning: --maps-shared-rule {rule} has no effect on "
              f"{', '.join(exact)}: every VMA has VmFlags (smaps sh is exact)",
              file=sys.stderr)


def _write(out: str | None, text: str) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    from . import outputs

    outputs.write_file(out, text)  # whole or not at all; errors name the file


def cmd_collisions(args) -> int:
    from . import render
    from .collisions import worst_case, write_json
    from .model.pmd import resolve_pmd_shift
    from .model.walks import WalkConfig

    layout = load_layout(args.layout, args.maps_shared_rule)
    _warn_unused_rule([layout], args.maps_shared_rule)
    shift = resolve_pmd_shift(layout, args.pmd_shift)
    config = WalkConfig(args.order, args.granularity, shift, args.exit_order)
    progress = _progress(args, f"{layout.path} {args.order}/{args.granularity}")
    analysis = worst_case(layout, config, args.engine, progress)
    progress.close()
    _warn(_input_warnings([args.layout], [layout]))  # after the work: an error stays one line
    if args.json:
        write_json(analysis, sys.stdout, args.witness)
    else:
        print(render.collision_summary(analysis))
    return 0


def cmd_compare(args) -> int:
    import json

    from . import render
    from .collisions import compare_pairs, summary_json
    from .model.pmd import resolve_pmd_shift

    if args.costs and not args.timed:
        raise UsageError("reapcheck compare: --costs is for the timed columns; give --timed too")
    if args.timed:
        from .timed_command import compare_timed, compare_timed_table, load_costs_arg

        costs = load_costs_arg(args.costs, UsageError, "compare")  # before any work
    names = args.layouts or bundled.names()
    layouts = [load_layout(name, args.maps_shared_rule)
               for name in names]  # every input checked before any work
    _warn_unused_rule(layouts, args.maps_shared_rule)
    shifts = [resolve_pmd_shift(layout, args.pmd_shift) for layout in layouts]
    progress = _progress(args, "compare")
    rows = [pair for layout, shift in zip(layouts, shifts)
            for pair in compare_pairs([layout], shift, args.exit_order, progress.stage)]
    timed_rows = compare_timed(layouts, shifts, args.exit_order, costs) if args.timed else None
    progress.close()
    _warn(_input_warnings(names, layouts))
    if args.json:
        out = [summary_json(a) for pair in rows for a in pair]
        if timed_rows:  # each ptl result gets its order's timed summary
            by_layout = {row["layout"]: row for row in timed_rows}
            for item in out:
                if item["granularity"] == "ptl":
                    item["timed"] = by_layout[item["layout"]][item["order"]]
        print(json.dumps(out, indent=1))
    else:
        print(render.compare_table(rows))
        print(_shift_note(layouts, shifts, args.pmd_shift is None))
        print(render.rule_legend(layout.reapable_rule for layout in layouts))
        print(render.compare_legend(args.exit_order))
        if timed_rows:
            worst = {(f.layout.path, a.model.config.order): a.result.max_collisions
                     for f, r in rows if f.model.config.granularity == "ptl" for a in (f, r)}
            print("\ntimed model (reapcheck timed; costs: "
                  f"{costs.meta.get('measured') or costs.source}), PTE-lock contentions:")
            print(compare_timed_table(timed_rows, worst))
    return 0


def cmd_timed(args) -> int:
    from .model.pmd import resolve_pmd_shift
    from .timed_command import command

    return command(args, load_layout, resolve_pmd_shift, UsageError,
                   lambda name, layout: _warn(_input_warnings([name], [layout])))


def _shift_note(layouts, shifts, auto: bool) -> str:
    """One line under the compare table: the PMD shift the ptl rows used."""
    how = "auto" if auto else "--pmd-shift"
    if len(set(shifts)) == 1:
        return f"ptl rows: PMD shift {shifts[0]} ({how})"
    return f"ptl rows: PMD shift ({how}) " + ", ".join(
        f"{layout.path} {shift}" for layout, shift in zip(layouts, shifts))


def cmd_generate(args) -> int:
    from .model.smaps import format_smaps
    from .model.synthetic import SyntheticSpec, generate, parse_range

    fields = {"vmas": args.vmas, "seed": args.seed, "shared": args.shared,
              "hugetlb": args.hugetlb, "pfnmap": args.pfnmap}
    try:
        if args.size:
            fields["sizes"] = parse_range(args.size)
        if args.gap:
            fields["gaps"] = parse_range(args.gap)
        layout = generate(SyntheticSpec(**fields))
    except ValueError as err:
        raise UsageError(f"reapcheck generate: {err}") from None
    _write(args.out, format_smaps(layout))
    return 0


def cmd_anonymize(args) -> int:
    from . import outputs
    from .anonymize import anonymize
    from .model.smaps import read_text

    if args.out:
        outputs.check_file(args.out)
    text = _bundled_text(args.layout) or read_text(args.layout, args.layout)
    _write(args.out, anonymize(text, args.layout))  # anonymize() validates before output
    _warn(_input_warnings([args.layout]))
    return 0


def cmd_verify(args) -> int:
    import json

    from . import outputs
    from .engines.explicit.explicit import StopRequest
    from .kernel_options import protocol_config
    from .model.kernels import DEFAULT_KERNEL
    from .properties.protocol import properties_for
    from .verify import render as render_verification, verification_json, verify

    if args.property and not args.trace_out:
        raise UsageError("reapcheck verify: --property only picks which trace --trace-out "
                         "writes; give --trace-out FILE too")
    if args.max_states is not None and args.engine == "z3":
        raise UsageError("reapcheck verify: --max-states bounds the explicit engine only; "
                         "with --engine z3 use --timeout")
    if args.reduction is not None and args.engine == "z3":
        raise UsageError(f"reapcheck verify: --reduction {args.reduction} chooses how the "
                         "explicit engine searches; --engine z3 has no reduction to choose")
    layout = load_layout(args.layout, args.maps_shared_rule)
    _warn_unused_rule([layout], args.maps_shared_rule)
    if args.trace_out:  # before the work: a path that cannot be written fails now
        for path in _trace_paths(args.trace_out):
            outputs.check_file(path)
    try:
        config = protocol_config(args, layout, "verify", args.mutant, args.stuck_writer,
                                 args.mrelease)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.reduction is None:
        args.reduction = "por" if config.kernel == DEFAULT_KERNEL else "none"
    elif args.reduction == "por" and config.kernel != DEFAULT_KERNEL:
        raise UsageError(f"reapcheck verify: --reduction por is argued sound for kernel "
                         f"{DEFAULT_KERNEL}'s rules only; kernel {config.kernel} is checked "
                         "with --reduction none (the default there)")
    if args.property and args.property not in [p.name for p in properties_for(config)]:
        raise UsageError(f"reapcheck verify: {args.property} is checked on kernels before "
                         f"{DEFAULT_KERNEL} only (--kernel)")
    progress = _progress(args, f"verify {layout.path}")
    stop = StopRequest()
    with _stop_on_signals(stop, args.engine == "explicit"):
        result = verify(layout, config, args.engine, args.max_states,
                        progress.search if args.engine == "explicit" else progress,
                        args.timeout, stop, args.reduction)
    progress.close()
    written = _write_trace(args, result) if args.trace_out else None
    _warn(_input_warnings([args.layout], [layout]))
    if args.json:
        data = verification_json(result)
        if written is not None:
            data["trace_out"] = written
        print(json.dumps(data, indent=1))
    else:
        print(render_verification(result))
        if written is not None and (written["file"] or written["other_violated"]):
            print("\n" + _trace_out_text(written))
    if result.stopped in SIGNAL_EXITS:  # as TLC: the partial result, then exit
        return SIGNAL_EXITS[result.stopped]
    statuses = set(result.statuses.values())
    return 1 if "violated" in statuses else (0 if statuses == {"holds"} else 3)


SIGNAL_EXITS = {"SIGINT": 128 + signal.SIGINT, "SIGTERM": 128 + signal.SIGTERM}


@contextmanager
def _stop_on_signals(stop, active: bool):
    """While the explicit search runs, SIGINT and SIGTERM ask it to stop (it then
    returns its partial result) instead of killing the process."""
    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda signum, _frame: stop(signal.Signals(signum).name))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _trace_paths(trace_out: str) -> tuple[str, str]:
    """FILE and its ITF twin (FILE without .json, plus .itf.json)."""
    return trace_out, trace_out.removesuffix(".json") + ".itf.json"


def _write_trace(args, result) -> dict:
    """Write the trace of `--property`, or of the most severe violated property
    (BY_SEVERITY); say which, and which others are violated (`trace_out` in the JSON)."""
    import json

    from . import outputs
    from .properties.protocol import ALL_BY_SEVERITY
    from .traces import itf_json, trace_json

    violated = [p.name for p in ALL_BY_SEVERITY if result.statuses.get(p.name) == "violated"]
    name = args.property or next((n for n in violated if n in result.traces), None)
    others = [n for n in violated if n != name]
    if name is None or name not in result.traces:
        reason = _no_trace_reason(result, name)
        print(f"reapcheck: {reason}: no trace written", file=sys.stderr)
        return {"file": None, "itf": None, "property": None, "reason": reason,
                "other_violated": others}
    trace = result.traces[name]
    path, twin = _trace_paths(args.trace_out)
    outputs.write_files([
        (path, json.dumps(trace_json(result.model, name, trace, result.engine), indent=1) + "\n"),
        (twin, json.dumps(itf_json(result.model, name, trace), indent=1) + "\n")])
    return {"file": path, "itf": twin, "property": name,
            "chosen_by": "--property" if args.property else "severity",
            "other_violated": others}


def _trace_out_text(written: dict) -> str:
    """The lines under `verify`'s text output: which trace was written, what else failed."""
    others = ", ".join(written["other_violated"])
    also = f"\nalso violated: {others} (--property NAME writes one of these)" if others else ""
    if written["file"] is None:
        return f"no trace written ({written['reason']}){also}"
    why = ("as --property asked" if written["chosen_by"] == "--property" else
           "the most severe violation: use-after-free,\nthen deadlock, then termination, "
           "then the rest")
    return (f"trace written to {written['file']} (and {written['itf']}; ITF: the Informal "
            "Trace Format of Apalache/Quint):\n"
            f"{written['property']}, {why}{also}")


def _no_trace_reason(result, name: str | None) -> str:
    """Say what is known: a property not violated, or none violated; never claim that
    nothing is violated when some verdicts are unknown or incomplete."""
    open_verdicts = [s for s in result.statuses.values() if s in ("unknown", "incomplete")]
    if name is not None:
        status = result.statuses.get(name)
        return f"{name} is {status}" if status != "holds" else f"{name} holds"
    if not open_verdicts:
        return "no property is violated"
    counts = ", ".join(f"{open_verdicts.count(s)} "
                       f"{'property' if open_verdicts.count(s) == 1 else 'properties'} {s}"
                       for s in ("unknown", "incomplete") if s in open_verdicts)
    return f"no violation found; {counts}"


def cmd_replay(args) -> int:
    from .collision_replay import KIND as COLLISIONS_KIND, WitnessMismatch, replay_collisions
    from .traces import TraceError, load_json, load_trace, replay_trace

    data = load_json(args.trace)
    try:
        if isinstance(data, dict) and data.get("kind") == COLLISIONS_KIND:
            print(replay_collisions(data, args.trace, load_layout))
        else:
            print(replay_trace(load_trace(args.trace, data), args.trace))
    except (TraceError, WitnessMismatch) as err:
        print(f"reapcheck: {args.trace}: {err}", file=sys.stderr)
        return 1
    return 0


def cmd_iterate(args) -> int:
    import json

    from .model import maple
    from .traces import short_list

    layouts = [load_layout(name) for name in args.layouts]
    _warn(_input_warnings(args.layouts))  # iterators visit every VMA: VmFlags do not matter
    for layout in layouts:
        visits = maple.visits(layout, args.walk)
        skipped = maple.skipped(layout, args.walk)
        if args.json:
            print(json.dumps({"layout": layout.path, "visits": visits, "skipped": skipped}))
        else:
            print(f"{layout.path}: {args.walk} visits {len(visits)} of {len(layout)} VMAs"
                  f"{'; skips ' + short_list(skipped) if skipped else ''}")
    return 0


def cmd_prove(args) -> int:
    import json

    from .prove import EXPECTED as EXPECTED_CLAIMS, prove
    from .prove import counterexample_text as prove_counterexample_text
    from .prove import exit_status as prove_exit_status, verdict as claim_verdict
    from .prove import PROTOCOL_CLAIMS, protocol_text

    if args.claim and set(args.claim) - set(EXPECTED_CLAIMS):
        unknown = sorted(set(args.claim) - set(EXPECTED_CLAIMS))
        raise UsageError(f"reapcheck prove: no such claim: {', '.join(unknown)} "
                         "(reapcheck prove --json lists every claim)")
    progress = _progress(args, "prove")
    result = prove(timeout_s=args.timeout, progress=progress,
                   only=tuple(args.claim) if args.claim else None)
    progress.close()
    for name, c in result["claims"].items():  # against what each claim should give
        c["expected"], c["verdict"] = EXPECTED_CLAIMS[name], claim_verdict(name, c)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        first = {name: c for name, c in result["claims"].items()
                 if name not in PROTOCOL_CLAIMS}
        rows = [[name, c["status"], c["bound"], f"{c['expected']}: {c['verdict']}",
                 "; ".join(c.get("assumptions") or []) or "-",
                 f"{c.get('seconds', 0):.1f}"] for name, c in first.items()]
        from tabulate import tabulate  # 80 ms to import: only for tables

        if rows:
            print(tabulate(rows, headers=["claim", "status", "bound", "expected",
                                          "assumptions", "seconds"]))
        for name, c in first.items():
            if c.get("invariant"):
                print(f"\n{name}: invariant: {c['invariant']}")
            if c.get("counterexample"):
                print(f"\n{name}: counterexample: {prove_counterexample_text(c)}")
        print("\n".join(protocol_text(result["claims"])).lstrip("\n"))
    return prove_exit_status(result)  # 0 as expected, 1 unexpected, 3 unknown/up to K


def cmd_experiment(args) -> int:
    from .experiment.command import command

    return command(args, load_layout)


def cmd_report(args) -> int:
    from pathlib import Path

    from . import outputs
    from .report import write_report

    outputs.check_directory(args.out)  # before minutes of work
    progress = _progress(args, "report")
    write_report(Path(args.out), progress_factory=progress.stage)
    progress.close()
    return 0


def cmd_sweep(args) -> int:
    from .sweep_command import command

    return command(args, UsageError)


def cmd_export(args) -> int:
    from .export_command import cmd_export as export

    return export(args, load_layout, UsageError)


def cmd_import_trail(args) -> int:
    from .export_command import cmd_import_trail as import_trail

    return import_trail(args)


COMMANDS = {"prove": cmd_prove, "collisions": cmd_collisions, "compare": cmd_compare, "generate": cmd_generate,
            "anonymize": cmd_anonymize, "verify": cmd_verify, "replay": cmd_replay,
            "iterate": cmd_iterate, "report": cmd_report, "experiment": cmd_experiment,
            "export": cmd_export, "import-trail": cmd_import_trail, "timed": cmd_timed,
            "sweep": cmd_sweep}


def main(argv=None, parser=None) -> int:
    """Run one command; `parser` (from build_parser(), about 6 ms to build) may be reused
    by callers that run many commands in one process, such as the fuzz tests."""
    parser = parser or build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            args = parser.parse_args(["compare"])
        _refuse_empty_paths(args)
        return COMMANDS[args.command](args)
    except UsageError as err:
        print(err, file=sys.stderr)
        return 2
    except LayoutError as err:
        print(f"reapcheck: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `reapcheck ... --json | head`: not an error
        _silence_stdout()
        return 0
    except OSError as err:  # an output file that cannot be written
        print(f"reapcheck: {err.filename or ''}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reapcheck: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - a bug: never exit 1, which means "violated"
        traceback.print_exc()
        print("reapcheck: internal error (a bug; the traceback above says where)",
              file=sys.stderr)
        return EXIT_INTERNAL


OUTPUT_OPTIONS = {"out": "--out", "trace_out": "--trace-out"}  # every command's output paths


def _refuse_empty_paths(args) -> None:
    """An empty output path (`-o ''`, often an unset shell variable) is a mistake, never
    "stdout" or "no file": UsageError, before any work."""
    for attr, option in OUTPUT_OPTIONS.items():
        if getattr(args, attr, None) == "":
            raise UsageError(f"reapcheck {args.command}: {option}: an empty path")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
