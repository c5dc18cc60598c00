"""The cyclic garbage collector paused while many acyclic objects are made.

Parsing a 65,530-VMA layout, solving it and checking its witness make hundreds of
thousands of tuples, lists and dicts, none in a reference cycle. With the collector on,
each collection walks the young objects again as they pile up: the witness check of
such a layout takes about 4x as long (1.0 s against 0.25 s), a maps parse 2x.
Reference counting still frees everything.

On the way out the objects are moved to the oldest generation (gc.freeze() then
gc.unfreeze(), a list splice) instead of being walked by the young collection that
re-enabling would start at once (0.2 to 0.4 s after a 65,530-VMA witness check).
They stay collectable: the next full collection walks them, as it walks every other
long-lived object.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused():
    """Pause the cyclic collector inside the block (or the decorated function)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # every tracked object to the oldest generation, counts reset
        gc.unfreeze()
        if enabled:
            gc.enable()
