"""On-disk cache of generated kernels.

A kernel's source is written once to `<cache>/kernels/k_<hash>.py`, where the hash
covers the source text and the versions that shape its machine code; Numba's own
`cache=True` then keeps the compiled machine code beside it, so a program compiled
before loads without running LLVM again. The cache folder is `$FAUSTDIFF_CACHE_DIR`,
else `$XDG_CACHE_HOME/faustdiff`, else `~/.cache/faustdiff`.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numba

from .. import __version__
from ..cachedir import cache_dir


def source_hash(source: str) -> str:
    h = hashlib.sha256()
    for part in (source, numba.__version__, __version__, sys.version):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def load_kernel(source: str):
    """The `compute` function of a kernel source, from the cache when present."""
    digest = source_hash(source)
    module_name = f"faustdiff_kernel_{digest}"
    module = sys.modules.get(module_name)
    if module is None:
        folder = cache_dir() / "kernels"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"k_{digest}.py"
        if not path.exists() or path.read_text() != source:
            # write atomically: concurrent processes may compile the same program
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[module_name] = module
    return module.compute
