"""The reviewer's report as ONE self-contained HTML file (issue 5).

`render_html(data)` turns the report data (results.json plus the reviewer-facing parts:
the change, the claims, witnesses, counterexamples, limits) into a single HTML page:
inline CSS, inline SVG, no scripts, fonts, style sheets or images from anywhere else.
Hover text is SVG/HTML `<title>`, so nothing needs JavaScript.

The split (issue 9): this module computes data only (coordinates, labels, table cells,
which sections exist); the Jinja2 templates in `templates/` only lay it out:
- `base.html.j2`: the page (head, CSS, title, nav, footer) with blocks;
- `report.html.j2`: extends it, one `<section>` per entry of `sections`, each laid out by
  `sections/<key>.html.j2`;
- `macros.html.j2`: the repeated pieces: `data_table` (any `Table`), `bullets`,
  `swimlane_figure`;
- `svg.html.j2`: `swimlane`, `scaling` and `marker`.

A new section is one `Section` in SECTIONS (key, heading, a function from the report data
to its view, or None when the data has nothing for it) plus `sections/<key>.html.j2`.
Tables go through `Table`/`Cell`/`Column` and the `data_table` macro.

Escaping: autoescape is on, and every `{{ }}` goes through `html.escape(str(v))` (the
environment's finalize), so text and attributes are escaped the same way as before the
templates (`&#x27;`, `&quot;`).

Deterministic: the same data gives the same bytes (no timestamps, no random ids; every
list is rendered in input order, every generated id is derived from the data).

Public helpers: `swimlane_svg(witness)` (one schedule, address across, time down) and
`scaling_svg(points)` (worst-case collisions against layout size, log-log).
"""
from __future__ import annotations

import html
import json
import math
import re
import statistics
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from .proof_text import condensed
from .timed_command import share_text

__all__ = ["render_html", "swimlane_svg", "scaling_svg", "LANE_COLOURS", "COLLISION_COLOUR",
           "COMPRESS_ABOVE", "Table", "Column", "Cell", "Section", "SECTIONS"]

# Lane colours: blue and orange are told apart under the common colour-vision
# deficiencies; red is kept for collisions only. Each lane also has its own marker shape.
LANE_COLOURS = {"exit_mmap": "#1f77b4", "reaper": "#ff7f0e", "mrelease": "#9467bd"}
LANE_SHAPES = {"exit_mmap": "circle", "reaper": "square"}  # others: diamond
OTHER_LANE_COLOUR = "#7f7f7f"
COLLISION_COLOUR = "#d62728"
KNOWN_ACTORS = ("exit_mmap", "reaper", "mrelease")

COMPRESS_ABOVE = 400  # a witness with more steps has its time axis compressed
MAX_ROWS = 1000  # if more rows remain after dropping non-moving steps, sample down to this

SVG_NS = "http://www.w3.org/2000/svg"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'


# --- the template environment ------------------------------------------------------------

def esc(value) -> str:
    """Escape any value as HTML/SVG text or attribute content."""
    return html.escape(str(value), quote=True)


def _finalize(value):
    """Every `{{ }}`: macro output (Markup) as it is, anything else escaped by `esc`."""
    return value if hasattr(value, "__html__") else Markup(esc(value))


def _n(x: float) -> str:
    """A coordinate, at most two decimals, no trailing zeros: stable text for floats."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _wbr(text) -> Markup:
    """Escaped text that may wrap after its underscores."""
    return Markup(esc(text).replace("_", "_<wbr>"))


@lru_cache(maxsize=None)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("reapcheck", "templates"), autoescape=True,
                      finalize=_finalize, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True,
                      undefined=StrictUndefined)
    env.filters["n"] = _n
    env.filters["wbr"] = _wbr
    env.globals.update(svg_ns=SVG_NS, font=FONT, collision_colour=COLLISION_COLOUR)
    return env


def _macro(name: str) -> Callable[..., Markup]:
    """A macro of macros.html.j2 or svg.html.j2, callable from Python."""
    for template in ("svg.html.j2", "macros.html.j2"):
        module = environment().get_template(template).module
        if hasattr(module, name):
            return getattr(module, name)
    raise KeyError(name)


# --- generic tables ----------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """A header cell: `num` right-aligns it, `wbr` lets it wrap after underscores."""
    label: str
    num: bool = False
    wbr: bool = False


@dataclass(frozen=True)
class Cell:
    """One table cell. The text is escaped; the flags say how it is laid out:
    `num` (right-aligned number), `cls` (a class such as `s-holds`), `title` (hover text),
    `wrap` ("code" or "strong" around the text), `wbr` (may wrap after underscores),
    `at_least` (a lower bound, drawn with a >= sign), `dot` (a lane's coloured dot before
    the text), `items` (a bullet list instead of the text)."""
    text: Any = "-"
    num: bool = False
    cls: str | None = None
    title: str | None = None
    wrap: str | None = None
    wbr: bool = False
    at_least: bool = False
    dot: str | None = None
    items: list | None = None


@dataclass(frozen=True)
class Row:
    cells: list[Cell]
    cls: str | None = None


@dataclass(frozen=True)
class Table:
    """Any table of the report, laid out by the `data_table` macro. `cls` is the table's
    class (the CSS and the tests find tables by it); `scroll` wraps it in a horizontally
    scrolling box."""
    cls: str
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)
    scroll: bool = True


# --- small helpers -----------------------------------------------------------------------

def _slug(value) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(value)).strip("-") or "x"


def _lane_class(actor) -> str:
    return f"lane-{_slug(actor)}"


def _colour(actor) -> str:
    return LANE_COLOURS.get(actor, OTHER_LANE_COLOUR)


def _shape(actor) -> str:
    return LANE_SHAPES.get(actor, "diamond")


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _size_text(size: int | None) -> str:
    if size is None:
        return "?"
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            value = size / (1 << shift)
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} B"


def reduction(forward: int, reverse: int) -> str:
    """forward / reverse, as `reapcheck compare` prints it (render.reduction)."""
    if reverse == 0:
        return "-" if forward == 0 else "all"
    return f"{forward / reverse:.1f}x"


def _text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _items(items) -> list[str]:
    """A bullet list's items as text: one string is one item."""
    if isinstance(items, str):
        items = [items]
    return [_text(i) for i in items or []]


