"""`reapcheck export --format promela`: the models as Promela, for SPIN.

Both exports are rendered from the model's own definition: every guard, update and
property below is the Python rule of model/protocol.py, model/walk_product.py,
properties/protocol.py or properties/collisions.py evaluated on `PromelaOps`
(engines/promela_ops.py), which builds Promela text instead of values or Z3 terms.
Nothing here restates a kernel rule.

Shape of the protocol file (`export_protocol`):
- the model's variables (model/protocol.py VARIABLES) as global `int`s with Init's
  values: mmap_lock (`readers`, `writer`, `waiters`) and the MMF flags are globals (the
  header and comments name the lock as the `--kernel` version did: mmap_sem before 5.8);
- the reaper's visit sequence and the reapable flags as constant arrays (`hidden`: not
  in SPIN's state vector; filled by `init` before any actor runs);
- one proctype per actor: `exit_mmap`, `oom_reaper`, `process_mrelease` (with
  `--mrelease`) and `stuck_writer` (with `--stuck-writer`; it holds mmap_lock from the
  start, `writer` = 2, and never runs a step). An actor is one `do` loop with one
  `d_step { guard -> assignments }` per model action: one SPIN transition per model step;
- one monitor proctype per property (properties/protocol.py), named in a comment.
  `always` properties: `atomic { !(P) -> NAME = 0; assert(NAME) }`, enabled in
  exactly the reachable states where P fails. `at_terminal` properties add SPIN's
  `timeout`, true exactly when no other statement is executable: as every actor
  statement is one model action, that is a state where no model action is enabled,
  the states properties/protocol.py checks them in. Every process waits at an `end`
  label, so SPIN's own invalid-end-state check never fires: deadlock is
  `no_deadlock`'s assertion, as in reapcheck.

Shape of the collision file (`export_collisions`): `exit_pos`, `reaper_pos` and a
`collisions` counter; the two walks' item keys as constant arrays; `exit_mmap` and
`reaper` proctypes with one d_step per action (model/walk_product.py), each adding
`is_collision(before, after)` (properties/collisions.py) to the counter and asserting
`collisions <= B`. Two LTL claims: `within_bound` ([] collisions <= B, the default
claim) holds iff no schedule has more than B collisions; `reaches_bound`
([] collisions < B) is violated iff some schedule reaches B. With B = W, the first
holding and the second violated establishes W as the worst case (B = W - 1 refuted,
B = W proved), the question `reapcheck collisions` answers.

Keys (granularity ptl: PMD indices, up to 2**51 for addresses near 2**64) do not fit
Promela's 32-bit int; the file uses their ranks among the keys of both walks instead
(order preserving, so every comparison the model makes gives the same answer).

Each file's header names the reapcheck version and options that made it and the exact
spin, gcc and pan commands, and ends with one `reapcheck-export:` JSON line (layout,
configuration, bound) that `reapcheck import-trail` reads.
"""
from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass

from . import __version__
from .engines.promela_ops import PExpr, PromelaOps, is_false, text
from .model.layout import Layout
from .model.protocol import (MAX_OOM_REAP_RETRIES, MR_DONE, RP_DONE, VARIABLES,
                             Protocol, ProtocolConfig)
from .model.walk_product import VARIABLES as WALK_VARIABLES, WalkProduct
from .model.walks import ACTORS, WalkConfig
from .properties.collisions import is_collision
from .model.kernels import DEFAULT_KERNEL, kernel_named
from .properties.protocol import properties_for
from .model import protocol as protocol_model
from .traces import indices_text, layout_json, short_list, visits_text

EXPORT_KIND = "reapcheck-promela"
META_PREFIX = " * reapcheck-export: "
ITEM_LIMIT = 200_000  # items per walk: a larger constant array is refused (exit 2)
HASH_BITS = 20  # pan -w: 2**20 hash slots (8 MiB); more states only chain longer
PROCESS = {"exit_mmap": "exit_mmap", "reaper": "oom_reaper", "mrelease": "process_mrelease"}
COLLISION_PROCESS = {"exit_mmap": "exit_mmap", "reaper": "reaper"}
COUNTER = "collisions"
NUMBERS = {7: "seven", 9: "nine"}


