"""The proofs section says each configuration's shared parts once (proof_text.py)."""
from reapcheck.proof_text import condensed, split_support

SUPPORT = "the support invariant: these, kept by Houdini:\n  readers: r == 0\n  writer: w <= 1"
OTHER = "the support invariant: these, kept by Houdini:\n  readers: r == 1"


def test_split_support():
    assert split_support(SUPPORT + "\nthe property: x") == (SUPPORT, "the property: x")
    assert split_support("I(s, c): c = 0") == ("", "I(s, c): c = 0")


def test_shared_parts_are_printed_once_and_referenced_after():
    claims = {
        "a": {"assumptions": ["N any", "no mrelease"], "invariant": SUPPORT + "\nown a"},
        "b": {"assumptions": ["N any", "no mrelease", "termination"],
              "invariant": SUPPORT + "\nown b"},
        "c": {"assumptions": ["N any", "mrelease"], "invariant": SUPPORT},
        "d": {"assumptions": ["N any", "mrelease"], "invariant": OTHER + "\nown d"},
        "e": {"status": "holds"},
    }
    out = condensed(claims)
    assert list(out) == list("abcde")
    assert out["a"] == {"assumptions": ["N any", "no mrelease"], "invariant": SUPPORT + "\nown a"}
    assert out["b"] == {"assumptions": ["what a assumes (above)", "termination"],
                        "invariant": "the support invariant of a (above)\nown b"}
    # a different configuration: its assumptions are its own, the same support is shared
    assert out["c"] == {"assumptions": ["N any", "mrelease"],
                        "invariant": "the support invariant of a (above)"}
    assert out["d"] == {"assumptions": ["what c assumes (above)"], "invariant": OTHER + "\nown d"}
    assert out["e"] == {"assumptions": [], "invariant": None}
