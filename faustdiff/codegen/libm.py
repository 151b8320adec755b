"""Where the kernels' calls of pow go.

Numba reaches the C math functions through its helper library, which was linked
against an old C library: on glibc it calls the compatibility versions (`pow@GLIBC_2.2.5`,
which wrap the current function in SVID error handling, about 0.6 ns a call).
The kernels call it under a name of their own (`runtime_helpers.fd_pow`; exp and log
are arithmetic of their own, `exp_log.py`), bound here to the process's current
versions (the same results: the wrappers only add errno handling on overflow), or to
Numba's own addresses where the process has no such symbol. This module imports no
Numba beyond its C helper table, so the loader of saved kernels (`native.py`) can bind
the names as cheaply as the other symbols.
"""
from __future__ import annotations

import ctypes
from typing import Dict, Optional

# names in the C library, double and single precision
FUNCTIONS = ("pow", "powf")
PREFIX = "faustdiff_libm_"

_addresses: Optional[Dict[str, int]] = None


def symbol(name: str) -> str:
    """The name a kernel calls the C library's `name` by."""
    return PREFIX + name


def addresses() -> Dict[str, int]:
    """{kernel symbol: address} for every function of FUNCTIONS."""
    global _addresses
    if _addresses is None:
        from numba import _helperlib

        try:
            process = ctypes.CDLL(None)  # what the process links: the default versions
        except OSError:
            process = None
        table = {}
        for name in FUNCTIONS:
            try:
                address = ctypes.cast(getattr(process, name), ctypes.c_void_p).value
            except AttributeError:
                address = None
            table[symbol(name)] = address or _helperlib.c_helpers[name]
        _addresses = table
    return _addresses
