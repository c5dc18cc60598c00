"""The proofs section's text, each shared part printed once.

The 56 protocol claims (prove.py) of one configuration (walk, process_mrelease, stuck
writer) share their assumptions and their support invariant (engines/symbolic/chc.py's
Houdini result, 16 conditions): printed under every claim they made REPORT.md about
180 KB. `condensed()` keeps each claim's own text and replaces what an earlier claim
already printed by a reference to that claim; nothing is dropped, only said once.
"""
from __future__ import annotations

SUPPORT_HEAD = "the support invariant:"


def split_support(invariant: str) -> tuple[str, str]:
    """(the support block, the rest) of an invariant text: the support block is the line
    starting with SUPPORT_HEAD and the indented lines under it; ("", text) without one."""
    lines = invariant.splitlines()
    if not lines or not lines[0].startswith(SUPPORT_HEAD):
        return "", invariant
    end = 1
    while end < len(lines) and lines[end].startswith(" "):
        end += 1
    return "\n".join(lines[:end]), "\n".join(lines[end:])


def condensed(claims: dict) -> dict:
    """name -> {"assumptions": [str], "invariant": str | None} for every claim, in order.

    A claim whose assumptions start with an earlier claim's whole list says "what NAME
    assumes (above)" followed by its own extra ones; a support block already printed
    becomes "the support invariant of NAME (above)". The first claim to print a part
    keeps it in full. `claims` maps names to prove.py's entries (`assumptions`,
    `invariant`, both optional)."""
    out, assumed, supports = {}, [], {}
    for name, claim in claims.items():
        claim = claim if isinstance(claim, dict) else {}
        assumptions = list(claim.get("assumptions") or [])
        earlier = max(((n, a) for n, a in assumed if len(a) > 1
                       and assumptions[:len(a)] == a), key=lambda na: len(na[1]),
                      default=None)
        if earlier is None:
            shown = assumptions
            if assumptions:
                assumed.append((name, assumptions))
        else:
            shown = [f"what {earlier[0]} assumes (above)"] + assumptions[len(earlier[1]):]
        invariant = claim.get("invariant")
        if invariant:
            support, rest = split_support(invariant)
            if support and support in supports:
                invariant = f"the support invariant of {supports[support]} (above)" + \
                    ("\n" + rest if rest else "")
            elif support:
                supports[support] = name
        out[name] = {"assumptions": shown, "invariant": invariant}
    return out