# --- swimlanes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Vma:
    start: str
    end: str
    perms: str
    reapable: bool | None
    size: int | None


def _layout_vmas(layout) -> list[_Vma]:
    if not isinstance(layout, dict):
        return []
    out = []
    for v in layout.get("vmas") or []:
        start, end, perms = str(v.get("start", "?")), str(v.get("end", "?")), str(v.get("perms", ""))
        try:
            size = int(end, 16) - int(start, 16)
        except ValueError:
            size = None
        if "reapable" in v:
            reapable = bool(v["reapable"])
        elif v.get("flags") is not None:  # smaps VmFlags (docs/model.md §1)
            reapable = not ({"ht", "pf", "sh"} & set(v["flags"]))
        elif len(perms) >= 4:
            reapable = perms[3] == "p"
        else:
            reapable = None
        out.append(_Vma(start, end, perms, reapable, size))
    return out


def _actors(steps) -> list[str]:
    """exit_mmap and reaper always (two lanes), mrelease and others as they appear."""
    seen = list(KNOWN_ACTORS[:2])
    for step in steps:
        actor = str(step.get("actor", "?"))
        if actor not in seen:
            seen.append(actor)
    return sorted(seen, key=lambda a: (KNOWN_ACTORS.index(a) if a in KNOWN_ACTORS else 3,
                                        seen.index(a)))


def _step_number(step, index: int) -> int:
    return _int(step.get("step"), index + 1)


def _changes_text(changes) -> str:
    if not isinstance(changes, dict) or not changes:
        return ""
    parts = []
    for name, value in changes.items():
        if isinstance(value, (list, tuple)) and len(value) == 2:
            parts.append(f"{name} {value[0]}\u2192{value[1]}")
        else:
            parts.append(f"{name} {json.dumps(value, sort_keys=True)}")
    return ", ".join(parts)


def step_label(step, index: int) -> str:
    """Hover text of one step: 'step 12: reaper unmap vma 3 (collision)'."""
    actor, action = step.get("actor", "?"), step.get("action", "?")
    vma = step.get("vma")
    text = f"step {_step_number(step, index)}: {actor} {action}"
    text += " (no VMA)" if vma is None else f" vma {vma}"
    if step.get("ptl") is not None:
        text += f" ptl {step['ptl']}"
    if step.get("collision"):
        text += " (collision)"
    if isinstance(step.get("kernel"), str):  # protocol steps: the kernel's words first
        text += f": {step['kernel']}"
    changes = _changes_text(step.get("changes"))
    if changes:
        text += f"; {changes}"
    return text


def select_rows(steps) -> tuple[list[int], str]:
    """Indices of the steps drawn as rows, and how the time axis was compressed.

    Up to COMPRESS_ABOVE steps: all of them ("none"). Longer: the steps where an actor
    moves to another VMA (or to another no-VMA action), every collision, the first and
    the last ("moves"); the drawing of where each actor is stays exact. If that is still
    more than MAX_ROWS rows, the non-collision rows are thinned evenly ("sampled"), and
    every collision step is still kept.
    """
    total = len(steps)
    if total <= COMPRESS_ABOVE:
        return list(range(total)), "none"
    keep, where = [], {}
    for i, step in enumerate(steps):
        actor = step.get("actor")
        vma = step.get("vma")
        pos = ("vma", vma) if vma is not None else ("action", step.get("action"))
        if i in (0, total - 1) or step.get("collision") or where.get(actor) != pos:
            keep.append(i)
        where[actor] = pos
    if len(keep) <= MAX_ROWS:
        return keep, "moves"
    must = [i for i in keep if steps[i].get("collision") or i in (0, total - 1)]
    rest = [i for i in keep if not (steps[i].get("collision") or i in (0, total - 1))]
    room = max(0, MAX_ROWS - len(must))
    if room and rest:
        stride = len(rest) / room
        picked = sorted({rest[min(len(rest) - 1, int(k * stride))] for k in range(room)})
    else:
        picked = []
    return sorted(set(must) | set(picked)), "sampled"


