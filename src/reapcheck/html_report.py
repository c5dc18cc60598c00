"""The reviewer's report as ONE self-contained HTML file (issue 5).

`render_html(data)` turns the report data (results.json plus the reviewer-facing parts:
the change, the claims, witnesses, counterexamples, limits) into a single HTML page:
inline CSS, inline SVG, no scripts, fonts, style sheets or images from anywhere else.
Hover text is SVG/HTML `<title>`, so nothing needs JavaScript.

Deterministic: the same data gives the same bytes (no timestamps, no random ids; every
list is rendered in input order, every generated id is derived from the data).
Only the standard library is used.

Public helpers: `swimlane_svg(witness)` (one schedule, address across, time down) and
`scaling_svg(points)` (worst-case collisions against layout size, log-log).
"""
from __future__ import annotations

import html
import json
import math
import re
from bisect import bisect_left
from dataclasses import dataclass

__all__ = ["render_html", "swimlane_svg", "scaling_svg", "LANE_COLOURS", "COLLISION_COLOUR",
           "COMPRESS_ABOVE"]

# Lane colours: blue and orange are told apart under the common colour-vision
# deficiencies; red is kept for collisions only. Each lane also has its own marker shape.
LANE_COLOURS = {"exit_mmap": "#1f77b4", "reaper": "#ff7f0e", "mrelease": "#9467bd"}
OTHER_LANE_COLOUR = "#7f7f7f"
COLLISION_COLOUR = "#d62728"
KNOWN_ACTORS = ("exit_mmap", "reaper", "mrelease")

COMPRESS_ABOVE = 400  # a witness with more steps has its time axis compressed
MAX_ROWS = 1000  # if more rows remain after dropping non-moving steps, sample down to this

SVG_NS = "http://www.w3.org/2000/svg"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'


def esc(value) -> str:
    """Escape any value as HTML/SVG text or attribute content."""
    return html.escape(str(value), quote=True)


