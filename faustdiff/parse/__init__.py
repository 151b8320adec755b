"""Front end: Faust source text to the syntax tree of `faustdiff.parse.ast`.

`parse_string` and `parse_file` load the parser (and Lark) on first use: reading a file
(`read_source`) or the syntax tree's classes (`ast`) do not need it."""
from .source import read_source

__all__ = ["parse_string", "parse_file", "read_source"]


def __getattr__(name):
    if name in ("parse_string", "parse_file"):
        from . import parser
        return getattr(parser, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