def _swimlane(witness: dict) -> dict:
    """Everything the `swimlane` macro draws, as coordinates and labels."""
    steps = [s if isinstance(s, dict) else {} for s in (witness.get("steps") or [])]
    vmas = _layout_vmas(witness.get("layout"))
    indices = [s.get("vma") for s in steps if isinstance(s.get("vma"), int)]
    n_cols = max([len(vmas)] + [v + 1 for v in indices] + [1])
    actors = _actors(steps)
    has_margin = any(s.get("vma") is None for s in steps)
    rows, compression = select_rows(steps)
    n_rows = max(1, len(rows))
    collisions = sum(1 for s in steps if s.get("collision"))

    # Geometry: legend on top, VMA headers, a size strip, then the time grid.
    axis_w, margin_w, right = 52.0, (150.0 if has_margin else 0.0), 12.0
    plot_x0 = axis_w + margin_w
    col_w = min(80.0, (960.0 - plot_x0 - right) / n_cols)
    width = plot_x0 + n_cols * col_w + right
    legend_h, header_h, strip_h = 44.0, 118.0, 18.0
    plot_y0 = legend_h + header_h + strip_h + 16
    row_h = min(14.0, max(1400.0 / n_rows, min(1.0, 4000.0 / n_rows)))
    plot_h = n_rows * row_h
    height = plot_y0 + plot_h + 30
    r = max(0.9, min(4.5, row_h * 0.42, col_w * 0.32))
    stroke = 2.0 if row_h >= 3 else 1.5
    spread = col_w * 0.22 if col_w >= 14 else 0.0
    lane_offsets = {"exit_mmap": -spread, "reaper": spread}

    def col_x(vma: int) -> float:
        return plot_x0 + (vma + 0.5) * col_w

    def lane_x(actor: str, vma: int) -> float:
        return col_x(vma) + lane_offsets.get(actor, 0.0)

    def margin_x(actor: str) -> float:
        return axis_w + 10 + actors.index(actor) * 10

    row_of = {i: k for k, i in enumerate(rows)}

    def y_at(i: int) -> float:
        """A drawn step: its row's centre. A dropped one: the line between the rows."""
        if i in row_of:
            return plot_y0 + (row_of[i] + 0.5) * row_h
        return plot_y0 + bisect_left(rows, i) * row_h

    view: dict[str, Any] = {"name": witness.get("title") or witness.get("id") or "witness",
                            "axis_w": axis_w, "legend_h": legend_h, "header_h": header_h,
                            "plot_y0": plot_y0}
    # Legend: one entry per lane at x, then collision, not reapable, inside (when drawn).
    lx, ly = 8.0, 16.0
    view["ly"] = ly
    view["legend"] = []
    for actor in actors:
        view["legend"].append({"x": lx, "actor": actor, "cls": _lane_class(actor),
                               "colour": _colour(actor), "shape": _shape(actor)})
        lx += 40 + 7 * len(actor)
    view["legend_collision_x"] = lx
    lx += 100
    view["legend_unreapable_x"] = lx
    lx += 110
    view["legend_inside_x"] = (lx if any(s.get("action") in ("enter", "lock") for s in steps)
                               else None)
    note = f"{len(steps)} steps, {collisions} collisions; time runs down"
    if compression != "none":
        note += f"; time compressed: {len(rows)} of {len(steps)} steps drawn, every collision kept"
    view["note"] = note
    # A narrow layout's picture is widened to fit the legend and the note.
    view["width"] = max(width, lx + 215, 16 + 6.2 * len(note))
    view["height"] = height

    # Column backgrounds, with a hover title per VMA.
    view["column"] = {"y": legend_h, "width": col_w, "height": plot_y0 + plot_h - legend_h}
    view["columns"] = []
    for v in range(n_cols):
        info = vmas[v] if v < len(vmas) else None
        if info is not None:
            rp = {True: "reapable", False: "not reapable", None: "reapable?"}[info.reapable]
            tip = f"vma {v}: {info.start}-{info.end} {info.perms} {_size_text(info.size)}, {rp}"
        else:
            tip = f"vma {v}"
        view["columns"].append({"x": plot_x0 + v * col_w, "tip": tip,
                                "grey": info is not None and info.reapable is False})
    view["margin"] = ({"width": margin_w - 4} if has_margin else None)
    # Column headers: every k-th VMA's index and start address, rotated.
    every = max(1, math.ceil(12.0 / col_w))
    view["headers"] = [{"x": col_x(v) + 4, "label": f"{v}" + (f"  {vmas[v].start}" if v < len(vmas) else "")}
                       for v in range(0, n_cols, every)]
    # Size strip: bar height grows with log2 of the VMA's size.
    sizes = [v.size for v in vmas if v.size]
    view["size_base"] = legend_h + header_h + strip_h
    view["sizes"] = []
    if sizes:
        lo, hi = math.log2(min(sizes)), math.log2(max(sizes))
        for v, info in enumerate(vmas):
            if not info.size:
                continue
            frac = 1.0 if hi == lo else 0.2 + 0.8 * (math.log2(info.size) - lo) / (hi - lo)
            h = (strip_h - 2) * frac
            view["sizes"].append({"x": plot_x0 + v * col_w + col_w * 0.15, "height": h,
                                  "width": max(0.6, col_w * 0.7),
                                  "tip": f"vma {v}: {_size_text(info.size)}"})

    # Collision bands (beneath everything else in the grid).
    view["band"] = {"width": width - axis_w - right, "height": max(row_h, 1.0)}
    view["bands"] = [plot_y0 + row_of[i] * row_h for i in rows if steps[i].get("collision")]
    # Column grid lines when there is room for them.
    view["grid"] = (" ".join(f"M{_n(plot_x0 + v * col_w)} {_n(plot_y0)}V{_n(plot_y0 + plot_h)}"
                             for v in range(n_cols + 1)) if col_w >= 6 else None)
    # Time axis: original step numbers at evenly spaced rows.
    view["axis"] = f"M{_n(axis_w)} {_n(plot_y0)}V{_n(plot_y0 + plot_h)}"
    label_every = max(1, math.ceil(16.0 / row_h))
    view["step_labels"] = [{"y": plot_y0 + (k + 0.5) * row_h,
                            "step": _step_number(steps[rows[k]], rows[k])}
                           for k in range(0, len(rows), label_every)]

    # Per actor: time inside a VMA (thick), the position line (staircase).
    drawn = set(rows)
    view["inside_width"] = max(3.0, min(8.0, col_w * 0.5))
    view["stroke"] = stroke
    view["lanes"] = []
    for actor in actors:
        own = [i for i, s in enumerate(steps) if str(s.get("actor", "?")) == actor]
        if compression == "sampled":
            own = [i for i in own if i in drawn]
        inside, segs = None, []
        for i in own:
            s = steps[i]
            if not isinstance(s.get("vma"), int):
                continue
            if s.get("action") in ("enter", "lock"):
                inside = (i, s["vma"])
            elif s.get("action") in ("leave", "unlock") and inside is not None:
                x = lane_x(actor, inside[1])
                segs.append(f"M{_n(x)} {_n(y_at(inside[0]))}V{_n(y_at(i))}")
                inside = None
        points, last_x = [], None
        for i in own:
            vma = steps[i].get("vma")
            if not isinstance(vma, int):
                continue
            x, y = lane_x(actor, vma), y_at(i)
            if last_x is not None and x != last_x:
                points.append(f"{_n(last_x)},{_n(y)}")
            points.append(f"{_n(x)},{_n(y)}")
            last_x = x
        view["lanes"].append({"cls": _lane_class(actor), "colour": _colour(actor),
                              "inside": "".join(segs), "track": " ".join(points)})
    # Then one marker per drawn step, the margin's action names, and collision rings.
    view["r"] = r
    view["action_x"] = axis_w + 14 + len(actors) * 10
    margin_text_ok = has_margin and row_h >= 9
    view["markers"] = []
    for i in rows:
        s = steps[i]
        actor = str(s.get("actor", "?"))
        vma = s.get("vma")
        x = lane_x(actor, vma) if isinstance(vma, int) else margin_x(actor)
        view["markers"].append({
            "x": x, "y": plot_y0 + (row_of[i] + 0.5) * row_h, "shape": _shape(actor),
            "cls": f"step {_lane_class(actor)}", "colour": _colour(actor),
            "title": step_label(s, i), "collision": bool(s.get("collision")),
            "action": (s.get("action", "?") if not isinstance(vma, int) and margin_text_ok
                       else None)})
    view["info"] = {"steps": len(steps), "rows": len(rows), "compression": compression,
                    "collisions": collisions, "columns": n_cols}
    return view


