"""The per-user folder of faustdiff's caches (kernels, parsed libraries, the grammar):
`$FAUSTDIFF_CACHE_DIR`, else `$XDG_CACHE_HOME/faustdiff`, else `~/.cache/faustdiff`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


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