class ExportError(ValueError):
    """The model cannot be exported (too large for SPIN's arrays); exit 2."""


@dataclass(frozen=True)
class Export:
    """One exported model: the file's text and how to check it."""

    text: str
    kind: str  # protocol | collisions
    depth: int  # pan -m: at least the longest run of the model, plus init's steps
    meta: dict  # the JSON of the file's `reapcheck-export:` line
    write_only: tuple[str, ...] = ()  # variables no statement reads: `spin -a` hides them

    def pan_args(self, extra: tuple[str, ...] = ()) -> list[str]:
        return [f"-m{self.depth}", f"-w{HASH_BITS}", *extra]


# -- rendering helpers --------------------------------------------------------------------

def _comment(line: str) -> str:
    """Text safe inside a /* */ comment (a layout path may contain '*/')."""
    return line.replace("*/", "* /")


def _assignments(names, state, after, temporaries: list[str]) -> list[str]:
    """Promela assignments giving `after` from `state` in one d_step.

    The model's update is simultaneous (every right side reads the state before the
    step); Promela assigns in sequence. So an assignment X = e comes before any
    assignment to a variable that e reads; a cycle (none in the models today) goes
    through hidden temporaries, named in `temporaries` for declaration.
    """
    pending = {name: new for name, old, new in zip(names, state, after) if new is not old}
    reads = {name: (new.reads if isinstance(new, PExpr) else frozenset()) - {name}
             for name, new in pending.items()}
    order: list[str] = []
    left = [name for name in names if name in pending]
    while left:
        # a variable another pending right side reads is assigned after that one
        ready = [x for x in left if not any(x in reads[y] for y in left if y != x)]
        if not ready:  # a cycle: stage every right side first
            staged = [f"{x}_next" for x in pending]
            temporaries.extend(t for t in staged if t not in temporaries)
            return ([f"{t} = {text(pending[x])}" for t, x in zip(staged, pending)] +
                    [f"{x} = {t}" for t, x in zip(staged, pending)])
        order.append(ready[0])
        left.remove(ready[0])
    return [f"{x} = {text(pending[x])}" for x in order]


def _reads(*values) -> set[str]:
    """The model variables these rendered values read."""
    return set().union(*(v.reads for v in values if isinstance(v, PExpr)))


def _rule(guard, assigns: list[str], tail: list[str], label: str) -> str:
    body = "; ".join(assigns + tail) or "skip"
    return f"\t:: d_step {{ {text(guard)} -> {body} }} /* action {label} */"


def _array_lines(ops: PromelaOps, comments: dict[str, str]) -> tuple[list[str], list[str]]:
    """Declarations and init assignments of the constant arrays."""
    decls, fills = [], []
    for table in ops.tables.values():
        if not table.values:
            continue
        decls.append(f"hidden int {table.name}[{len(table.values)}];"
                     f" /* {comments.get(table.name, 'constant')} */")
        fills.extend(f"\t\t{table.name}[{i}] = {v};" for i, v in enumerate(table.values))
    return decls, fills


def _init(fills: list[str], runs: list[str]) -> list[str]:
    """init: fill the constant arrays (one d_step: a single transition, however long the
    table; an atomic sequence of more than 256 statements is refused by spin's statement
    merging) and start every process, all in one atomic step from the start state."""
    body = ["\t\td_step {", *("\t" + f for f in fills), "\t\t};"] if fills else []
    return ["init {", "\tatomic {", *body, *runs, "\t}", "}", ""]


def _meta_line(meta: dict) -> str:
    # "*/" can only occur inside a JSON string, where "*\/" is the same string
    return META_PREFIX + json.dumps(meta, separators=(",", ":")).replace("*/", "*\\/")


def read_meta(model_text: str, source: str) -> dict:
    """The `reapcheck-export:` JSON of an exported file (ValueError if absent/malformed)."""
    for line in model_text.splitlines():
        if line.startswith(META_PREFIX):
            meta = json.loads(line[len(META_PREFIX):])
            if isinstance(meta, dict) and meta.get("kind") == EXPORT_KIND:
                return meta
            break
    raise ValueError(f"{source}: not a reapcheck Promela export, or cut short (no "
                     "reapcheck-export line: reapcheck export writes it at the end)")


