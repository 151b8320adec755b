"""Output arrays lent to callers and reused once they have let go of them.

A render of a few seconds returns arrays of a few hundred kilobytes. Allocated afresh on
every call, their memory often comes straight from the operating system: glibc returns
the top of its heap to the system when a large free leaves more than its trim threshold
there, so the next allocation takes a page fault on every 4 KiB it touches. Measured on
the 8th-order lowpass (2 s of audio, outputs and one tangent), that alone made `jvp`
1.5 times slower in some processes and not in others, depending on what had been
allocated before. A program therefore keeps the arrays it returned and hands one out
again when nothing refers to it any more: the caller dropped it, and every view of it.

Whether anything still refers to an array is read from its reference count, so an
array the caller keeps (or a slice, a memoryview, a dict of its rows) is never
overwritten; only a raw pointer taken from it and kept after the array is gone would
see new values, as with any freed memory. What a reference count reads depends on the
interpreter (CPython 3.14 may borrow references a loop variable used to hold), so the
count of an array nobody holds is measured when this module loads, and arrays are not
reused where that measure is not clear.
"""
from __future__ import annotations

import math
import sys
import threading
from typing import Dict, List, Optional, Tuple

import numpy as np

# Per shape, at most this many arrays are kept; and only this many shapes (the most
# recent), each of at most MAX_BYTES (a long render's memory is returned at once).
KEEP_PER_SHAPE = 3
KEEP_SHAPES = 6
MAX_BYTES = 16 * 1024 * 1024


def _first_count(kept: List[np.ndarray]) -> int:
    """The reference count of kept[0] read as `take` reads it (same loop, same call)."""
    for array in kept:
        return sys.getrefcount(array)
    return -1


def _unreferenced_count() -> Optional[int]:
    """What `_first_count` reads for an array only its list holds, or None when one more
    holder does not read one more (then nothing can tell a dropped array from a kept one)."""
    kept = [np.empty(1)]
    alone = _first_count(kept)
    held = kept[0]
    ok = _first_count(kept) == alone + 1
    del held
    return alone if ok and _first_count(kept) == alone else None


_UNREFERENCED = _unreferenced_count()


class OutputBuffers:
    def __init__(self):
        self._kept: Dict[Tuple[str, Tuple[int, ...]], List[np.ndarray]] = {}
        self._lock = threading.Lock()

    def take(self, role: str, shape: Tuple[int, ...]) -> Tuple[np.ndarray, bool]:
        """A float64 array of `shape` for `role` (arrays are reused for the same role
        only), and whether it is reused. A new one is all zeros, its pages already mapped
        (so that the kernel, or two kernels running on two threads, take no page
        faults); a reused one holds the values of its last use, and whatever its last
        holder wrote there."""
        shape = tuple(int(d) for d in shape)
        size = 8 * math.prod(shape)
        if size == 0 or size > MAX_BYTES or _UNREFERENCED is None:
            return _touched_zeros(shape), False
        key = (role, shape)
        with self._lock:
            kept = self._kept.pop(key, [])
            self._kept[key] = kept  # most recently used last
            for array in kept:  # (read as _first_count reads it)
                if sys.getrefcount(array) == _UNREFERENCED:
                    return array, True
            array = _touched_zeros(shape)
            if len(kept) < KEEP_PER_SHAPE:
                kept.append(array)
            while len(self._kept) > KEEP_SHAPES:
                del self._kept[next(iter(self._kept))]
            return array, False


def _touched_zeros(shape) -> np.ndarray:
    """Zeros whose pages are already mapped (np.zeros maps them lazily)."""
    array = np.empty(shape, dtype=np.float64)
    array.fill(0.0)
    return array
