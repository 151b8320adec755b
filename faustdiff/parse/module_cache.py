"""Parsed Faust files, cached on disk between processes.

Parsing the standard libraries a program imports takes a few tenths of a second, most of
the time of a warm compile. A parsed module is pickled to `<cache>/parsed/<hash>.pickle`,
keyed by the file's content, its path (spans name it) and the versions of faustdiff and
Python. The pickle is faustdiff's own output in the user's own cache folder; a file that
cannot be read back is ignored and rewritten.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import sys

from .. import __version__
from ..cachedir import writable_subdir, write_atomic
from . import ast
from .parser import parse_string


def parse_bytes_cached(data: bytes, path: str) -> ast.Module:
    folder = writable_subdir("parsed")
    key = hashlib.sha256(b"\0".join([data, os.fsencode(path), __version__.encode(),
                                     repr(sys.version_info[:2]).encode()])).hexdigest()[:32]
    target = folder / f"{key}.pickle" if folder is not None else None
    if target is not None and target.exists():
        try:
            with open(target, "rb") as f:
                module = pickle.load(f)
            if isinstance(module, ast.Module):
                return module
        except Exception:  # a truncated or stale file: parse again and replace it
            pass
    module = parse_string(data.decode("utf-8", errors="replace"), path)
    if target is not None:
        try:
            write_atomic(target, pickle.dumps(module, protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, pickle.PicklingError, RecursionError):
            pass
    return module
