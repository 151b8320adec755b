"""Reading a Faust source file as the real compiler does (any encoding, never blocking
on a device or a pipe). Kept apart from the parser so that reading a file does not load
Lark: a program restored from the program cache is read, never parsed."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Tuple, Union

from ..errors import FaustDiffError, FaustResourceError, FaustSyntaxError, Span


def line_column(text: str, offset: int) -> Tuple[int, int]:
    """1-based (line, column) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def read_source(path: Union[str, Path]) -> str:
    """The text of a Faust source file, read as Faust reads it.

    Faust reads bytes, so a file that is not valid UTF-8 (a Latin-1 character in a
    comment, typically) is still read, as Latin-1: one character per byte keeps the
    columns right, and a stray byte outside a comment becomes a syntax error at its
    position. A binary file (one with a NUL byte) or a file without any code raises a
    FaustSyntaxError that points into the file; an unreadable path a FaustDiffError."""
    name = str(path)
    try:
        data = _read_bytes(name)
    except IsADirectoryError:
        raise FaustDiffError(f"cannot read '{name}': it is a folder, not a Faust file") from None
    except FileNotFoundError:
        raise FaustDiffError(f"cannot read '{name}': no such file") from None
    except OSError as error:
        raise FaustDiffError(f"cannot read '{name}': {error.strerror or error}") from None
    try:
        text = data.decode("utf-8-sig")  # tolerate a byte-order mark
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if "\0" in text:
        line, column = line_column(text, text.index("\0"))
        raise FaustSyntaxError(f"'{name}' is a binary file, not Faust source text",
                               Span(name, line, column, line, column + 1),
                               hint="it has a NUL byte here; a Faust program is plain text")
    if not text.strip():
        raise FaustSyntaxError(f"'{name}' is empty: there is no Faust code in it",
                               Span(name, 1, 1, 1, 1))
    return text


# Far above any real Faust source (all the standard libraries together are ~3 MB).
MAX_SOURCE_BYTES = 64 * 1024 * 1024


def _read_bytes(name: str) -> bytes:
    """The bytes of a regular file of reasonable size. A device or a pipe (/dev/zero, a
    FIFO) would never end or block forever, so only regular files are read at all."""
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(name)
        if not stat.S_ISREG(mode):
            raise FaustDiffError(f"cannot read '{name}': it is not a regular file")
        data = f.read(MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        raise FaustResourceError(
            f"'{name}' is larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MB: not a Faust program")
    return data
