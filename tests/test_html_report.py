"""The self-contained HTML report (src/reapcheck/html_report.py and its Jinja2 templates):
determinism, escaping, swimlanes (one marker per collision, compression keeps every
collision), the log-log chart with zeros, the generic data table and the experiment
section, the templates shipped as package data, and a real render in headless Chromium
checked pixel by pixel.

The PNG reader below is written from the PNG specification with the standard library
only (zlib + struct), so the render check needs nothing but a Chromium binary.
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from reapcheck import bundled
from reapcheck.collisions import worst_case
from reapcheck import html_report
from reapcheck.html_report import (COLLISION_COLOUR, COMPRESS_ABOVE, LANE_COLOURS, MAX_ROWS, Cell,
                                   Column, Row, Table, render_html, scaling_svg, select_rows,
                                   swimlane_svg)
from reapcheck.model.walks import WalkConfig
from reapcheck.traces import layout_json

SVG = "{http://www.w3.org/2000/svg}"


# --- data ---------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _witness(name: str, order: str, granularity: str) -> dict:
    """A real witness from the engines, in the report's witness shape."""
    layout = bundled.load_bundled(name)
    analysis = worst_case(layout, WalkConfig(order, granularity))
    return {"id": f"{name.removeprefix('bundled/')}-{order}-{granularity}",
            "title": f"{name}: reaper {order}, granularity {granularity}",
            "layout": layout_json(layout), "granularity": granularity, "order": order,
            "max_collisions": analysis.result.max_collisions,
            "steps": [step.to_json() for step in analysis.steps()]}


def witness(name: str, order: str, granularity: str) -> dict:
    return copy.deepcopy(_witness(name, order, granularity))


def counterexample() -> dict:
    """A protocol trace: steps without a VMA, a third actor, `changes` dicts."""
    steps = [
        {"step": 1, "actor": "exit_mmap", "action": "read_lock", "vma": None,
         "changes": {"ex_pc": [0, 2], "readers": [0, 1]}},
        {"step": 2, "actor": "exit_mmap", "action": "unmap", "vma": 0, "changes": {"ex_pos": [0, 1]}},
        {"step": 3, "actor": "mrelease", "action": "lock", "vma": None, "changes": {"mr_pc": [0, 2]}},
        {"step": 4, "actor": "reaper", "action": "unmap", "vma": 2, "changes": {"rp_pos": [3, 2]}},
        {"step": 5, "actor": "mrelease", "action": "unmap", "vma": 1, "changes": {"mr_pos": [3, 2]}},
        {"step": 6, "actor": "exit_mmap", "action": "remove_vma", "vma": 1, "collision": True,
         "changes": {"ex_pos": [1, 2]}},
    ]
    return {"id": "use-after-free", "title": "no_write_lock: reaper on a freed VMA",
            "property": "no_use_after_free", "walk": "rev_find",
            "layout": {"path": "bundled/tiny.maps", "vmas": [
                {"start": "0x400000", "end": "0x401000", "perms": "r-xp", "flags": None},
                {"start": "0x401000", "end": "0x402000", "perms": "rw-s", "flags": None},
                {"start": "0x600000", "end": "0x603000", "perms": "rw-p", "reapable": True}]},
            "steps": steps}