def swimlane_svg(witness: dict) -> str:
    """One schedule as an SVG swimlane: VMAs left to right in address order (equal-width
    columns, index and start address on top, a log-size bar under them, grey when the
    reaper's filter skips the VMA), time going down. Each actor is a coloured line at the
    VMA it is at (classes `lane-exit_mmap`, `lane-reaper`, `lane-mrelease`), one marker
    per step with a `<title>`; a collision step gets a red ring (class `collision`) and a
    pale red band across. Steps without a VMA go in a margin column, named by action.
    More than COMPRESS_ABOVE steps: the time axis is compressed (see select_rows)."""
    return str(_macro("swimlane")(_swimlane(witness)))


def _steps_table(steps) -> Table:
    rows = []
    for i, s in enumerate(steps):
        s = s if isinstance(s, dict) else {}
        vma = "-" if s.get("vma") is None else s.get("vma")
        detail = s["kernel"] if isinstance(s.get("kernel"), str) else \
            _changes_text(s.get("changes"))  # protocol steps in kernel words, else raw
        if s.get("ptl") is not None:
            detail = f"ptl {s['ptl']}" + (f"; {detail}" if detail else "")
        rows.append(Row([Cell(_step_number(s, i), num=True),
                         Cell(s.get("actor", "?"), dot=_lane_class(s.get("actor", "?"))),
                         Cell(s.get("action", "?")), Cell(vma, num=True),
                         Cell("yes" if s.get("collision") else ""), Cell(detail)],
                        cls="hit" if s.get("collision") else None))
    return Table("steps", [Column(c) for c in ("step", "actor", "action", "VMA", "collision",
                                               "details")], rows, scroll=False)


def _swimlane_figure(witness: dict, anchor: str) -> dict:
    """One witness: heading, swimlane, caption facts, and its steps as a table when short."""
    lane = _swimlane(witness)
    info = lane["info"]
    layout = witness.get("layout")
    path = layout.get("path") if isinstance(layout, dict) else layout
    facts = []  # (text, code or None): "layout <code>path</code>"
    if path:
        facts.append(("layout", path))
    for key, name in (("order", "reaper walk"), ("walk", "walk"), ("granularity", "granularity"),
                      ("property", "property")):
        if witness.get(key):
            facts.append((name, witness[key]))
    if witness.get("max_collisions") is not None:
        facts.append((f"worst case {witness['max_collisions']} collisions", None))
    facts.append((f"{info['steps']} steps, {info['collisions']} collision steps", None))
    steps = witness.get("steps") or []
    return {"anchor": anchor, "heading": witness.get("id") or anchor, "swimlane": lane,
            "title": witness.get("title") or None, "facts": facts, "info": info,
            "steps": _steps_table(steps) if 0 < len(steps) <= COMPRESS_ABOVE else None}


# --- scaling chart -----------------------------------------------------------------------

SERIES_STYLE = {
    # (order, granularity): (colour, dash, marker, label)
    ("forward", "vma"): ("#8c510a", "", "circle", "forward (before v6.18), per VMA"),
    ("forward", "ptl"): ("#8c510a", "6 4", "square", "forward (before v6.18), per PTE lock"),
    ("reverse", "vma"): ("#01665e", "", "circle", "reverse (v6.18), per VMA"),
    ("reverse", "ptl"): ("#01665e", "6 4", "square", "reverse (v6.18), per PTE lock"),
}
EXTRA_SERIES_COLOURS = ("#7570b3", "#e7298a", "#66a61e", "#e6ab02")


def _fmt_int(v) -> str:
    if isinstance(v, float) and v != int(v):
        return f"{v:,.2f}"
    return f"{int(v):,}"


def _scaling(points: list) -> dict:
    """Everything the `scaling` macro draws, as coordinates and labels."""
    pts = [p for p in points if isinstance(p, dict) and _int(p.get("vmas"), 0) > 0]
    series: dict[tuple, list] = {}
    for p in pts:
        series.setdefault((str(p.get("order", "?")), str(p.get("granularity", "?"))), []).append(p)
    known = [k for k in SERIES_STYLE if k in series]
    keys = known + sorted(k for k in series if k not in SERIES_STYLE)

    width, height = 950.0, 440.0
    left, right, top, bottom = 78.0, 300.0, 20.0, 58.0
    pw, ph = width - left - right, height - top - bottom
    xs = [_int(p["vmas"]) for p in pts] or [10, 1000]
    x_lo = math.floor(math.log10(min(xs)))
    x_hi = max(x_lo + 1, math.ceil(math.log10(max(xs))))
    ys = [max(0.0, float(p.get("max_collisions") or 0)) for p in pts]
    y_hi = max(1, math.ceil(math.log10(max([1.0] + ys))))
    floor = -0.6  # where 0 is drawn, in decades; 1 is at 0
    zero_gap = 0.3

    def px(v: float) -> float:
        return left + (math.log10(v) - x_lo) / (x_hi - x_lo) * pw

    def py(v: float) -> float:
        d = floor if v <= 0 else max(0.0, math.log10(v))
        return top + ph - (d - floor) / (y_hi - floor) * ph

    view: dict[str, Any] = {"width": width, "height": height, "left": left, "top": top,
                            "pw": pw, "ph": ph, "x_ticks": [], "y_ticks": []}
    grid, minor = [], []
    for d in range(x_lo, x_hi + 1):
        x = px(10.0 ** d)
        grid.append(f"M{_n(x)} {_n(top)}V{_n(top + ph)}")
        view["x_ticks"].append({"x": x, "label": _fmt_int(10 ** d)})
        if d < x_hi:
            for m in range(2, 10):
                minor.append(f"M{_n(px(m * 10.0 ** d))} {_n(top + ph)}v-5")
    for d in range(0, y_hi + 1):
        y = py(10.0 ** d)
        grid.append(f"M{_n(left)} {_n(y)}H{_n(left + pw)}")
        view["y_ticks"].append({"y": y, "label": _fmt_int(10 ** d)})
        if d < y_hi:
            for m in range(2, 10):
                minor.append(f"M{_n(left)} {_n(py(m * 10.0 ** d))}h5")
    y0 = py(0)
    grid.append(f"M{_n(left)} {_n(y0)}H{_n(left + pw)}")
    view["y0"] = y0
    yb = top + ph - (zero_gap - floor) / (y_hi - floor) * ph * 0.5
    view["axis_break"] = f"M{_n(left - 6)} {_n(yb + 3)}l12 -6M{_n(left - 6)} {_n(yb + 8)}l12 -6"
    view["grid"], view["minor"] = "".join(grid), "".join(minor)

    view["series"] = []
    for n, key in enumerate(keys):
        style = SERIES_STYLE.get(key)
        if style is None:
            colour = EXTRA_SERIES_COLOURS[(n - len(known)) % len(EXTRA_SERIES_COLOURS)]
            style = (colour, "2 3", "circle", f"{key[0]}, {key[1]}")
        colour, dash, shape, label = style
        data = sorted(series[key], key=lambda p: (_int(p["vmas"]), float(p.get("max_collisions") or 0)))
        line = " ".join(f"{_n(px(_int(p['vmas'])))},{_n(py(float(p.get('max_collisions') or 0)))}"
                        for p in data)
        marks = []
        for p in data:
            v = float(p.get("max_collisions") or 0)
            marks.append({"x": px(_int(p["vmas"])), "y": py(v),
                          "tip": (f"{key[0]} / {key[1]}: {_fmt_int(_int(p['vmas']))} VMAs, "
                                  f"{_fmt_int(v)} worst-case collisions")})
        view["series"].append({"cls": f"series order-{_slug(key[0])} gran-{_slug(key[1])}",
                               "colour": colour, "dash": dash, "shape": shape, "label": label,
                               "line": line, "points": marks,
                               "legend_x": left + pw + 18, "legend_y": top + 14 + n * 22})
    return view


