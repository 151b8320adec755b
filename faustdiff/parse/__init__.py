"""Front end: Faust source text to the syntax tree of `faustdiff.parse.ast`."""
from .parser import parse_file, parse_string, read_source

__all__ = ["parse_string", "parse_file", "read_source"]