SCALING = [{"vmas": n, "order": order, "granularity": gran,
            "max_collisions": {"forward": n, "reverse": 1 if gran == "vma" else n // 5}[order]}
           for n in (10, 30, 100, 300, 1000, 3000, 10000, 30000, 65530)
           for order in ("forward", "reverse") for gran in ("vma", "ptl")]


def sample_data() -> dict:
    return {
        "version": 1,
        "change": {"title": "mm/oom_kill: the OOM reaper traverses the VMA maple tree in reverse order",
                   "summary": ["The reaper walks from the top.", "exit_mmap walks from the bottom."]},
        "claims": [{"id": "hocko-v5", "who": "Michal Hocko", "quote": "might reduce this chance",
                    "verdict": "true under an assumption", "evidence": ["vma: 201 -> 1"],
                    "command": "reapcheck compare bundled/java.smaps"}],
        "collisions": [
            {"layout": "bundled/a.smaps", "vmas": 5, "reapable": 4, "granularity": "vma",
             "order": "forward", "max_collisions": 4, "reapable_rule": "vmflags"},
            {"layout": "bundled/a.smaps", "vmas": 5, "reapable": 4, "granularity": "vma",
             "order": "reverse", "max_collisions": 1},
            {"layout": "bundled/a.smaps", "vmas": 5, "reapable": 4, "granularity": "ptl",
             "order": "forward", "max_collisions": 3},
            {"layout": "bundled/a.smaps", "vmas": 5, "reapable": 4, "granularity": "ptl",
             "order": "reverse", "max_collisions": 0},
            {"layout": "bundled/b.smaps", "vmas": 2, "reapable": 0, "granularity": "vma",
             "order": "forward", "max_collisions": 0},
            {"layout": "bundled/b.smaps", "vmas": 2, "reapable": 0, "granularity": "vma",
             "order": "reverse", "max_collisions": 0}],
        "scaling": SCALING,
        "witnesses": [witness("bundled/tiny.maps", "forward", "vma"),
                      witness("bundled/sleep.smaps", "reverse", "ptl")],
        "iterators": {"claims": {"rev_prev_skips_top": {
            "status": "holds", "bound": 6, "assumptions": ["end <= 2**64"],
            "invariant": "index above every visited VMA", "counterexample": None}}},
        "protocol": [{"layout": "bundled/tiny.maps", "walk": "rev_find", "mutant": None,
                      "stuck_writer": False, "mrelease": False, "states": 1897, "complete": True,
                      "properties": {"no_use_after_free": "holds", "walk_complete": "holds"},
                      "trace_lengths": {}},
                     {"layout": "bundled/tiny.maps", "walk": "rev_find", "mutant": "no_write_lock",
                      "stuck_writer": False, "mrelease": False, "states": 3419, "complete": True,
                      "properties": {"no_use_after_free": "violated", "walk_complete": "holds"},
                      "trace_lengths": {"no_use_after_free": 12}}],
        "counterexamples": [counterexample()],
        "limits": ["The ptlock is never dropped early."],
        "measured": ["1.0 ms vs 33.1 ms of PTE spinlock wait."],
    }


# --- helpers ------------------------------------------------------------------------------

def svgs(page: str) -> list[ET.Element]:
    """Every inline <svg> of the page, parsed as XML (so each must be well-formed)."""
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", page, flags=re.S)]


def classes(el: ET.Element) -> set[str]:
    return set(el.get("class", "").split())


def with_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [el for el in root.iter() if name in classes(el)]


def title_of(el: ET.Element) -> str:
    t = el.find(f"{SVG}title")
    return "" if t is None else t.text or ""


def check_swimlane(root: ET.Element, w: dict, every_collision: bool = True) -> None:
    assert with_class(root, "lane-exit_mmap") and with_class(root, "lane-reaper")
    rings = with_class(root, "collision")
    hits = [i for i, s in enumerate(w["steps"]) if s.get("collision")]
    assert len(rings) == len(hits)
    assert sorted(int(re.match(r"step (\d+):", title_of(r)).group(1)) for r in rings) == \
        [w["steps"][i].get("step", i + 1) for i in hits]
    assert all(title_of(r).endswith("(collision)") or "(collision);" in title_of(r) for r in rings)


# --- the page -----------------------------------------------------------------------------

def test_deterministic():
    data = sample_data()
    first = render_html(data)
    assert render_html(data) == first
    assert render_html(copy.deepcopy(data)) == first
    assert swimlane_svg(data["witnesses"][1]) == swimlane_svg(copy.deepcopy(data["witnesses"][1]))
    assert scaling_svg(SCALING) == scaling_svg(list(SCALING))


def test_self_contained_and_sections_in_order():
    page = render_html(sample_data())
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    lowered = page.lower()
    for banned in ("<script", "<link", "<img", "<iframe", "@import", "url(", " src=", "https://"):
        assert banned not in lowered, banned
    assert set(re.findall(r"http://[^\"'\s<]*", page)) == {"http://www.w3.org/2000/svg"}
    order = ["change", "claims", "collisions", "scaling", "witnesses", "iterators", "protocol",
             "counterexamples", "limits", "measured"]
    found = re.findall(r'<section id="([a-z]+)">', page)
    assert found == order
    # Only what is present is rendered; version alone makes a valid (empty) report.
    assert re.findall(r'<section id="([a-z]+)">', render_html({"version": 1, "limits": ["x"]})) \
        == ["limits"]
    with pytest.raises(ValueError):
        render_html({})


def test_escaping():
    data = sample_data()
    evil = '<script>alert("x")</script> & \'q\''
    data["change"]["title"] = evil
    data["claims"][0]["quote"] = evil
    data["claims"][0]["who"] = evil
    data["claims"][0]["evidence"] = [evil]
    data["claims"][0]["command"] = evil
    data["limits"] = [evil]
    data["protocol"][0]["layout"] = evil
    data["collisions"][0]["layout"] = evil
    w = data["witnesses"][0]
    w["title"] = w["id"] = evil
    w["layout"]["path"] = evil
    w["steps"][0]["action"] = evil
    data["counterexamples"][0]["steps"][0]["changes"] = {evil: [0, 1]}
    page = render_html(data)
    assert "<script" not in page and 'alert("x")' not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;" in page
    for root in svgs(page):  # still well-formed XML with hostile text inside
        assert root.tag == f"{SVG}svg"
    # Text that looks like template syntax is data, never evaluated.
    page = render_html({"version": 1, "limits": ["{{ 7 * 7 }} {% if 1 %}x{% endif %}"]})
    assert "<li>{{ 7 * 7 }} {% if 1 %}x{% endif %}</li>" in page


def test_collision_table_reduction():
    page = render_html(sample_data())
    table = re.search(r'<table class="collisions">.*?</table>', page, flags=re.S).group(0)
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", table)]
    cells = [[re.sub(r"<[^>]+>", "", c) for c in row] for row in rows if row]
    # reapable by: the rule of the group's first entry; "-" in data written before it
    assert cells == [["bundled/a.smaps", "5", "4", "vmflags", "vma", "4", "1", "4.0x"],
                     ["bundled/a.smaps", "5", "4", "-", "ptl", "3", "0", "all"],
                     ["bundled/b.smaps", "2", "0", "-", "vma", "0", "0", "-"]]


def test_collision_table_says_whether_spin_agreed():
    """With report._spin_agreement's per-row word, each layout and granularity says whether
    SPIN confirmed both worst cases; a row not run shows `-` with the reason on hover."""
    data = sample_data()
    words = ["agrees", "agrees", "agrees", "not run: over SPIN's budget", "agrees",
             "DISAGREES"]
    for row, word in zip(data["collisions"], words):
        row["spin"] = word
    page = render_html(data)
    assert [row[-1] for row in table_cells(page, "collisions")] == [
        "agrees", "fwd agrees, rev -", "fwd agrees, rev DISAGREES"]
    assert "reverse: not run: over SPIN&#x27;s budget" in page


def table_cells(page: str, cls: str) -> list[list[str]]:
    """The text of every body cell of the table with class `cls`, tags removed."""
    table = re.search(rf'<table class="{cls}">.*?</table>', page, flags=re.S).group(0)
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)
            for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table, flags=re.S)]
    return [[re.sub(r"<[^>]+>", "", c) for c in row] for row in rows if row]


