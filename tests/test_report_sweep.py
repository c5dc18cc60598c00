"""The report's sweep section (report_sweep.py, issue 15) against `reapcheck collisions` run
alone on each layout: per-layout worst cases, the distribution table, the histogram, the
HTML. No Dask: the report runs the sweep task serially."""
from __future__ import annotations

import json
import math
import re
import statistics

import pytest

from reapcheck import bundled
from reapcheck.cli import main
from reapcheck.html_report import render_html
from reapcheck.model.smaps import load
from reapcheck.report import _wrap
from reapcheck.report_sweep import sweep_data, sweep_markdown

SIZES = (10, 30, 100)  # the report's smallest synthetic layouts (seed 1)


@pytest.fixture(scope="module")
def section(tmp_path_factory):
    """The section's data, and each layout's worst cases from `collisions --json` alone."""
    folder = tmp_path_factory.mktemp("gen")
    layouts, files = {}, {}
    for name in bundled.names():
        layouts[name], files[name] = bundled.load_bundled(name), name
    for size in SIZES:
        path = str(folder / f"{size}.smaps")
        assert main(["generate", str(size), "--seed", "1", "-o", path]) == 0
        layout = load(path)
        layouts[f"synthetic:{size}:seed1"], files[f"synthetic:{size}:seed1"] = layout, path
    alone = {}
    for name, path in files.items():
        for order in ("forward", "reverse"):
            for gran in ("vma", "ptl"):
                alone[(name, gran, order)] = collisions_alone(path, order, gran)
    return sweep_data(layouts), alone


def collisions_alone(path, order, gran) -> int:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["collisions", path, "--order", order, "--granularity", gran, "--json",
                     "--witness", "compact", "--quiet"]) == 0
    return json.loads(out.getvalue())["max_collisions"]


def stats(values):
    ordered = sorted(values)
    return [ordered[0], statistics.median(ordered), ordered[math.ceil(len(ordered) * 9 / 10) - 1],
            ordered[-1]]


def test_per_layout_equals_collisions_alone(section):
    data, alone = section
    got = {(e["layout"], gran, order): e[gran][order] for e in data["per_layout"]
           for gran in ("vma", "ptl") for order in ("forward", "reverse")}
    assert got == alone
    assert data["layouts"] == len(bundled.names()) + len(SIZES)


def test_table_is_the_distribution_of_those_numbers(section):
    data, alone = section
    table = {row[0]: row[1:] for row in data["table"]}
    names = {name for name, _, _ in alone}
    for gran in ("vma", "ptl"):
        for order in ("forward", "reverse"):
            values = [alone[(n, gran, order)] for n in names]
            n, *cells = table[f"{gran} worst case, {order}"]
            assert n == str(len(values))
            assert [float(c.replace(",", "")) for c in cells] == [float(v) for v in stats(values)]
        factors = [alone[(n, gran, "forward")] / alone[(n, gran, "reverse")] for n in names
                   if alone[(n, gran, "reverse")]]  # none of these layouts has reverse 0
        assert len(factors) == len(names)
        n, *cells = table[f"{gran} reduction (fwd/rev)"]
        assert [c for c in cells] == [f"{v:,.1f}x" for v in stats(factors)]


def test_histogram_counts_every_factor_once(section):
    data, alone = section
    hist = data["histogram"]
    names = {name for name, _, _ in alone}
    for gran, counts in hist["counts"].items():
        assert sum(counts) == len(names)
        for name in names:
            f = alone[(name, gran, "forward")] / alone[(name, gran, "reverse")]
            label = f"{2 ** int(math.log2(f)):,}-{2 ** (int(math.log2(f)) + 1):,}x"
            assert counts[hist["labels"].index(label)] >= 1


def test_html_and_markdown(section):
    data, _ = section
    page = render_html({"version": 2, "sweep": data})
    assert '<section id="sweep"' in page and 'class="bar-chart"' in page
    bars = len(re.findall(r'<rect class="bar"', page))
    assert bars == sum(1 for counts in data["histogram"]["counts"].values() for c in counts if c)
    text = "\n".join(sweep_markdown(data, _wrap))
    assert "`reapcheck sweep`" in text and "| vma worst case, forward" in text
    assert render_html({"version": 2, "sweep": data}) == page  # deterministic