def _header(title: str, command: str, about: list[str], checks: list[str],
            notes: list[str], meta: dict) -> list[str]:
    lines = ["/*", f" * {title}", f" * Made by reapcheck {__version__}:",
             f" *   {_comment(command)}"]
    for block in (about, ["", "Check it with SPIN 6 and gcc:"] + checks, notes):
        lines += [f" * {_comment(x)}".rstrip() if x else " *" for x in block]
    lines += [" *", " * The layout and options in full, as JSON: the reapcheck-export line at the",
              " * end of this file (import-trail reads it).", " */"]
    return lines


def _trailer(meta: dict) -> list[str]:
    """The file's last comment: the `reapcheck-export:` JSON (the whole layout: data,
    kept out of the header so that the header stays short)."""
    return ["", "/*", " * What reapcheck import-trail reads: the layout and options of this export.",
            _meta_line(meta), " */"]


def _phase_names(historical: bool = False) -> dict[str, list[tuple[int, str]]]:
    """Each program counter's values with the names model/protocol.py gives them
    (EX_READ = 0 ...), for the header's legend; exit_mmap's are model/history.py's
    (H_MMPUT = 0 ...) for a kernel before 6.1."""
    from .model import history as history_model

    out = {}
    for var, prefix in (("ex_pc", "EX_"), ("rp_pc", "RP_"), ("mr_pc", "MR_"),
                        ("writer", "WRITER_")):
        module = protocol_model
        if var == "ex_pc" and historical:
            module, prefix = history_model, "H_"
        out[var] = sorted((value, name.removeprefix(prefix))
                          for name, value in vars(module).items()
                          if name.startswith(prefix) and type(value) is int)
    return out


def command_line(layout: Layout, options: list[str], out: str | None) -> str:
    words = ["reapcheck", "export", layout.path, "--format", "promela", *options]
    if out:
        words += ["-o", out]
    return " ".join(shlex.quote(w) for w in words)


# -- the protocol model --------------------------------------------------------------------

def protocol_options(config: ProtocolConfig, maps_shared_rule: str | None) -> list[str]:
    opts = ["--protocol", "--walk", config.walk]
    if config.mutant:
        opts += ["--mutant", config.mutant]
    if config.stuck_writer:
        opts.append("--stuck-writer")
    if config.mrelease:
        opts.append("--mrelease")
    if config.kernel != DEFAULT_KERNEL:
        opts += ["--kernel", config.kernel]
    if config.mlocked:
        opts += ["--mlocked", ",".join(map(str, config.mlocked))]
    if maps_shared_rule:
        opts += ["--maps-shared-rule", maps_shared_rule]
    return opts


def protocol_depth(model: Protocol) -> int:
    """pan -m: every step raises the progress measure (model/protocol.py), so no run is
    longer than its largest value; plus init's and a monitor's steps."""
    top = dict.fromkeys(VARIABLES, 0)
    top.update(ex_pc=model.ex_done, ex_pos=model.ex_pos_bound, rp_pc=RP_DONE,
               rp_attempt=MAX_OOM_REAP_RETRIES, rp_pos=len(model.seq), mr_pc=MR_DONE,
               mr_pos=len(model.seq))
    return model.progress_measure(tuple(top[name] for name in VARIABLES)) + 16