def test_data_table_layout():
    """The generic table macro: header and cell flags, one line per row, escaped text."""
    table = Table("demo", [Column("name"), Column("count", num=True), Column("a_b", wbr=True)], [
        Row([Cell("x<y", wrap="code"), Cell(3, num=True), Cell("holds", cls="s-holds", title="t\"")]),
        Row([Cell(items=["one", "two"]), Cell("5 (incomplete)", num=True, at_least=True),
             Cell("a_b", wbr=True)], cls="hit"),
        Row([Cell("reaper", dot="lane-reaper"), Cell("4.0x", num=True, wrap="strong"), Cell("")])])
    text = str(html_report._macro("data_table")(table))
    assert text == (
        '<div class="table-scroll"><table class="demo"><thead><tr><th>name</th>'
        '<th class=num>count</th><th>a_<wbr>b</th></tr></thead><tbody>\n'
        '<tr><td><code>x&lt;y</code></td><td class=num>3</td>'
        '<td class="s-holds" title="t&quot;">holds</td></tr>\n'
        '<tr class="hit"><td><ul>\n<li>one</li>\n<li>two</li>\n</ul></td>'
        '<td class=num>&ge; 5 (incomplete)</td><td>a_<wbr>b</td></tr>\n'
        '<tr><td><span class="dot lane-reaper"></span>reaper</td>'
        '<td class=num><strong>4.0x</strong></td><td></td></tr>\n'
        '</tbody></table></div>')
    empty = str(html_report._macro("data_table")(Table("e", [Column("c")], scroll=False)))
    assert empty == '<table class="e"><thead><tr><th>c</th></tr></thead><tbody>\n\n</tbody></table>'


