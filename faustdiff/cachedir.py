"""The per-user folder of faustdiff's caches (kernels, parsed libraries, the grammar):
`$FAUSTDIFF_CACHE_DIR`, else `$XDG_CACHE_HOME/faustdiff`, else `~/.cache/faustdiff`."""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np


def cache_dir() -> Path:
    explicit = os.environ.get("FAUSTDIFF_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "faustdiff"


def writable_subdir(name: str) -> Optional[Path]:
    """`<cache>/<name>`, created if needed; None when it cannot be written (no cache then)."""
    folder = cache_dir() / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file renamed over it: another process
    (compiling the same program at the same time) reads the old file or the new one,
    never part of one. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def builtin_value(value):
    """`value` as a builtin Python value (a numpy scalar would make a cache file
    unreadable by `load_builtins`), keeping ints ints and floats floats."""
    return value.item() if isinstance(value, np.generic) else value


class _BuiltinsOnly(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in a cache file")


def load_builtins(path: Path):
    """The value pickled in `path`, which may hold builtin values only: a file naming any
    class is refused (pickle.UnpicklingError), so a cache file runs no code."""
    with open(path, "rb") as f:
        return _BuiltinsOnly(f).load()