def export_protocol(layout: Layout, config: ProtocolConfig, out_name: str | None = None,
                    maps_shared_rule: str | None = None) -> Export:
    """The protocol model of `layout` under `config` as one Promela file.

    Shapes: one `int` global per model variable; arrays `visit_seq[len(seq)]` (VMA
    indices, the walk's visit order) and `reapable_vma[len(layout)]` (0/1).
    """
    model = Protocol(layout, config)
    ops = PromelaOps()
    ops.table("visit_seq", model.seq)
    ops.table("reapable_vma", model.reapable)
    state = tuple(ops.var(name) for name in VARIABLES)
    init = dict(zip(VARIABLES, model.init()))
    temporaries: list[str] = []

    actors = [a for a in ("exit_mmap", "reaper", "mrelease")
              if a != "mrelease" or config.mrelease]
    procs, read = [], set()
    for actor in actors:
        rules = []
        for action in model.actions:
            if action.actor != actor:
                continue
            guard = model.guard(state, action, ops)
            if is_false(guard):
                continue  # disabled in this configuration (a seeded bug's other branch)
            after = model.update(state, action, ops)
            read |= _reads(guard, *(new for old, new in zip(state, after) if new is not old))
            rules.append(_rule(guard, _assignments(VARIABLES, state, after, temporaries), [],
                               action.name))
        name = PROCESS[actor]
        procs += [f"proctype {name}() {{", f"end_{name}:", "\tdo", *rules, "\tod", "}", ""]
    kernel = kernel_named(config.kernel)
    if config.stuck_writer:
        procs += ["proctype stuck_writer() {",
                  f"\t/* took {kernel.lock_name} for writing before the kill (writer = 2 "
                  "from the",
                  f"\t   start) and never calls {kernel.write_unlock_call}: no step of its "
                  "own */",
                  "end_stuck_writer:", "\tfalse", "}", ""]

    monitors, flags = [], []
    properties = properties_for(config)
    for prop in properties:
        holds = prop.predicate(model, state, ops)
        read |= _reads(holds)
        fail = ops.Not(holds)
        guard = ops.And(PExpr("timeout"), fail) if prop.expectation == "at_terminal" else fail
        flags.append(f"hidden byte {prop.name} = 1;")
        when = ("in a state where no step is enabled (timeout)"
                if prop.expectation == "at_terminal" else "in every reachable state")
        monitors += [f"/* property {prop.name} ({prop.expectation}): {_comment(prop.description)};",
                     f"   checked {when} */",
                     f"proctype check_{prop.name}() {{", f"end_check_{prop.name}:",
                     f"\tatomic {{ {text(guard) if not is_false(guard) else '0'} -> "
                     f"{prop.name} = 0; assert({prop.name}) }} /* property {prop.name} */",
                     "}", ""]

    decls, fills = _array_lines(ops, {
        "visit_seq": f"the {config.walk} walk's visits, VMA indices in order (model/maple.py)",
        "reapable_vma": "1 when the reaper's filter takes VMA i (model/layout.py)"})
    variables = [f"int {name} = {init[name]};" for name in VARIABLES]
    runs = [f"\t\trun {PROCESS[a]}();" for a in actors]
    if config.stuck_writer:
        runs.append("\t\trun stuck_writer();")
    runs += [f"\t\trun check_{p.name}();" for p in properties]

    depth = protocol_depth(model)
    write_only = tuple(name for name in VARIABLES if name not in read)
    meta = {"kind": EXPORT_KIND, "version": 1, "model": "protocol",
            "reapcheck": __version__, "layout": layout_json(layout),
            "config": config.to_json(), "depth": depth}
    base = os.path.basename(out_name) if out_name else "model.pml"
    pan = f"./pan -m{depth} -w{HASH_BITS}"
    checks = ["In the file's directory:", f"  spin -a {base}", "  gcc -O2 -DSAFETY -o pan pan.c",
              f"  {pan} -c0      (every violated property: no stop at the first error)",
              f"  {pan}          (stops at the first violation, writes {base}.trail)",
              f"  reapcheck import-trail {base} -o trace.json && reapcheck replay trace.json",
              "A violated property prints `pan:N: assertion violated NAME (at depth D)`;",
              f"`errors: 0` means all {NUMBERS[len(properties)]} hold. `max search depth too "
              "small` would make the",
              "search incomplete (never seen with this -m: no run is longer).",
              "State count: compile with -DNOREDUCE (no partial-order reduction); when",
              "no property is violated, pan's `states, stored` = reapcheck verify's",
              "distinct states + 1 (the state before init's atomic start-up; the",
              "actors sit at their loop heads and the monitors at their guards, so",
              "every other SPIN state is one model state), with `spin -o2 -a`.",
              "Plain `spin -a` hides variables no statement reads ("
              + (", ".join(write_only) or "none here") + "): then",
              "pan's states are reapcheck's with those left out, + 1."]
    about = [f"Layout {layout.path}: {len(layout)} VMAs, reapable "
             f"{indices_text(layout.reapable, len(layout))};",
             f"walk {config.walk} visits {visits_text(model.seq, len(layout))}; mutant {config.mutant or 'none'};"
             f" stuck writer {'yes' if config.stuck_writer else 'no'}; process_mrelease "
             f"{'yes' if config.mrelease else 'no'}"
             + (f"; kernel {config.kernel}" if config.kernel != DEFAULT_KERNEL else "")
             + (f"; mlocked VMAs {short_list(sorted(model.mlocked))}" if model.mlocked else "") + ".",
             "Rendered from model/protocol.py and properties/protocol.py through",
             "engines/promela_ops.py: one d_step per model action (its name in the",
             "comment), one monitor per property. Guards and updates read the state",
             "before the step (assignments are ordered so that they do).",
             "at_terminal properties (no_deadlock, reaper_terminates) are checked where",
             "SPIN's `timeout` is true: no actor statement is executable, i.e. no model",
             "action is enabled. Every process waits at an end label, so SPIN's",
             "invalid-end-state check is never the one reporting a deadlock.",
             "Values: " + "; ".join(f"{var} " + " ".join(f"{v}={n}" for v, n in names)
                                    for var, names in _phase_names(
                                        model.ex_done != protocol_model.EX_DONE).items())
             + "."]
    header = _header("Promela export of reapcheck's protocol model: exit_mmap, the OOM reaper"
                     f"{', process_mrelease' if config.mrelease else ''}"
                     f"{', a stuck writer' if config.stuck_writer else ''} and "
                     f"{kernel.lock_name}.",
                     command_line(layout, protocol_options(config, maps_shared_rule),
                                  out_name), about, checks, [], meta)
    lines = header + ["", "/* the layout (constant arrays, not in the state vector) */",
                      *decls, "", "/* the model's variables (model/protocol.py), Init's values */",
                      *variables,
                      "", "/* one flag per property, cleared just before its assertion */",
                      *flags, *(f"hidden int {t};" for t in temporaries), "", *procs,
                      *monitors,
                      *_init(fills, runs), *_trailer(meta)]
    return Export("\n".join(lines), "protocol", depth, meta, write_only)