def experiment_data() -> list[dict]:
    """Two `reapcheck experiment --json` objects in issue 9's keys, one per walkers mode."""
    def run(exit_pte, reaper_pte, lru=0):
        c = {"pte": {"exit_mmap": {"count": exit_pte, "wait_us": 12.5},
                     "reaper": {"count": reaper_pte, "wait_us": 25.0}}}
        if lru:
            c["lruvec"] = {"exit_mmap": {"count": lru, "wait_us": 900.0}}
        return {"contentions": c}
    return [{"version": 1, "walkers": "opposite", "environment": {"kernel": "6.18.0"}, "model": {"ptl": 1, "vma": 1},
             "runs": [run(0, 0, lru=300), run(0, 1, lru=250), run(0, 0)]},
            {"version": 1, "walkers": "same", "environment": {"kernel": "6.18.0"},
             "model": {"ptl": 1200, "vma": 6000}, "runs": [run(500, 480), run(520, 511, lru=12)]}]


def test_experiment_section():
    data = sample_data()
    data["experiment"] = experiment_data()
    page = render_html(data)
    found = re.findall(r'<section id="([a-z]+)">', page)
    assert found.index("experiment") == found.index("counterexamples") + 1
    assert found.index("limits") == found.index("experiment") + 1
    assert '<a href="#experiment">What the real kernel did</a>' in page
    assert "(6.18.0)" in page
    outside = "outside the collision model"
    assert table_cells(page, "experiment") == [
        ["opposite", "pte", "exit_mmap", "3", "0", "0", "12.5", "12.5", "1"],
        ["opposite", "pte", "reaper", "3", "0", "1", "25.0", "25.0", "1"],
        ["opposite", "lruvec", "exit_mmap", "3", "250", "300", "900.0", "900.0", outside],
        ["same", "pte", "exit_mmap", "2", "510", "520", "12.5", "12.5", "1200"],
        ["same", "pte", "reaper", "2", "495.5", "511", "25.0", "25.0", "1200"],
        ["same", "lruvec", "exit_mmap", "2", "6", "12", "450.0", "900.0", outside]]
    # One object instead of a list; hostile text escaped.
    one = experiment_data()[0]
    one["walkers"] = "<b>"
    page = render_html({"version": 1, "experiment": one})
    assert "<td>&lt;b&gt;</td>" in page and "<b>" not in page
    # No experiment data: no section, no heading, no link.
    for absent in ({"version": 1}, {"version": 1, "experiment": []}, sample_data()):
        page = render_html(absent)
        assert 'id="experiment"' not in page and "What the real kernel did" not in page