def scaling_svg(points: list) -> str:
    """Worst-case collisions against layout size, one line per (order, granularity).

    Both axes are log10; a value of 0 has no logarithm, so it is drawn on a floor line
    labelled 0 below 1, with an axis break between them. Each point has a `<title>`."""
    return str(_macro("scaling")(_scaling(points)))


# --- the sections ------------------------------------------------------------------------

def _verdict_class(verdict: str) -> str:
    v = verdict.strip().lower()
    if v == "true" or v == "yes":
        return "v-true"
    if v.startswith("false") or v == "no":
        return "v-false"
    if v.startswith(("true", "partly", "partially", "mostly")) or "assum" in v:
        return "v-mixed"
    return "v-other"


def _change(data) -> dict | None:
    change = data.get("change") if isinstance(data.get("change"), dict) else None
    if not change:
        return None
    summary = change.get("summary")
    return {"paragraphs": [summary] if isinstance(summary, str) else list(summary or [])}


def _claims(data) -> list | None:
    if not data.get("claims"):
        return None
    out = []
    for c in data["claims"]:
        if not isinstance(c, dict):
            continue
        verdict = str(c.get("verdict", "?"))
        cid = c.get("id") or ""
        out.append({"cls": _verdict_class(verdict), "anchor": f"claim-{_slug(cid)}", "id": cid,
                    "who": c.get("who") or "", "verdict": verdict, "quote": c.get("quote"),
                    "evidence": _items(c["evidence"]) if c.get("evidence") else None,
                    "command": c.get("command")})
    return out


def _collisions(data) -> Table | None:
    if not data.get("collisions"):
        return None
    groups: dict[tuple, dict] = {}
    for e in data["collisions"]:
        if not isinstance(e, dict):
            continue
        key = (str(e.get("layout", "?")), str(e.get("granularity", "?")))
        g = groups.setdefault(key, {"vmas": e.get("vmas"), "reapable": e.get("reapable"),
                                    "rule": e.get("reapable_rule")})
        g.setdefault(str(e.get("order", "?")), e.get("max_collisions"))
        if "spin" in e:
            g.setdefault("spin", {})[str(e.get("order", "?"))] = str(e["spin"])
    with_spin = any("spin" in g for g in groups.values())
    rows = []
    for (layout, gran), g in groups.items():
        fwd, rev = g.get("forward"), g.get("reverse")
        red = reduction(_int(fwd), _int(rev)) if fwd is not None and rev is not None else "?"
        rows.append(Row([Cell(layout, wrap="code"), Cell(_text(g["vmas"]), num=True),
                         Cell(_text(g["reapable"]), num=True), Cell(_text(g["rule"])),
                         Cell(gran),
                         Cell(_text(fwd), num=True), Cell(_text(rev), num=True),
                         Cell(red, num=True, wrap="strong")]
                        + ([_spin_worst_cell(g.get("spin") or {})] if with_spin else [])))
    columns = [Column("layout"), Column("VMAs", num=True), Column("reapable", num=True),
               Column("reapable by"), Column("granularity"), Column("forward", num=True), Column("reverse", num=True),
               Column("reduction", num=True)] + ([Column("spin")] if with_spin else [])
    return Table("collisions", columns, rows)


def _spin_worst_cell(spin: dict) -> Cell:
    """SPIN's word on both worst cases of a row (report._spin_agreement): `agrees` when
    it confirmed both, else each order's word (`-` not run, the reason in the title)."""
    words = {o: spin.get(o, "not run") for o in ("forward", "reverse")}
    if all(w == "agrees" for w in words.values()):
        return Cell("agrees", cls="s-holds", title="SPIN confirms both worst cases")
    short = {o: w if w in ("agrees", "DISAGREES") else "-" for o, w in words.items()}
    return Cell(f"fwd {short['forward']}, rev {short['reverse']}",
                cls="s-violated" if "DISAGREES" in short.values() else None,
                title="; ".join(f"{o}: {w}" for o, w in words.items()))


def _scaling_section(data) -> dict | None:
    return _scaling(data["scaling"]) if data.get("scaling") else None


