#!/usr/bin/env python3
"""Rebuild grammar/faust-lalr-tables.gz after a change to grammar/faust.lark, or to make
the tables for another Lark or Python version: python scripts/build_grammar_tables.py

The tables let a first run skip Lark's 0.6 s analysis of the grammar (see
faustdiff/parse/grammar_tables.py); tests/test_grammar_tables.py says when they are stale.
Lark numbers the parser's states in an order that differs from run to run, so two builds
of the same grammar differ in their bytes, not in the parser they give.
"""

import sys
from pathlib import Path

from faustdiff.parse import grammar_tables
from faustdiff.parse.parser import _Parser, grammar_text

TARGET = Path(__file__).resolve().parent.parent / "grammar" / grammar_tables.SHIPPED_NAME


def main() -> int:
    data = grammar_tables.pack(grammar_text(), _Parser(from_tables=False).lark)
    TARGET.write_bytes(data)
    header, _ = grammar_tables.unpack(data)
    print(f"wrote {TARGET.name} ({len(data)} bytes) for Lark {header['lark']}, "
          f"Python {header['python']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