def test_templates_are_package_data():
    """Every template is matched by pyproject's package-data, so a wheel ships it."""
    root = Path(__file__).resolve().parent.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())
    package = root / "src" / "reapcheck"
    shipped = {p for g in project["tool"]["setuptools"]["package-data"]["reapcheck"]
               for p in package.glob(g)}
    templates = {p for p in (package / "templates").rglob("*") if p.is_file()}
    assert templates and templates <= shipped, sorted(map(str, templates - shipped))
    assert "jinja2>=3.1" in project["project"]["dependencies"]


# --- swimlanes ----------------------------------------------------------------------------

@pytest.mark.parametrize("name,order,granularity", [
    ("bundled/tiny.maps", "forward", "vma"), ("bundled/tiny.maps", "reverse", "ptl"),
    ("bundled/sleep.smaps", "forward", "ptl"), ("bundled/sleep.smaps", "reverse", "vma"),
    ("bundled/top.maps", "forward", "vma")])
def test_swimlane_marks_every_collision(name, order, granularity):
    w = witness(name, order, granularity)
    assert len(w["steps"]) <= COMPRESS_ABOVE
    root = ET.fromstring(swimlane_svg(w))
    check_swimlane(root, w)
    assert sum(bool(s["collision"]) for s in w["steps"]) == w["max_collisions"]
    # One marker per step, each with hover text naming step, actor, action and VMA.
    markers = with_class(root, "step")
    assert len(markers) == len(w["steps"])
    for i, (marker, step) in enumerate(zip(markers, w["steps"])):
        assert title_of(marker).startswith(f"step {i + 1}: {step['actor']} {step['action']} "
                                           f"vma {step['vma']}")
        assert ("lane-" + step["actor"]) in classes(marker)


def test_every_witness_in_the_page_has_lanes():
    data = sample_data()
    roots = [r for r in svgs(render_html(data)) if "swimlane" in classes(r)]
    ws = data["witnesses"] + data["counterexamples"]
    assert len(roots) == len(ws)
    for root, w in zip(roots, ws):
        check_swimlane(root, w)


def test_counterexample_margin_and_third_lane():
    w = counterexample()
    root = ET.fromstring(swimlane_svg(w))
    check_swimlane(root, w)
    assert with_class(root, "lane-mrelease")
    assert with_class(root, "margin-column")
    labels = [el.text for el in with_class(root, "action-label")]
    assert labels == ["read_lock", "lock"]
    titles = [title_of(m) for m in with_class(root, "step")]
    assert titles[0] == "step 1: exit_mmap read_lock (no VMA); ex_pc 0\u21922, readers 0\u21921"
    assert titles[5] == "step 6: exit_mmap remove_vma vma 1 (collision); ex_pos 1\u21922"
    # VMA 1 is shared (plain maps, 4th permission 's'): drawn as not reapable.
    columns = with_class(root, "vma-column")
    assert [c.get("fill") for c in columns] == ["#ffffff", "#e4e4e4", "#ffffff"]
    assert "0x401000-0x402000 rw-s 4 KiB, not reapable" in title_of(columns[1])


def test_compression_keeps_every_collision_exact_moves():
    w = witness("bundled/java.smaps", "forward", "vma")  # 810 steps, 201 collisions
    assert len(w["steps"]) > COMPRESS_ABOVE
    rows, how = select_rows(w["steps"])
    assert how == "moves" and len(rows) < len(w["steps"])
    root = ET.fromstring(swimlane_svg(w))
    check_swimlane(root, w)
    assert len(with_class(root, "step")) == len(rows)
    page = render_html({"version": 1, "witnesses": [w]})
    assert f"{len(rows)} of {len(w['steps'])} steps are drawn" in page
    # Every position change of every actor is kept, so the lines stay exact.
    where, drawn = {}, set(rows)
    for i, s in enumerate(w["steps"]):
        if where.get(s["actor"]) != s["vma"]:
            assert i in drawn
        where[s["actor"]] = s["vma"]