def _figures(witnesses, prefix: str) -> list[dict]:
    out, used = [], {}
    for w in witnesses:
        if not isinstance(w, dict):
            continue
        base = f"{prefix}-{_slug(w.get('id') or len(used) + 1)}"
        used[base] = used.get(base, 0) + 1
        anchor = base if used[base] == 1 else f"{base}-{used[base]}"
        out.append(_swimlane_figure(w, anchor))
    return out


def _witnesses(data) -> list | None:
    return _figures(data["witnesses"], "witness") if data.get("witnesses") else None


def _counterexamples(data) -> list | None:
    if not data.get("counterexamples"):
        return None
    return _figures(data["counterexamples"], "counterexample")


def _iterators(data) -> dict | None:
    if not data.get("iterators"):
        return None
    claims = data["iterators"].get("claims") if isinstance(data["iterators"], dict) else None
    if not isinstance(claims, dict):
        return {"raw": _text(data["iterators"])}
    rows = []
    text = condensed(claims)  # each configuration's shared support and assumptions once
    for name, c in claims.items():
        c = c if isinstance(c, dict) else {"status": c}
        status = str(c.get("status", "?"))
        assumptions = text[name]["assumptions"]
        cex = c.get("counterexample")
        rows.append(Row([Cell(name, wrap="code"), Cell(status, cls=f"s-{_slug(status)}"),
                         Cell(_text(c.get("bound")), num=True),
                         Cell(items=_items(assumptions)) if assumptions else Cell("-"),
                         Cell(_text(text[name]["invariant"])),
                         Cell("-") if cex is None else Cell(_text(cex), wrap="code")]))
    columns = [Column("claim"), Column("status"), Column("bound", num=True),
               Column("assumptions"), Column("invariant"), Column("counterexample")]
    return {"table": Table("iterators", columns, rows)}


STATUS_MARK = {"holds": "\u2713", "violated": "\u2717", "unknown": "?", "incomplete": "\u2026"}


def _protocol(data) -> Table | None:
    if not data.get("protocol"):
        return None
    runs = [r for r in data["protocol"] if isinstance(r, dict)]
    names: list[str] = []
    for run in runs:
        for p in (run.get("properties") or {}):
            if p not in names:
                names.append(p)
    rows = []
    for run in runs:
        opts = ", ".join([o for o in ("stuck_writer", "mrelease") if run.get(o)]
                         + (["por"] if run.get("reduction") == "por" else [])) or "-"
        states = run.get("states")
        states_text = "-" if states is None else f"{_int(states):,}"
        incomplete = run.get("complete") is False
        cells = [Cell(str(run.get("layout", "?")).removeprefix("bundled/"), wrap="code"),
                 Cell(_text(run.get("walk"))), Cell(run.get("mutant") or "-", wbr=True),
                 Cell(opts, wbr=True),
                 Cell(f"{states_text} (incomplete)" if incomplete else states_text, num=True,
                      at_least=incomplete)]
        props = run.get("properties") or {}
        lengths = run.get("trace_lengths") or {}
        for p in names:
            status = props.get(p)
            if status is None:
                cells.append(Cell("-"))
                continue
            full, short = str(status), STATUS_MARK.get(str(status), str(status))
            if p in lengths and status != "holds":
                full += f", shortest trace {lengths[p]} steps"
                short += f" {lengths[p]}"
            cells.append(Cell(short, cls=f"s-{_slug(status)}", title=f"{p}: {full}"))
        z3 = run.get("z3") if isinstance(run.get("z3"), dict) else None
        if z3 is None:
            cells.append(Cell("-"))
        elif z3.get("agrees"):
            cells.append(Cell("agrees", cls="s-holds",
                              title="Z3 alone gives every verdict and trace length"))
        else:
            cells.append(Cell("DISAGREES", cls="s-violated", title="Z3 and the explorer differ"))
        spin = run.get("spin")
        if spin == "agrees":
            cells.append(Cell("agrees", cls="s-holds", title="SPIN gives every verdict"))
        elif spin == "DISAGREES":
            cells.append(Cell("DISAGREES", cls="s-violated", title="SPIN and reapcheck differ"))
        else:
            cells.append(Cell("-", title=str(spin or "not run")))
        rows.append(Row(cells))
    columns = ([Column("layout"), Column("walk"), Column("mutant"), Column("options"),
                Column("states", num=True)] + [Column(p, wbr=True) for p in names]
               + [Column("z3"), Column("spin")])
    return Table("protocol", columns, rows)


# The experiment (issue 9): `reapcheck experiment --json` objects, one per walkers mode.
LOCK_CLASSES = ("pte", "pmd", "mmap_lock", "lruvec", "zone", "other")
EXPERIMENT_ACTORS = ("exit_mmap", "reaper")


def _experiment(data) -> dict | None:
    """What the real kernel did, next to the model's worst case: one row per walkers mode,
    lock class and actor, with contentions and total wait per run (median and maximum).

    data["experiment"]: one `reapcheck experiment --json` object or a list of them, read
    through the keys issue 9 fixes (`walkers`, `runs[].contentions[class][actor]` with
    `count` and `wait_us`, `model` with `ptl` and `vma`). Absent or empty: no section."""
    exp = data.get("experiment")
    if not exp:
        return None
    records = [e for e in (exp if isinstance(exp, list) else [exp]) if isinstance(e, dict)]
    rows = []
    for rec in records:
        runs = [r for r in rec.get("runs") or [] if isinstance(r, dict)
                and r.get("raced", True) and "contentions" in r]  # runs that raced, traced
        model = rec.get("model") if isinstance(rec.get("model"), dict) else {}
        walkers = rec.get("walkers")
        walkers = walkers[0] if isinstance(walkers, list) and len(walkers) == 1 else walkers
        seen = {("pte", a) for a in EXPERIMENT_ACTORS}
        for run in runs:
            for lock, by_actor in (run.get("contentions") or {}).items():
                for actor in (by_actor or {}):
                    seen.add((str(lock), str(actor)))

        def order(key):
            lock, actor = key
            return (LOCK_CLASSES.index(lock) if lock in LOCK_CLASSES else len(LOCK_CLASSES), lock,
                    EXPERIMENT_ACTORS.index(actor) if actor in EXPERIMENT_ACTORS else 2, actor)

        for lock, actor in sorted(seen, key=order):
            counts, waits = [], []
            for run in runs:
                got = ((run.get("contentions") or {}).get(lock) or {}).get(actor) or {}
                counts.append(_int(got.get("count")))
                waits.append(float(got.get("wait_us") or 0))
            if lock == "pte":
                worst = Cell(_text(model.get("ptl")), num=True)
            elif lock == "mmap_lock":
                worst = Cell("not a collision: the protocol model's write_lock_wait")
            else:
                worst = Cell("outside the collision model")
            rows.append(Row([Cell(_text(walkers)), Cell(lock, wrap="code"),
                             Cell(actor), Cell(len(runs), num=True),
                             Cell(_stat(counts, statistics.median), num=True),
                             Cell(_stat(counts, max), num=True),
                             Cell(_stat(waits, statistics.median, "{:,.1f}"), num=True),
                             Cell(_stat(waits, max, "{:,.1f}"), num=True), worst]))
    columns = [Column("walkers"), Column("lock"), Column("actor"), Column("runs", num=True),
               Column("contentions, median", num=True), Column("contentions, max", num=True),
               Column("wait \u00b5s, median", num=True), Column("wait \u00b5s, max", num=True),
               Column("model worst case (ptl)")]
    kernels = ", ".join(sorted({str(r["environment"]["kernel"]) for r in records
                                if isinstance(r.get("environment"), dict)
                                and r["environment"].get("kernel")}))
    return {"kernels": kernels, "table": Table("experiment", columns, rows)}


