"""The grammar's LALR tables, shipped already analysed.

Lark analyses `faust.lark` (235 rules, 449 states) in about 0.6 s of pure Python. With
only Lark's cache in the user's folder, every first run on a machine paid that 0.6 s
before anything else: a fifth of a cold compile. The package therefore ships the
analysis (`faust-lalr-tables.gz`, made by `scripts/build_grammar_tables.py`): Lark's own
saved form of the parser (`Lark.save`, a pickle: the package's own file, trusted as its
code is), behind a header line naming the grammar, Lark and Python it was made with. It
is used only when all three are the installed ones (Lark's saved form is its own and may
change with any release); otherwise the parser module analyses the grammar as before,
with the user's cache. Either way the parser is the same: `tests/test_grammar_tables.py`
compares the two.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import sys
from importlib import resources
from typing import Optional, Tuple

import lark

SHIPPED_NAME = "faust-lalr-tables.gz"


def header_for(grammar: str) -> dict:
    """What a tables file must say to serve `grammar` with the installed Lark and Python."""
    return {
        "grammar_sha256": hashlib.sha256(grammar.encode("utf-8")).hexdigest(),
        "lark": lark.__version__,
        "python": "%d.%d" % sys.version_info[:2],
    }


def header_line(grammar: str) -> str:
    """`header_for(grammar)` as one line of JSON: the shipped file's first line, and the
    name of the user's own cache of an analysis (parser.py)."""
    return json.dumps(header_for(grammar), sort_keys=True)


def pack(grammar: str, parser: lark.Lark) -> bytes:
    """The shipped file for `parser`, Lark's parser of `grammar`: one JSON header line,
    then `Lark.save`'s bytes without the transformer (each process brings its own)."""
    saved = io.BytesIO()
    parser.save(saved, exclude_options=("transformer",))
    line = header_line(grammar).encode("ascii") + b"\n"
    return gzip.compress(line + saved.getvalue(), compresslevel=9, mtime=0)


def unpack(data: bytes) -> Tuple[dict, bytes]:
    """(header, Lark's saved parser) of a shipped file's bytes."""
    raw = gzip.decompress(data)
    line, _, body = raw.partition(b"\n")
    return json.loads(line), body


def shipped() -> Optional[Tuple[dict, bytes]]:
    """The package's tables, or None when it has none."""
    resource = resources.files("faustdiff.grammar") / SHIPPED_NAME
    try:
        return unpack(resource.read_bytes())
    except (OSError, ValueError, EOFError):
        return None


def load(grammar: str, transformer) -> Optional[lark.Lark]:
    """Lark's parser of `grammar` calling `transformer`, from the shipped tables; None when
    they were made for another grammar, Lark or Python (the caller analyses then)."""
    tables = shipped()
    if tables is None or tables[0] != header_for(grammar):
        return None
    # Lark.load takes no options, but the transformer must come at load time (the
    # parser's callbacks are made from it): Lark's loader is called with it, as Lark's
    # own cache does.
    parser = lark.Lark.__new__(lark.Lark)
    try:
        return parser._load(io.BytesIO(tables[1]), transformer=transformer)
    except Exception:  # noqa: BLE001 - an unreadable copy costs an analysis, nothing else
        return None