def test_compression_sampled_keeps_every_collision():
    steps = []
    for i in range(5000):  # every step moves to another VMA: only sampling can shorten it
        actor = ("exit_mmap", "reaper")[i % 2]
        steps.append({"actor": actor, "action": "unmap", "vma": (i * 7) % 97,
                      "collision": i % 13 == 5})
    w = {"id": "long", "layout": {"path": "synthetic", "vmas": []}, "steps": steps}
    rows, how = select_rows(steps)
    assert how == "sampled" and len(rows) <= MAX_ROWS + 2
    assert {i for i, s in enumerate(steps) if s["collision"]} <= set(rows)
    text = swimlane_svg(w)
    root = ET.fromstring(text)
    check_swimlane(root, w)
    assert len(with_class(root, "step")) == len(rows)
    assert "time compressed" in text
    # Only collisions (and first and last) when there are more of them than rows.
    many = [{"actor": "reaper", "action": "unmap", "vma": i % 50, "collision": True}
            for i in range(MAX_ROWS + 300)]
    rows, how = select_rows(many)
    assert how == "sampled" and rows == list(range(len(many)))
    check_swimlane(ET.fromstring(swimlane_svg({"steps": many})), {"steps": many})


def test_swimlane_degenerate_inputs():
    for w in ({"steps": []}, {"layout": "x.maps", "steps": [{"actor": "reaper", "vma": 3}]},
              {"layout": {"path": "p", "vmas": [{"start": "zz", "end": "0x1", "perms": "r"}]},
               "steps": [{"actor": "kthread", "action": "poke", "vma": None}]}):
        root = ET.fromstring(swimlane_svg(w))
        assert with_class(root, "lane-exit_mmap") and with_class(root, "lane-reaper")


# --- the scaling chart --------------------------------------------------------------------

def _floats(root: ET.Element) -> list[float]:
    nums = []
    for el in root.iter():
        for key in ("x", "y", "cx", "cy", "width", "height", "x1", "x2", "y1", "y2"):
            if el.get(key) is not None:
                nums.append(float(el.get(key)))
        if el.get("points"):
            nums += [float(v) for v in re.split(r"[ ,]+", el.get("points").strip())]
    return nums


