"""The real layouts shipped with reapcheck (anonymized captures, see README "Bundled layouts")."""
from __future__ import annotations

from .model.layout import Layout
from .model.smaps import load

PREFIX = "bundled/"


def names() -> list[str]:
    """Bundled layout names, sorted, as `bundled/NAME.smaps`."""
    from importlib.resources import files  # 10 ms to import: only for bundled/NAME

    folder = files("reapcheck") / "layouts"
    return sorted(PREFIX + f.name for f in folder.iterdir() if f.name.endswith((".smaps", ".maps")))


def load_bundled(name: str) -> Layout:
    """Load `bundled/NAME` (the prefix is optional); the layout keeps that short name."""
    from importlib.resources import as_file, files

    base = name.removeprefix(PREFIX)
    with as_file(files("reapcheck") / "layouts" / base) as path:
        return load(path, shown_as=PREFIX + base)


def text(name: str) -> str:
    """The text of `bundled/NAME` (for `anonymize`, which reads text, not a Layout)."""
    from importlib.resources import files

    return (files("reapcheck") / "layouts" / name.removeprefix(PREFIX)).read_text()