def _n(x: float) -> str:
    """A coordinate, at most two decimals, no trailing zeros: stable text for floats."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _slug(value) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(value)).strip("-") or "x"


def _lane_class(actor) -> str:
    return f"lane-{_slug(actor)}"


def _colour(actor) -> str:
    return LANE_COLOURS.get(actor, OTHER_LANE_COLOUR)


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
        elif v.get("flags") is not None:  # smaps VmFlags (MODEL.md 1)
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


def _marker(actor: str, x: float, y: float, r: float, cls: str, title: str) -> str:
    """One step marker: circle for exit_mmap, square for the reaper, diamond for others."""
    colour = _colour(actor)
    t = f"<title>{esc(title)}</title>"
    if actor == "exit_mmap":
        return (f'<circle class="{cls}" cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" '
                f'fill="{colour}">{t}</circle>')
    if actor == "reaper":
        return (f'<rect class="{cls}" x="{_n(x - r)}" y="{_n(y - r)}" width="{_n(2 * r)}" '
                f'height="{_n(2 * r)}" fill="{colour}">{t}</rect>')
    pts = f"{_n(x)},{_n(y - r * 1.3)} {_n(x + r * 1.3)},{_n(y)} {_n(x)},{_n(y + r * 1.3)} {_n(x - r * 1.3)},{_n(y)}"
    return f'<polygon class="{cls}" points="{pts}" fill="{colour}">{t}</polygon>'


def _swimlane(witness: dict) -> tuple[str, dict]:
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

    name = witness.get("title") or witness.get("id") or "witness"
    # Legend (built first: a narrow layout's picture is widened to fit it).
    out = []
    lx, ly = 8.0, 16.0
    for actor in actors:
        colour = _colour(actor)
        out.append(f'<g class="legend {_lane_class(actor)}">'
                   f'<line x1="{_n(lx)}" y1="{_n(ly)}" x2="{_n(lx + 22)}" y2="{_n(ly)}" '
                   f'stroke="{colour}" stroke-width="2.5"/>'
                   + _marker(actor, lx + 11, ly, 4, "legend-marker", actor)
                   + f'<text x="{_n(lx + 28)}" y="{_n(ly + 4)}">{esc(actor)}</text></g>')
        lx += 40 + 7 * len(actor)
    out.append(f'<g class="legend legend-collision"><rect x="{_n(lx)}" y="{_n(ly - 6)}" width="26" '
               f'height="12" fill="{COLLISION_COLOUR}" fill-opacity="0.16"/>'
               f'<circle cx="{_n(lx + 13)}" cy="{_n(ly)}" r="5.5" fill="none" '
               f'stroke="{COLLISION_COLOUR}" stroke-width="2"/>'
               f'<text x="{_n(lx + 32)}" y="{_n(ly + 4)}">collision</text></g>')
    lx += 100
    out.append(f'<g class="legend"><rect x="{_n(lx)}" y="{_n(ly - 6)}" width="16" height="12" '
               f'fill="#e4e4e4" stroke="#bbb"/><text x="{_n(lx + 22)}" y="{_n(ly + 4)}">'
               f'not reapable</text></g>')
    lx += 110
    if any(s.get("action") in ("enter", "lock") for s in steps):
        out.append(f'<g class="legend"><line x1="{_n(lx)}" y1="{_n(ly)}" x2="{_n(lx + 22)}" '
                   f'y2="{_n(ly)}" stroke="#555" stroke-width="6" stroke-opacity="0.45"/>'
                   f'<text x="{_n(lx + 28)}" y="{_n(ly + 4)}">inside the VMA / holding its lock'
                   f'</text></g>')
    note = f"{len(steps)} steps, {collisions} collisions; time runs down"
    if compression != "none":
        note += f"; time compressed: {len(rows)} of {len(steps)} steps drawn, every collision kept"
    out.append(f'<text class="note" x="8" y="{_n(ly + 20)}" fill="#444">{esc(note)}</text>')
    svg_w = max(width, lx + 215, 16 + 6.2 * len(note))
    out[:0] = [f'<svg xmlns="{SVG_NS}" class="swimlane" role="img" width="{_n(svg_w)}" '
               f'height="{_n(height)}" viewBox="0 0 {_n(svg_w)} {_n(height)}" '
               f'font-family="{esc(FONT)}" font-size="11">',
               f"<title>{esc(f'Swimlane: {name}')}</title>"]

    # Column backgrounds, with a hover title per VMA.
    top = legend_h
    for v in range(n_cols):
        info = vmas[v] if v < len(vmas) else None
        fill = "#e4e4e4" if info is not None and info.reapable is False else "#ffffff"
        if info is not None:
            rp = {True: "reapable", False: "not reapable", None: "reapable?"}[info.reapable]
            tip = f"vma {v}: {info.start}-{info.end} {info.perms} {_size_text(info.size)}, {rp}"
        else:
            tip = f"vma {v}"
        out.append(f'<rect class="vma-column" x="{_n(plot_x0 + v * col_w)}" y="{_n(top)}" '
                   f'width="{_n(col_w)}" height="{_n(plot_y0 + plot_h - top)}" fill="{fill}">'
                   f'<title>{esc(tip)}</title></rect>')
    if has_margin:
        out.append(f'<rect class="margin-column" x="{_n(axis_w)}" y="{_n(top)}" '
                   f'width="{_n(margin_w - 4)}" height="{_n(plot_y0 + plot_h - top)}" '
                   f'fill="#f6f6f0"><title>steps that touch no VMA (locks, flags)</title></rect>')
        out.append(f'<text x="{_n(axis_w + 6)}" y="{_n(plot_y0 - 10)}" fill="#444">'
                   f'no VMA: action</text>')
    # Column headers: every k-th VMA's index and start address, rotated.
    every = max(1, math.ceil(12.0 / col_w))
    for v in range(0, n_cols, every):
        label = f"{v}" + (f"  {vmas[v].start}" if v < len(vmas) else "")
        x, y = col_x(v) + 4, legend_h + header_h - 4
        out.append(f'<text class="vma-label" x="{_n(x)}" y="{_n(y)}" font-size="10" '
                   f'transform="rotate(-90 {_n(x)} {_n(y)})">{esc(label)}</text>')
    out.append(f'<text x="{_n(axis_w - 4)}" y="{_n(legend_h + header_h - 4)}" text-anchor="end" '
               f'font-size="10" fill="#444">VMA</text>')
    # Size strip: bar height grows with log2 of the VMA's size.
    sizes = [v.size for v in vmas if v.size]
    if sizes:
        lo, hi = math.log2(min(sizes)), math.log2(max(sizes))
        base = legend_h + header_h + strip_h
        for v, info in enumerate(vmas):
            if not info.size:
                continue
            frac = 1.0 if hi == lo else 0.2 + 0.8 * (math.log2(info.size) - lo) / (hi - lo)
            h = (strip_h - 2) * frac
            out.append(f'<rect class="vma-size" x="{_n(plot_x0 + v * col_w + col_w * 0.15)}" '
                       f'y="{_n(base - h)}" width="{_n(max(0.6, col_w * 0.7))}" height="{_n(h)}" '
                       f'fill="#9a9a9a"><title>{esc(f"vma {v}: {_size_text(info.size)}")}</title>'
                       f'</rect>')
        out.append(f'<text x="{_n(axis_w - 4)}" y="{_n(base - 4)}" text-anchor="end" '
                   f'font-size="10" fill="#444">size</text>')

    # Collision bands (beneath everything else in the grid).
    for i in rows:
        if steps[i].get("collision"):
            out.append(f'<rect class="collision-band" x="{_n(axis_w)}" '
                       f'y="{_n(plot_y0 + row_of[i] * row_h)}" width="{_n(width - axis_w - right)}" '
                       f'height="{_n(max(row_h, 1.0))}" fill="{COLLISION_COLOUR}" fill-opacity="0.16"/>')
    # Column grid lines when there is room for them.
    if col_w >= 6:
        xs = " ".join(f"M{_n(plot_x0 + v * col_w)} {_n(plot_y0)}V{_n(plot_y0 + plot_h)}"
                      for v in range(n_cols + 1))
        out.append(f'<path class="grid" d="{xs}" stroke="#d8d8d8" stroke-width="0.6" fill="none"/>')
    # Time axis: original step numbers at evenly spaced rows.
    out.append(f'<path class="axis" d="M{_n(axis_w)} {_n(plot_y0)}V{_n(plot_y0 + plot_h)}" '
               f'stroke="#777"/>')
    label_every = max(1, math.ceil(16.0 / row_h))
    for k in range(0, len(rows), label_every):
        y = plot_y0 + (k + 0.5) * row_h
        out.append(f'<text class="step-label" x="{_n(axis_w - 5)}" y="{_n(y + 3.5)}" '
                   f'text-anchor="end" font-size="10" fill="#555">'
                   f'{_step_number(steps[rows[k]], rows[k])}</text>')
    out.append(f'<text x="{_n(axis_w - 5)}" y="{_n(plot_y0 - 4)}" text-anchor="end" '
               f'font-size="10" fill="#444">step</text>')

    # Per actor: time inside a VMA (thick), the position line (staircase), then markers.
    drawn = set(rows)
    for actor in actors:
        colour, cls = _colour(actor), _lane_class(actor)
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
        if segs:
            out.append(f'<path class="inside {cls}" d="{"".join(segs)}" stroke="{colour}" '
                       f'stroke-width="{_n(max(3.0, min(8.0, col_w * 0.5)))}" stroke-opacity="0.45" '
                       f'fill="none"/>')
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
        if points:
            out.append(f'<polyline class="track {cls}" points="{" ".join(points)}" fill="none" '
                       f'stroke="{colour}" stroke-width="{_n(stroke)}" stroke-linejoin="round"/>')
    rings = []
    margin_text_ok = has_margin and row_h >= 9
    for i in rows:
        s = steps[i]
        actor = str(s.get("actor", "?"))
        vma = s.get("vma")
        y = plot_y0 + (row_of[i] + 0.5) * row_h
        x = lane_x(actor, vma) if isinstance(vma, int) else margin_x(actor)
        label = step_label(s, i)
        out.append(_marker(actor, x, y, r, f"step {_lane_class(actor)}", label))
        if not isinstance(vma, int) and margin_text_ok:
            tx = axis_w + 14 + len(actors) * 10
            out.append(f'<text class="action-label" x="{_n(tx)}" y="{_n(y + 3.5)}" font-size="10" '
                       f'fill="{_colour(actor)}">{esc(s.get("action", "?"))}</text>')
        if s.get("collision"):
            rings.append(f'<circle class="collision" cx="{_n(x)}" cy="{_n(y)}" r="{_n(r + 2.5)}" '
                         f'fill="none" stroke="{COLLISION_COLOUR}" stroke-width="2">'
                         f'<title>{esc(label)}</title></circle>')
    out.extend(rings)
    out.append("</svg>")
    info = {"steps": len(steps), "rows": len(rows), "compression": compression,
            "collisions": collisions, "columns": n_cols}
    return "\n".join(out), info


def swimlane_svg(witness: dict) -> str:
    """One schedule as an SVG swimlane: VMAs left to right in address order (equal-width
    columns, index and start address on top, a log-size bar under them, grey when the
    reaper's filter skips the VMA), time going down. Each actor is a coloured line at the
    VMA it is at (classes `lane-exit_mmap`, `lane-reaper`, `lane-mrelease`), one marker
    per step with a `<title>`; a collision step gets a red ring (class `collision`) and a
    pale red band across. Steps without a VMA go in a margin column, named by action.
    More than COMPRESS_ABOVE steps: the time axis is compressed (see select_rows)."""
    return _swimlane(witness)[0]


def _swimlane_figure(witness: dict, anchor: str) -> str:
    svg, info = _swimlane(witness)
    layout = witness.get("layout")
    path = layout.get("path") if isinstance(layout, dict) else layout
    bits = []
    if witness.get("title"):
        bits.append(f"<strong>{esc(witness['title'])}</strong>")
    facts = []
    if path:
        facts.append(f"layout <code>{esc(path)}</code>")
    if witness.get("order"):
        facts.append(f"reaper walk <code>{esc(witness['order'])}</code>")
    if witness.get("walk"):
        facts.append(f"walk <code>{esc(witness['walk'])}</code>")
    if witness.get("granularity"):
        facts.append(f"granularity <code>{esc(witness['granularity'])}</code>")
    if witness.get("property"):
        facts.append(f"property <code>{esc(witness['property'])}</code>")
    if witness.get("max_collisions") is not None:
        facts.append(f"worst case {esc(witness['max_collisions'])} collisions")
    facts.append(f"{info['steps']} steps, {info['collisions']} collision steps")
    bits.append("; ".join(facts) + ".")
    if info["compression"] == "moves":
        bits.append(f"Time is compressed: {info['rows']} of {info['steps']} steps are drawn, "
                    "those where an actor moves to another VMA, plus every collision step and "
                    "the first and last; the omitted steps leave or unlock the VMA an actor is "
                    "already at, so the lines are exact.")
    elif info["compression"] == "sampled":
        bits.append(f"Time is compressed and sampled: {info['rows']} of {info['steps']} steps "
                    "are drawn, every collision step among them; other steps are thinned "
                    "evenly, so the lines between drawn steps are approximate.")
    head = f'<h3 id="{esc(anchor)}">{esc(witness.get("id") or anchor)}</h3>'
    parts = [head, '<figure class="swimlane-figure">', f'<div class="svg-scroll">{svg}</div>',
             f"<figcaption>{' '.join(bits)}</figcaption>", "</figure>"]
    steps = witness.get("steps") or []
    if 0 < len(steps) <= COMPRESS_ABOVE:
        parts.append(_steps_table(steps))
    return "\n".join(parts)


def _steps_table(steps) -> str:
    rows = []
    for i, s in enumerate(steps):
        s = s if isinstance(s, dict) else {}
        cls = ' class="hit"' if s.get("collision") else ""
        vma = "-" if s.get("vma") is None else s.get("vma")
        detail = _changes_text(s.get("changes"))
        if s.get("ptl") is not None:
            detail = f"ptl {s['ptl']}" + (f"; {detail}" if detail else "")
        rows.append(f"<tr{cls}><td class=num>{_step_number(s, i)}</td>"
                    f"<td><span class=\"dot {esc(_lane_class(s.get('actor', '?')))}\"></span>"
                    f"{esc(s.get('actor', '?'))}</td><td>{esc(s.get('action', '?'))}</td>"
                    f"<td class=num>{esc(vma)}</td><td>{'yes' if s.get('collision') else ''}</td>"
                    f"<td>{esc(detail)}</td></tr>")
    return ("<details><summary>All steps as a table</summary>\n<table class=\"steps\">"
            "<thead><tr><th>step</th><th>actor</th><th>action</th><th>VMA</th>"
            "<th>collision</th><th>details</th></tr></thead><tbody>\n"
            + "\n".join(rows) + "\n</tbody></table></details>")


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


def scaling_svg(points: list) -> str:
    """Worst-case collisions against layout size, one line per (order, granularity).

    Both axes are log10; a value of 0 has no logarithm, so it is drawn on a floor line
    labelled 0 below 1, with an axis break between them. Each point has a `<title>`."""
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

    out = [f'<svg xmlns="{SVG_NS}" class="scaling" role="img" width="{_n(width)}" '
           f'height="{_n(height)}" viewBox="0 0 {_n(width)} {_n(height)}" '
           f'font-family="{esc(FONT)}" font-size="12">',
           "<title>Worst-case collisions against layout size (log-log)</title>",
           f'<rect x="{_n(left)}" y="{_n(top)}" width="{_n(pw)}" height="{_n(ph)}" fill="#fff" '
           f'stroke="#999"/>']
    grid, minor = [], []
    for d in range(x_lo, x_hi + 1):
        x = px(10.0 ** d)
        grid.append(f"M{_n(x)} {_n(top)}V{_n(top + ph)}")
        out.append(f'<text x="{_n(x)}" y="{_n(top + ph + 18)}" text-anchor="middle">'
                   f'{_fmt_int(10 ** d)}</text>')
        if d < x_hi:
            for m in range(2, 10):
                minor.append(f"M{_n(px(m * 10.0 ** d))} {_n(top + ph)}v-5")
    for d in range(0, y_hi + 1):
        y = py(10.0 ** d)
        grid.append(f"M{_n(left)} {_n(y)}H{_n(left + pw)}")
        out.append(f'<text x="{_n(left - 8)}" y="{_n(y + 4)}" text-anchor="end">'
                   f'{_fmt_int(10 ** d)}</text>')
        if d < y_hi:
            for m in range(2, 10):
                minor.append(f"M{_n(left)} {_n(py(m * 10.0 ** d))}h5")
    y0 = py(0)
    grid.append(f"M{_n(left)} {_n(y0)}H{_n(left + pw)}")
    out.append(f'<text x="{_n(left - 8)}" y="{_n(y0 + 4)}" text-anchor="end">0</text>')
    yb = top + ph - (zero_gap - floor) / (y_hi - floor) * ph * 0.5
    out.append(f'<path class="axis-break" d="M{_n(left - 6)} {_n(yb + 3)}l12 -6M{_n(left - 6)} '
               f'{_n(yb + 8)}l12 -6" stroke="#555" fill="none"/>')
    out.append(f'<path class="grid" d="{"".join(grid)}" stroke="#e2e2e2" fill="none"/>')
    out.append(f'<path class="minor" d="{"".join(minor)}" stroke="#999" fill="none"/>')
    out.append(f'<text x="{_n(left + pw / 2)}" y="{_n(height - 16)}" text-anchor="middle">'
               f'VMAs in the layout (log scale)</text>')
    out.append(f'<text x="16" y="{_n(top + ph / 2)}" text-anchor="middle" '
               f'transform="rotate(-90 16 {_n(top + ph / 2)})">worst-case collisions '
               f'(log scale, 0 on the floor)</text>')

    for n, key in enumerate(keys):
        style = SERIES_STYLE.get(key)
        if style is None:
            colour = EXTRA_SERIES_COLOURS[(n - len(known)) % len(EXTRA_SERIES_COLOURS)]
            style = (colour, "2 3", "circle", f"{key[0]}, {key[1]}")
        colour, dash, shape, label = style
        cls = f"series order-{_slug(key[0])} gran-{_slug(key[1])}"
        data = sorted(series[key], key=lambda p: (_int(p["vmas"]), float(p.get("max_collisions") or 0)))
        line = " ".join(f"{_n(px(_int(p['vmas'])))},{_n(py(float(p.get('max_collisions') or 0)))}"
                        for p in data)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<g class="{cls}"><polyline points="{line}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"{dash_attr}/>')
        for p in data:
            v = float(p.get("max_collisions") or 0)
            x, y = px(_int(p["vmas"])), py(v)
            tip = (f"{key[0]} / {key[1]}: {_fmt_int(_int(p['vmas']))} VMAs, "
                   f"{_fmt_int(v)} worst-case collisions")
            if shape == "square":
                out.append(f'<rect class="point" x="{_n(x - 4)}" y="{_n(y - 4)}" width="8" '
                           f'height="8" fill="{colour}"><title>{esc(tip)}</title></rect>')
            else:
                out.append(f'<circle class="point" cx="{_n(x)}" cy="{_n(y)}" r="4.5" '
                           f'fill="{colour}"><title>{esc(tip)}</title></circle>')
        out.append("</g>")
        ly = top + 14 + n * 22
        lx = left + pw + 18
        sample = (f'<rect x="{_n(lx + 9)}" y="{_n(ly - 4)}" width="8" height="8" fill="{colour}"/>'
                  if shape == "square" else
                  f'<circle cx="{_n(lx + 13)}" cy="{_n(ly)}" r="4.5" fill="{colour}"/>')
        out.append(f'<g class="legend"><line x1="{_n(lx)}" y1="{_n(ly)}" x2="{_n(lx + 26)}" '
                   f'y2="{_n(ly)}" stroke="{colour}" stroke-width="2"{dash_attr}/>{sample}'
                   f'<text x="{_n(lx + 34)}" y="{_n(ly + 4)}">{esc(label)}</text></g>')
    if not keys:
        out.append(f'<text x="{_n(left + pw / 2)}" y="{_n(top + ph / 2)}" text-anchor="middle" '
                   f'fill="#777">no data</text>')
    out.append("</svg>")
    return "\n".join(out)


# --- the page ----------------------------------------------------------------------------

CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #fff; color: #1d1d1d; line-height: 1.45;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 18px 22px 60px; }
h1 { font-size: 1.6em; margin: 0.4em 0 0.2em; }
h2 { font-size: 1.25em; margin: 1.8em 0 0.5em; padding-bottom: 4px; border-bottom: 2px solid #ddd; }
h3 { font-size: 1.05em; margin: 1.4em 0 0.4em; }
p.lead { color: #444; margin-top: 0; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 0.9em; }
pre { background: #f5f5f5; border: 1px solid #ddd; padding: 6px 10px; overflow-x: auto; }
nav ul { list-style: none; padding: 0; margin: 0.5em 0 1em; display: flex; flex-wrap: wrap; gap: 4px 16px; }
table { border-collapse: collapse; margin: 8px 0 18px; font-size: 13.5px; }
th, td { border: 1px solid #bcbcbc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.table-scroll, .svg-scroll { overflow-x: auto; max-width: 100%; }
.claim { border: 1px solid #ccc; border-left-width: 6px; padding: 8px 14px; margin: 14px 0; }
.claim h3 { margin: 0.2em 0; }
.claim blockquote { margin: 6px 0; padding-left: 12px; border-left: 3px solid #ddd; font-style: italic; }
.verdict { display: inline-block; padding: 1px 8px; border-radius: 3px; font-weight: 600; color: #fff; }
.verdict.v-true { background: #1a7f37; } .claim.v-true { border-left-color: #1a7f37; }
.verdict.v-false { background: #c62828; } .claim.v-false { border-left-color: #c62828; }
.verdict.v-mixed { background: #a15c00; } .claim.v-mixed { border-left-color: #a15c00; }
.verdict.v-other { background: #666; } .claim.v-other { border-left-color: #666; }
td.s-holds { background: #e6f4ea; } td.s-violated { background: #fde3e1; }
td.s-unknown, td.s-incomplete { background: #fff4d6; }
figure { margin: 10px 0 6px; } figcaption { font-size: 13.5px; color: #333; margin-top: 4px; }
svg { max-width: 100%; height: auto; }
table.steps, table.protocol { font-size: 12.5px; }
table.protocol th, table.protocol td { padding: 2px 5px; } table.steps tr.hit td { background: #fde3e1; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 5px; }
.dot.lane-exit_mmap { background: #1f77b4; } .dot.lane-reaper { background: #ff7f0e; }
.dot.lane-mrelease { background: #9467bd; }
footer { margin-top: 3em; color: #666; font-size: 12.5px; border-top: 1px solid #ddd; padding-top: 8px; }
"""

SECTIONS = (
    ("change", "The change"),
    ("claims", "Reviewers' claims and verdicts"),
    ("collisions", "Worst-case collisions on real layouts"),
    ("scaling", "Worst-case collisions against layout size"),
    ("witnesses", "Witness schedules"),
    ("iterators", "Maple-tree iterators: does a walk skip a VMA?"),
    ("protocol", "Protocol properties"),
    ("counterexamples", "Protocol counterexamples"),
    ("limits", "What the model leaves out"),
    ("measured", "How this relates to the author's measurements"),
)


def _verdict_class(verdict: str) -> str:
    v = verdict.strip().lower()
    if v == "true" or v == "yes":
        return "v-true"
    if v.startswith("false") or v == "no":
        return "v-false"
    if v.startswith(("true", "partly", "partially", "mostly")) or "assum" in v:
        return "v-mixed"
    return "v-other"


def _text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _paragraphs(items) -> str:
    if isinstance(items, str):
        items = [items]
    return "\n".join(f"<p>{esc(p)}</p>" for p in items or [])


def _list(items) -> str:
    if isinstance(items, str):
        items = [items]
    if not items:
        return ""
    return "<ul>\n" + "\n".join(f"<li>{esc(_text(i))}</li>" for i in items) + "\n</ul>"


def _claims(claims) -> str:
    out = ['<p class="lead">Each claim made in review, checked against the model; the '
           "command reproduces the evidence.</p>"]
    for c in claims:
        verdict = str(c.get("verdict", "?"))
        vc = _verdict_class(verdict)
        cid = c.get("id") or ""
        who = c.get("who") or ""
        head = esc(cid) + (f" &mdash; {esc(who)}" if who else "")
        block = [f'<div class="claim {vc}" id="claim-{esc(_slug(cid))}">',
                 f"<h3>{head} <span class=\"verdict {vc}\">{esc(verdict)}</span></h3>"]
        if c.get("quote"):
            block.append(f"<blockquote>{esc(c['quote'])}</blockquote>")
        if c.get("evidence"):
            block.append(_list(c["evidence"]))
        if c.get("command"):
            block.append(f"<pre><code>{esc(c['command'])}</code></pre>")
        block.append("</div>")
        out.append("\n".join(block))
    return "\n".join(out)


def _collisions(entries) -> str:
    groups: dict[tuple, dict] = {}
    for e in entries:
        key = (str(e.get("layout", "?")), str(e.get("granularity", "?")))
        g = groups.setdefault(key, {"vmas": e.get("vmas"), "reapable": e.get("reapable")})
        g.setdefault(str(e.get("order", "?")), e.get("max_collisions"))
    rows = []
    for (layout, gran), g in groups.items():
        fwd, rev = g.get("forward"), g.get("reverse")
        red = reduction(_int(fwd), _int(rev)) if fwd is not None and rev is not None else "?"
        rows.append(f"<tr><td><code>{esc(layout)}</code></td><td class=num>{esc(_text(g['vmas']))}</td>"
                    f"<td class=num>{esc(_text(g['reapable']))}</td><td>{esc(gran)}</td>"
                    f"<td class=num>{esc(_text(fwd))}</td><td class=num>{esc(_text(rev))}</td>"
                    f"<td class=num><strong>{esc(red)}</strong></td></tr>")
    return ('<p class="lead">Exact maximum over all schedules of exit_mmap (ascending) and '
            "the OOM reaper. <em>vma</em>: both walkers inside the same VMA; <em>ptl</em>: one "
            "walker waits for a page-table lock the other holds. Reduction = forward / reverse "
            "(<em>all</em>: the reverse walk has none).</p>\n"
            '<div class="table-scroll"><table class="collisions"><thead><tr><th>layout</th>'
            '<th class=num>VMAs</th><th class=num>reapable</th><th>granularity</th>'
            '<th class=num>forward</th><th class=num>reverse</th><th class=num>reduction</th>'
            "</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>")


def _witnesses(witnesses, prefix: str, lead: str) -> str:
    out = [f'<p class="lead">{lead}</p>']
    used: dict[str, int] = {}
    for w in witnesses:
        if not isinstance(w, dict):
            continue
        base = f"{prefix}-{_slug(w.get('id') or len(used) + 1)}"
        used[base] = used.get(base, 0) + 1
        anchor = base if used[base] == 1 else f"{base}-{used[base]}"
        out.append(_swimlane_figure(w, anchor))
    return "\n".join(out)


def _iterators(data) -> str:
    claims = data.get("claims") if isinstance(data, dict) else None
    if not isinstance(claims, dict):
        return "<pre>" + esc(_text(data)) + "</pre>"
    rows = []
    for name, c in claims.items():
        c = c if isinstance(c, dict) else {"status": c}
        status = str(c.get("status", "?"))
        assumptions = c.get("assumptions") or []
        cex = c.get("counterexample")
        rows.append(f"<tr><td><code>{esc(name)}</code></td>"
                    f"<td class=\"s-{esc(_slug(status))}\">{esc(status)}</td>"
                    f"<td class=num>{esc(_text(c.get('bound')))}</td>"
                    f"<td>{_list(assumptions) if assumptions else '-'}</td>"
                    f"<td>{esc(_text(c.get('invariant')))}</td>"
                    f"<td>{'-' if cex is None else '<code>' + esc(_text(cex)) + '</code>'}</td></tr>")
    return ('<p class="lead">For each iterator claim: the verdict, the bound it was checked to, '
            "the assumptions it needs, the invariant behind it, and a counterexample when there "
            "is one.</p>\n<div class=\"table-scroll\"><table class=\"iterators\"><thead><tr>"
            "<th>claim</th><th>status</th><th class=num>bound</th><th>assumptions</th>"
            "<th>invariant</th><th>counterexample</th></tr></thead><tbody>\n"
            + "\n".join(rows) + "\n</tbody></table></div>")


STATUS_MARK = {"holds": "\u2713", "violated": "\u2717", "unknown": "?", "incomplete": "\u2026"}


def _wbr(text) -> str:
    """Escaped text that may wrap after its underscores."""
    return esc(text).replace("_", "_<wbr>")


def _protocol(runs) -> str:
    names: list[str] = []
    for run in runs:
        for p in (run.get("properties") or {}):
            if p not in names:
                names.append(p)
    head = "".join(f"<th>{_wbr(p)}</th>" for p in names)
    rows = []
    for run in runs:
        opts = ", ".join(o for o in ("stuck_writer", "mrelease") if run.get(o)) or "-"
        states = run.get("states")
        states_text = "-" if states is None else f"{_int(states):,}"
        if run.get("complete") is False:
            states_text = f"&ge; {esc(states_text)} (incomplete)"
        else:
            states_text = esc(states_text)
        cells = []
        props = run.get("properties") or {}
        lengths = run.get("trace_lengths") or {}
        for p in names:
            status = props.get(p)
            if status is None:
                cells.append("<td>-</td>")
                continue
            full = str(status)
            if p in lengths and status != "holds":
                full += f", shortest trace {lengths[p]} steps"
            short = STATUS_MARK.get(str(status), str(status))
            if p in lengths and status != "holds":
                short += f" {lengths[p]}"
            cells.append(f'<td class="s-{esc(_slug(status))}" title="{esc(p)}: {esc(full)}">'
                         f"{esc(short)}</td>")
        layout = str(run.get("layout", "?")).removeprefix("bundled/")
        z3 = run.get("z3") if isinstance(run.get("z3"), dict) else None
        z3_cell = "<td>-</td>" if z3 is None else (
            '<td class="s-holds" title="Z3 alone gives every verdict and trace length">agrees</td>'
            if z3.get("agrees") else
            '<td class="s-violated" title="Z3 and the explorer differ">DISAGREES</td>')
        rows.append(f"<tr><td><code>{esc(layout)}</code></td><td>{esc(_text(run.get('walk')))}</td>"
                    f"<td>{_wbr(run.get('mutant') or '-')}</td><td>{_wbr(opts)}</td>"
                    f"<td class=num>{states_text}</td>{''.join(cells)}{z3_cell}</tr>")
    return ('<p class="lead">Explicit-state search of every schedule of exit_mmap, the reaper '
            "(and process_mrelease / a stuck writer where marked), on the kernel's code and on "
            "seeded bugs (mutants). \u2713 holds; \u2717 N: violated, the shortest trace has N "
            "steps; ? unknown; \u2026 incomplete (a limit stopped the search). Column z3: the "
            "same run checked by Z3 alone (Spacer invariants, BMC traces).</p>\n"
            '<div class="table-scroll"><table class="protocol"><thead><tr><th>layout</th>'
            "<th>walk</th><th>mutant</th><th>options</th><th class=num>states</th>"
            + head + "<th>z3</th></tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>")


def render_html(data: dict) -> str:
    """The whole report as one self-contained, deterministic HTML page (see module doc)."""
    if "version" not in data:
        raise ValueError("report data needs a 'version'")
    change = data.get("change") if isinstance(data.get("change"), dict) else None
    title = (change or {}).get("title") or "reapcheck report"
    body: list[tuple[str, str]] = []
    if change:
        body.append(("change", _paragraphs(change.get("summary"))))
    if data.get("claims"):
        body.append(("claims", _claims([c for c in data["claims"] if isinstance(c, dict)])))
    if data.get("collisions"):
        body.append(("collisions", _collisions([e for e in data["collisions"] if isinstance(e, dict)])))
    if data.get("scaling"):
        body.append(("scaling", '<p class="lead">Synthetic layouts of growing size; one line per '
                     "walk order and granularity. Hover a point for its value.</p>\n"
                     '<figure><div class="svg-scroll">' + scaling_svg(data["scaling"]) +
                     "</div><figcaption>Worst-case collisions against layout size (both axes "
                     "log scale; a worst case of 0 is drawn on the floor line).</figcaption>"
                     "</figure>"))
    if data.get("witnesses"):
        body.append(("witnesses", _witnesses(
            data["witnesses"], "witness",
            "Each witness is one schedule reaching the worst case. VMAs run left to right in "
            "address order, time runs down; blue is exit_mmap, orange the reaper. A red ring "
            "and band mark a collision. Hover any marker for the step.")))
    if data.get("iterators"):
        body.append(("iterators", _iterators(data["iterators"])))
    if data.get("protocol"):
        body.append(("protocol", _protocol([r for r in data["protocol"] if isinstance(r, dict)])))
    if data.get("counterexamples"):
        body.append(("counterexamples", _witnesses(
            data["counterexamples"], "counterexample",
            "Shortest traces that violate a property, drawn like the witnesses; steps that "
            "touch no VMA (locks, flags) sit in the left margin column, named by action. "
            "Hover a marker for the state variables the step changes.")))
    if data.get("limits"):
        body.append(("limits", _list(data["limits"])))
    if data.get("measured"):
        body.append(("measured", _list(data["measured"])))

    names = dict(SECTIONS)
    nav = "".join(f'<li><a href="#{key}">{esc(names[key])}</a></li>' for key, _ in body)
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{esc(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
             "<main>", f"<h1>{esc(title)}</h1>",
             '<p class="lead">The reviewer\'s report of reapcheck, a model checker for the '
             "OOM reaper's reverse VMA walk against exit_mmap().</p>"]
    if nav:
        parts.append(f"<nav><ul>{nav}</ul></nav>")
    for key, content in body:
        parts.append(f'<section id="{key}">\n<h2>{esc(names[key])}</h2>\n{content}\n</section>')
    parts.append(f"<footer>Generated by reapcheck from report data version "
                 f"{esc(data['version'])}. Self-contained: no scripts, fonts or images are "
                 "loaded from anywhere.</footer>")
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)