def test_scaling_chart_handles_zeros():
    points = SCALING + [{"vmas": n, "order": "reverse", "granularity": "vma", "max_collisions": 0}
                        for n in (1, 3)]
    # reverse/vma now has 0 at 1 and 3 VMAs, 1 above: the zeros sit on the floor, below 1.
    root = ET.fromstring(scaling_svg(points))
    assert all(math.isfinite(v) for v in _floats(root))
    pts = {title_of(p): p for p in root.iter() if "point" in classes(p)}
    assert len(pts) == len(points)
    zero = pts["reverse / vma: 1 VMAs, 0 worst-case collisions"]
    zero3 = pts["reverse / vma: 3 VMAs, 0 worst-case collisions"]
    one = pts["reverse / vma: 10 VMAs, 1 worst-case collisions"]
    top = pts["forward / vma: 65,530 VMAs, 65,530 worst-case collisions"]
    assert float(zero.get("cy")) == float(zero3.get("cy")) > float(one.get("cy")) > float(top.get("cy"))
    assert float(zero.get("cx")) < float(zero3.get("cx")) < float(one.get("cx"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "0" in texts and "1" in texts and "10,000" in texts and "100,000" in texts
    assert any("VMAs in the layout" in (t or "") for t in texts)
    legend = [t for t in texts if t and t.startswith(("forward (", "reverse ("))]
    assert len(legend) == 4
    # All zeros, one point, nothing: still a well-formed chart.
    for pts_in in ([{"vmas": 10, "order": "reverse", "granularity": "ptl", "max_collisions": 0}],
                   [{"vmas": 65530, "order": "forward", "granularity": "vma", "max_collisions": 1}],
                   []):
        assert all(math.isfinite(v) for v in _floats(ET.fromstring(scaling_svg(pts_in))))


# --- a real render in headless Chromium ---------------------------------------------------

def read_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows) of an 8-bit RGB or RGBA non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:  # Sub
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif kind == 2:  # Up
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:  # Average
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif kind == 4:  # Paeth
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        else:
            assert kind == 0, f"bad filter type {kind}"
        rows.append(bytes(line))
        prev = rows[-1]
    return width, height, bpp, rows


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def test_png_reader_all_filters():
    """The reader against a PNG written here with every filter type on known pixels."""
    width, height, bpp = 5, 5, 3
    pixels = [bytes((x * 40 + y * 7) % 256 for x in range(width * bpp)) for y in range(height)]

    def paeth(a, b, c):
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        return a if pa <= pb and pa <= pc else b if pb <= pc else c

    raw, prev = b"", bytes(width * bpp)
    for kind, line in enumerate(pixels):
        out = bytearray()
        for x, v in enumerate(line):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            pred = (0, a, b, (a + b) >> 1, paeth(a, b, c))[kind]
            out.append((v - pred) & 255)
        raw += bytes([kind]) + bytes(out)
        prev = line

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    assert read_png(png) == (width, height, bpp, pixels)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_chromium_renders_lanes(tmp_path):
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (no chromium, chromium-browser or google-chrome "
                    "on PATH); .ci/run installs the Debian package `chromium`")
    data = {"version": 1,
            "change": {"title": "render check", "summary": ["A witness drawn by Chromium."]},
            "witnesses": [witness("bundled/sleep.smaps", "reverse", "ptl")]}
    page = tmp_path / "report.html"
    page.write_text(render_html(data), encoding="utf-8")
    png = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={png}",
           "--window-size=1200,2000", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert png.exists() and png.stat().st_size > 0, \
        f"no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    width, height, bpp, rows = read_png(png.read_bytes())
    assert (width, height) == (1200, 2000)

    counts: Counter = Counter()
    for row in rows:
        counts.update(zip(row[0::bpp], row[1::bpp], row[2::bpp]))
    total = width * height

    def near(colour: str, tolerance: int = 24) -> int:
        r0, g0, b0 = _hex(colour)
        return sum(n for (r, g, b), n in counts.items()
                   if abs(r - r0) <= tolerance and abs(g - g0) <= tolerance and abs(b - b0) <= tolerance)

    assert len(counts) > 50, f"only {len(counts)} colours: a blank page?"
    assert counts.most_common(1)[0][1] < 0.95 * total, "one colour covers the whole page"
    exit_px, reaper_px = near(LANE_COLOURS["exit_mmap"]), near(LANE_COLOURS["reaper"])
    assert exit_px >= 500, f"exit_mmap lane ({LANE_COLOURS['exit_mmap']}) shows {exit_px} pixels"
    assert reaper_px >= 500, f"reaper lane ({LANE_COLOURS['reaper']}) shows {reaper_px} pixels"
    assert near(COLLISION_COLOUR, 16) >= 100, "collision rings are missing"


def test_same_bytes_in_fresh_interpreters(tmp_path):
    """No dependence on hash randomisation or anything else that varies between runs."""
    source = tmp_path / "data.json"
    source.write_text(json.dumps(sample_data()))
    script = ("import json, sys; from reapcheck.html_report import render_html; "
              "sys.stdout.write(render_html(json.load(open(sys.argv[1]))))")
    pages = [subprocess.run([sys.executable, "-c", script, str(source)], capture_output=True,
                            text=True, check=True, timeout=60,
                            env={**os.environ, "PYTHONHASHSEED": seed}).stdout
             for seed in ("1", "2")]
    assert pages[0] == pages[1] == render_html(json.loads(source.read_text()))
