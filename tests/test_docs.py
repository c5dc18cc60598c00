"""The project stands alone (issue 11): the contract and the kernel facts are in docs/.

- Every citation `docs/model.md §N` or `docs/kernel.md §N` (also `§N-M` and `§N, §M`) in
  the code, the templates, the bundled layouts, the tests, the benchmarks, the README,
  ARCHITECTURE.md and docs/ itself names a section (`## N. Title`) that page has. A bare
  `§N` is allowed only inside docs/, where it means the same page.
- No text refers to the steering files outside the repository: the parent directory's
  shared folder, or the upper-case contract and kernel file names used there.
- docs/model.md keeps the contract's section numbers (1 layouts .. 6 bad input), so
  every citation written against the contract maps one to one.
- Relative links in the README and ARCHITECTURE.md point at files that exist.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = {name: ROOT / "docs" / f"{name}.md" for name in ("model", "kernel")}
SCANNED_DIRS = ("src", "model", "properties", "tests", "benchmarks", "docs")
SCANNED_FILES = ("README.md", "ARCHITECTURE.md")
SUFFIXES = {".py", ".j2", ".md", ".maps", ".smaps", ".txt", ".toml"}

CITATION = re.compile(r"docs/(model|kernel)\.md((?:(?:,|, and| and)?\s+§\d+(?:-\d+)?)+)")
SECTION_REF = re.compile(r"§(\d+)(?:-(\d+))?")
HEADING = re.compile(r"^## (\d+)\. ", re.MULTILINE)
# Spelled in pieces so that this file does not match itself.
STALE = re.compile("|".join((r"\.\./" + "shared", "MODEL" + r"\.md", "KERNEL" + r"\.md")))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def sections(doc: str) -> set[int]:
    return {int(n) for n in HEADING.findall(DOCS[doc].read_text(encoding="utf-8"))}


def problems(text: str, own_doc: str | None = None, known=None) -> list[str]:
    """What is wrong with the citations in `text`: a section a page lacks, a bare `§N`
    outside docs/ (`own_doc` None), a reference to the steering files."""
    known = known or {doc: sections(doc) for doc in DOCS}
    out, covered = [], []
    for m in CITATION.finditer(text):
        covered.append(m.span())
        for ref in SECTION_REF.finditer(m.group(2)):
            out += _missing(m.group(1), ref, known, f"{m.group(0)!r}")
    for ref in SECTION_REF.finditer(text):
        if any(a <= ref.start() < b for a, b in covered):
            continue
        if own_doc is None:
            out.append(f"bare {ref.group(0)!r}: write docs/model.md or docs/kernel.md before it")
        else:
            out += _missing(own_doc, ref, known, f"{ref.group(0)!r}")
    out += [f"refers outside the repository: {m.group(0)!r}" for m in STALE.finditer(text)]
    return out


def _missing(doc: str, ref: re.Match, known, what: str) -> list[str]:
    first = int(ref.group(1))
    last = int(ref.group(2) or first)
    gone = [n for n in range(first, last + 1) if n not in known[doc]] if first <= last \
        else [first, last]
    return [f"{what}: docs/{doc}.md has no section {', '.join(map(str, gone))}"] if gone else []


def scanned_files():
    for name in SCANNED_FILES:
        yield ROOT / name
    for folder in SCANNED_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts \
                    and path != Path(__file__).resolve():  # its examples are wrong on purpose
                yield path


def test_docs_exist_with_numbered_sections():
    assert sections("model") >= {1, 2, 3, 4, 5, 6}
    assert sections("kernel"), "docs/kernel.md has no numbered section"
    for doc in DOCS:
        numbers = sorted(sections(doc))
        assert numbers == list(range(1, len(numbers) + 1)), f"docs/{doc}.md: {numbers}"


def test_model_keeps_the_contract_section_numbers():
    titles = dict((int(n), t) for n, t in re.findall(
        r"^## (\d+)\. (.*)$", DOCS["model"].read_text(encoding="utf-8"), re.MULTILINE))
    for number, start in ((1, "Layouts"), (2, "Walks"), (3, "Collisions"), (4, "Iterators"),
                          (5, "The protocol model"), (6, "Bad input")):
        assert titles[number].startswith(start), (number, titles[number])


def test_every_citation_names_an_existing_section():
    known = {doc: sections(doc) for doc in DOCS}
    found, bad = 0, []
    for path in scanned_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        found += len(CITATION.findall(text))
        own = path.stem if path.parent == ROOT / "docs" and path.stem in DOCS else None
        bad += [f"{path.relative_to(ROOT)}: {p}" for p in problems(text, own, known)]
    assert not bad, "\n".join(bad)
    assert found > 50  # the scan did read the sources: they cite the docs throughout


def test_readme_cites_and_links_the_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/model.md)" in readme and "](docs/kernel.md)" in readme
    for name in SCANNED_FILES:
        for target in LINK.findall((ROOT / name).read_text(encoding="utf-8")):
            if "://" not in target:
                assert (ROOT / target).exists(), f"{name}: link to missing {target}"


@pytest.mark.parametrize("text, wrong", [
    ("the worst case (docs/model.md §3)", 0),
    ("docs/model.md §1, §6 and docs/kernel.md §3-6", 0),
    ("docs/model.md §99", 1),
    ("docs/model.md §1, §42", 1),
    ("docs/kernel.md §2-40", 1),
    ("docs/model.md §6-1", 1),
    ("as in §3 of the contract", 1),
    ("see ../" + "shared/" + "MODEL" + ".md 3", 2),
])
def test_the_check_itself(text, wrong):
    known = {"model": {1, 2, 3, 4, 5, 6, 7}, "kernel": set(range(1, 13))}
    assert len(problems(text, None, known)) == wrong, problems(text, None, known)