# -- the collision product -----------------------------------------------------------------

def collision_options(config: WalkConfig, bound: int, maps_shared_rule: str | None) -> list[str]:
    opts = ["--collisions", "--order", config.order, "--granularity", config.granularity,
            "--pmd-shift", str(config.pmd_shift), "--exit-order", config.exit_order,
            "--bound", str(bound)]
    if maps_shared_rule:
        opts += ["--maps-shared-rule", maps_shared_rule]
    return opts


def export_collisions(layout: Layout, config: WalkConfig, bound: int,
                      out_name: str | None = None, maps_shared_rule: str | None = None,
                      bound_source: str = "given") -> Export:
    """The walk product of `layout` under `config` with a collision counter and the
    bound `bound` (>= 0) as one Promela file.

    Shapes: `int exit_pos, reaper_pos, collisions`; arrays `exit_keys[n0]` and
    `reaper_keys[n1]` of key ranks (n0, n1: items per walk). Raises ExportError when a
    walk has more than ITEM_LIMIT items.
    """
    if bound < 0:
        raise ExportError(f"--bound must be at least 0, not {bound}")
    model = WalkProduct.build(layout, config)
    sizes = [len(walk) for walk in model.items]
    if max(sizes) > ITEM_LIMIT:
        raise ExportError(f"{layout.path}: a walk of {max(sizes):,} items at granularity "
                          f"{config.granularity} is more than {ITEM_LIMIT:,} (one array "
                          "entry per item); try granularity vma or a larger --pmd-shift")
    keys = [list(walk.key_list()) for walk in model.items]
    ranks = {k: r for r, k in enumerate(sorted(set(keys[0]) | set(keys[1])))}
    ops = PromelaOps()
    names = ("exit_keys", "reaper_keys")
    for name, own, source in zip(names, keys, model.keys):
        ops.table(name, [ranks[k] for k in own], source)
    state = tuple(ops.var(name) for name in WALK_VARIABLES)
    counter = ops.var(COUNTER)
    temporaries: list[str] = []
    procs = []
    for actor in ACTORS:
        rules = []
        for action in model.actions:
            if action.actor != actor:
                continue
            guard = model.guard(state, action, ops)
            after = model.update(state, action, ops)
            hit = is_collision(model, state, after, ops)
            names_all = (*WALK_VARIABLES, COUNTER)
            assigns = _assignments(names_all, (*state, counter),
                                   (*after, ops.If(hit, counter + 1, counter)), temporaries)
            rules.append(_rule(guard, assigns, [f"assert({COUNTER} <= {bound})"], action.name))
        name = COLLISION_PROCESS[actor]
        procs += [f"proctype {name}() {{", f"end_{name}:", "\tdo", *rules, "\tod", "}", ""]
    what = "VMA index" if config.granularity == "vma" else "PMD index (page-table page)"
    decls, fills = _array_lines(ops, {
        "exit_keys": f"exit_mmap's items in order: rank of the item's {what}",
        "reaper_keys": f"the reaper's items in order: rank of the item's {what}"})
    depth = 2 * (2 * sum(sizes) + 16)  # pan counts the claim's moves in its depth too
    meta = {"kind": EXPORT_KIND, "version": 1, "model": "collisions",
            "reapcheck": __version__, "layout": layout_json(layout),
            "config": {"order": config.order, "granularity": config.granularity,
                       "pmd_shift": config.pmd_shift, "exit_order": config.exit_order},
            "bound": bound, "depth": depth}
    base = os.path.basename(out_name) if out_name else "model.pml"
    pan = f"./pan -m{depth} -w{HASH_BITS}"
    checks = ["In the file's directory:", f"  spin -a {base}", "  gcc -O2 -DSAFETY -o pan pan.c",
              f"  {pan}                    claim within_bound: errors: 0 proves that no",
              f"      schedule has more than B = {bound} collision{'' if bound == 1 else 's'}",
              f"  {pan} -N reaches_bound   errors: 1 (`assertion violated !( !((collisions<"
              f"{bound})))`)",
              "      shows a schedule with B collisions; its trail is that schedule",
              "Both together make B the exact worst case (B - 1 refuted, B proved).",
              "SPIN's `warning: never claim + accept labels requires -a flag to fully",
              "verify` is expected and harmless with these commands: each claim is a",
              "safety property ([] p) whose never claim fails by an assertion",
              "(`assert(!(!p))`), which pan checks without -a; its accept label is on",
              "no cycle (pan -a, compiled without -DSAFETY, gives the same errors)."]
    about = [f"Layout {layout.path}: {len(layout)} VMAs, reapable "
             f"{indices_text(layout.reapable, len(layout))};",
             f"reaper order {config.order}, exit_mmap order {config.exit_order}, "
             f"granularity {config.granularity}"
             + (f", PMD shift {config.pmd_shift}" if config.granularity == "ptl" else "")
             + f"; items: exit_mmap {sizes[0]}, reaper {sizes[1]}.",
             f"B = {bound} ({bound_source}).",
             "Rendered from model/walk_product.py and properties/collisions.py through",
             "engines/promela_ops.py. Position p of an actor: even = before item p/2",
             "(2n = done), odd = inside item p/2 (docs/model.md §3). Keys are ranks",
             "of the real keys (order kept; PMD indices exceed Promela's 32-bit int).",
             "A step's collision is counted on the state before and after it, in one",
             "d_step, and `assert(collisions <= B)` follows every step."]
    header = _header("Promela export of reapcheck's collision model: exit_mmap and the OOM "
                     "reaper walking one layout, with a collision counter.",
                     command_line(layout, collision_options(config, bound, maps_shared_rule),
                                  out_name), about, checks, [], meta)
    lines = header + ["", "/* the two walks (constant arrays, not in the state vector) */",
                      *decls, "", "/* positions (model/walk_product.py) and the counter */",
                      *(f"int {name} = {value};"
                        for name, value in zip(WALK_VARIABLES, model.init())),
                      f"int {COUNTER} = 0;", *(f"hidden int {t};" for t in temporaries), "",
                      *procs, *_init(fills, [f"\t\trun {COLLISION_PROCESS[a]}();"
                                             for a in ACTORS]),
                      f"/* B = {bound}: the default claim holds iff no schedule exceeds B */",
                      f"ltl within_bound {{ [] ({COUNTER} <= {bound}) }}",
                      f"/* violated iff some schedule reaches B collisions */",
                      f"ltl reaches_bound {{ [] ({COUNTER} < {bound}) }}", *_trailer(meta), ""]
    return Export("\n".join(lines), "collisions", depth, meta)