def _stat(values, how, fmt: str | None = None) -> str:
    """how(values) as text ("-" without values); counts: 1,234 or a median of 2.5."""
    if not values:
        return "-"
    value = how(values)
    if fmt is None:
        fmt = "{:,.0f}" if value == int(value) else "{:,.1f}"
    return fmt.format(value)


def _limits(data) -> list | None:
    return _items(data["limits"]) if data.get("limits") else None


def _measured(data) -> list | None:
    return _items(data["measured"]) if data.get("measured") else None


def _timed(data) -> dict | None:
    """The timed model's section (report_timed.timed_data): a table per (layout, order)
    and the wait-against-delay chart (linear axes, µs on x, ms on y)."""
    timed = data.get("timed")
    if not isinstance(timed, dict) or not timed.get("rows"):
        return None
    rows = [Row([Cell(str(r["layout"]).removeprefix("bundled/")), Cell(r["order"]),
                 Cell(_fmt_int(r["worst_case"]), num=True),
                 Cell(_fmt_int(r["max_contentions"]), num=True),
                 Cell(f"{r['mean_contentions']:,.1f}", num=True),
                 Cell(share_text(r['share_with_contention']), num=True),
                 Cell(f"{r['mean_wait_us'] / 1000:,.3f}", num=True)])
            for r in timed["rows"]]
    columns = [Column("layout"), Column("reaper"), Column("worst case (ptl)", num=True),
               Column("max over delays", num=True), Column("mean contentions", num=True),
               Column("share of delays", num=True), Column("mean wait ms", num=True)]
    costs = timed.get("costs") or {}
    cost_text = ", ".join(f"{w} {costs[w]['c_item_us']} µs per item + {costs[w]['c_page_us']} "
                          "µs per page" for w in ("exit_mmap", "reaper") if w in costs)
    check = timed.get("check") or {}
    from .report_timed import check_lines

    check_text = "; ".join(check_lines(check))
    return {"costs": cost_text, "table": Table("timed", columns, rows),
            "chart": _timed_chart(timed["chart"]) if timed.get("chart") else None,
            "check": ("Against the recorded experiments (each run at its own start delays): "
                      + check_text + ".") if check_text else None}


def _timed_chart(chart: dict) -> dict:
    """Coordinates of the wait-against-delay lines, one per reaper order."""
    width, height = 950.0, 400.0
    left, right, top, bottom = 78.0, 260.0, 20.0, 58.0
    pw, ph = width - left - right, height - top - bottom
    series = {o: pts for o, pts in chart["orders"].items() if pts}
    xs = [p[0] for pts in series.values() for p in pts] or [0.0, 1.0]
    ys = [p[1] / 1000 for pts in series.values() for p in pts] or [0.0]
    x_lo, x_hi = min(xs), max(xs)
    x_hi = x_hi if x_hi > x_lo else x_lo + 1
    y_hi = max(ys) if max(ys) > 0 else 1.0

    def px(v: float) -> float:
        return left + (v - x_lo) / (x_hi - x_lo) * pw

    def py(v: float) -> float:
        return top + ph - v / y_hi * ph

    grid, x_ticks, y_ticks = [], [], []
    for i in range(6):
        xv, yv = x_lo + (x_hi - x_lo) * i / 5, y_hi * i / 5
        grid.append(f"M{_n(px(xv))} {_n(top)}V{_n(top + ph)}M{_n(left)} {_n(py(yv))}H{_n(left + pw)}")
        x_ticks.append({"x": px(xv), "label": f"{xv / 1000:,.1f}"})
        y_ticks.append({"y": py(yv), "label": f"{yv:,.1f}"})
    colours = {"forward": "#8c510a", "reverse": "#01665e"}
    lines = []
    for n, (order, pts) in enumerate(series.items()):
        lines.append({"cls": f"series order-{_slug(order)}",
                      "colour": colours.get(order, EXTRA_SERIES_COLOURS[n % 4]),
                      "label": f"reaper {order}",
                      "line": " ".join(f"{_n(px(x))},{_n(py(y / 1000))}" for x, y in pts),
                      "legend_x": left + pw + 18, "legend_y": top + 14 + n * 22})
    layout = str(chart.get("layout", "")).removeprefix("bundled/")
    return {"width": width, "height": height, "left": left, "top": top, "pw": pw, "ph": ph,
            "grid": "".join(grid), "x_ticks": x_ticks, "y_ticks": y_ticks, "series": lines,
            "title": f"PTE-lock wait against the reaper's start delay, {layout}",
            "x_label": "reaper start delay after exit_mmap's start (ms)",
            "y_label": "total PTE-lock wait (ms)",
            "caption": f"{layout}: total PTE-lock wait of both walkers (timed model) against "
                       "the reaper's start delay, for each reaper order."}


def _history(data) -> Table | None:
    """The history section (src/reapcheck/history.py rows): per real race, the pre-fix
    version's verdict and trace length, and the fixed version's verdict."""
    rows = [r for r in data.get("history") or [] if isinstance(r, dict)]
    if not rows:
        return None
    out = []
    for r in rows:
        verdict = str(r.get("verdict", "?"))
        fixed = str(r.get("fixed_verdict", "?"))
        out.append(Row([Cell(str(r.get("version", "?"))), Cell(str(r.get("fix", ""))),
                        Cell(str(r.get("property", "")), title=str(r.get("bug", ""))),
                        Cell(str(r.get("layout", ""))),
                        Cell(verdict, cls=f"s-{_slug(verdict)}"),
                        Cell(str(r.get("trace_length") or "-")),
                        Cell(str(r.get("states", ""))),
                        Cell(f"{r.get('fixed_in', '?')}: {fixed}",
                             cls=f"s-{_slug(fixed)}")]))
    columns = [Column("version"), Column("fix", wbr=True), Column("property", wbr=True),
               Column("layout"), Column("verdict"), Column("trace", num=True),
               Column("states", num=True), Column("fixed in")]
    return Table("history", columns, out)


def _sweep(data) -> dict | None:
    """The sweep section (report_sweep.sweep_data): the distribution table, as `reapcheck
    sweep` prints it, and the histogram of reduction factors."""
    sweep = data.get("sweep")
    if not isinstance(sweep, dict) or not sweep.get("table"):
        return None
    columns = [Column("")] + [Column(h, num=True) for h in ("n", "min", "median", "p90", "max")]
    rows = [Row([Cell(r[0])] + [Cell(c, num=True) for c in r[1:]]) for r in sweep["table"]]
    return {"layouts": sweep["layouts"], "table": Table("sweep", columns, rows),
            "chart": _sweep_chart(sweep["histogram"], sweep["layouts"])
            if sweep.get("histogram") else None}


def _sweep_chart(hist: dict, layouts: int) -> dict:
    """Coordinates of the reduction-factor histogram: one group of bars per bin (one bar
    per granularity), bar height = layouts in the bin."""
    width, height = 950.0, 360.0
    left, right, top, bottom = 78.0, 170.0, 20.0, 58.0
    pw, ph = width - left - right, height - top - bottom
    labels, counts = hist["labels"], hist["counts"]
    y_hi = max([n for cs in counts.values() for n in cs] + [1])
    step = max(1, math.ceil(y_hi / 5))
    y_hi = step * math.ceil(y_hi / step)
    group = pw / max(1, len(labels))
    bar = group * 0.8 / max(1, len(counts))

    def py(v: float) -> float:
        return top + ph - v / y_hi * ph

    grid, y_ticks = [], []
    for v in range(0, y_hi + 1, step):
        grid.append(f"M{_n(left)} {_n(py(v))}H{_n(left + pw)}")
        y_ticks.append({"y": py(v), "label": f"{v:,}"})
    x_ticks = [{"x": left + group * (i + 0.5), "label": label} for i, label in enumerate(labels)]
    colours = {"vma": "#8c510a", "ptl": "#01665e"}
    series = []
    for n, (gran, cs) in enumerate(counts.items()):
        colour = colours.get(gran, EXTRA_SERIES_COLOURS[n % len(EXTRA_SERIES_COLOURS)])
        series.append({
            "cls": f"series gran-{_slug(gran)}", "colour": colour,
            "label": f"granularity {gran}",
            "bars": [{"x": left + group * i + group * 0.1 + bar * n, "y": py(c), "w": bar,
                      "h": py(0) - py(c), "tip": f"{gran}, {labels[i]}: {c} layouts"}
                     for i, c in enumerate(cs) if c],
            "legend_x": left + pw + 18, "legend_y": top + 14 + n * 22})
    return {"width": width, "height": height, "left": left, "top": top, "pw": pw, "ph": ph,
            "grid": "".join(grid), "x_ticks": x_ticks, "y_ticks": y_ticks, "series": series,
            "title": "Reduction factors of the reverse walk (forward / reverse worst case)",
            "x_label": "forward / reverse worst case (all: reverse has none)",
            "y_label": "layouts",
            "caption": f"How many of the {layouts} layouts have each reduction factor of the "
                       "worst case (forward / reverse), per granularity; layouts where both "
                       "orders have 0 collisions are not counted."}


@dataclass(frozen=True)
class Section:
    """One section of the page: `<section id=key>`, heading `title`, laid out by
    `templates/sections/<key>.html.j2` from `build(data)`; None leaves the section out."""
    key: str
    title: str
    build: Callable[[dict], Any]


SECTIONS = (
    Section("change", "The change", _change),
    Section("claims", "Reviewers' claims and verdicts", _claims),
    Section("collisions", "Worst-case collisions on real layouts", _collisions),
    Section("scaling", "Worst-case collisions against layout size", _scaling_section),
    Section("witnesses", "Witness schedules", _witnesses),
    Section("iterators", "Proofs for any number of VMAs: iterators, collisions, protocol",
            _iterators),
    Section("protocol", "Protocol properties", _protocol),
    Section("counterexamples", "Protocol counterexamples", _counterexamples),
    Section("experiment", "What the real kernel did", _experiment),
    Section("timed", "Typical contention: the timed model", _timed),
    Section("sweep", "Over every layout: the distribution (reapcheck sweep)", _sweep),
    Section("history", "The history: each real race found from the pre-fix code", _history),
    Section("limits", "What the model leaves out", _limits),
    Section("measured", "How this relates to the author's measurements", _measured),
)


def render_html(data: dict) -> str:
    """The whole report as one self-contained, deterministic HTML page (see module doc)."""
    if "version" not in data:
        raise ValueError("report data needs a 'version'")
    change = data.get("change") if isinstance(data.get("change"), dict) else None
    sections = []
    for section in SECTIONS:
        view = section.build(data)
        if view is not None:
            sections.append({"key": section.key, "title": section.title, "view": view})
    return environment().get_template("report.html.j2").render(
        title=(change or {}).get("title") or "reapcheck report", version=data["version"],
        sections=sections)
