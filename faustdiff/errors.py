"""The user-facing error hierarchy.

Every error a user can provoke with a Faust program or a command-line argument is a
`FaustDiffError`. Each carries the source position it is about (when there is one) and
formats itself as one message with the source line and a caret, so the CLI can print it
and exit with status 2 without a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Span:
    """A position in a source file: 1-based line and column of the first character."""

    file: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class FaustDiffError(Exception):
    """Base of every error faustdiff reports to a user."""

    kind = "error"

    def __init__(self, message: str, span: Optional[Span] = None, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    def format(self, source_text: Optional[str] = None) -> str:
        """One message: `file:line:col: kind: message`, the source line, a caret, a hint."""
        head = f"{self.span}: " if self.span else ""
        lines = [f"{head}{self.kind}: {self.message}"]
        text = source_text
        if text is None and self.span is not None:
            text = _read_quietly(self.span.file)
        if text is not None and self.span is not None and self.span.line >= 1:
            # the parser counts lines at "\n" only (splitlines would also split at form
            # feeds, \x1c-\x1e, \u2028..., and show the wrong line)
            src_lines = text.split("\n")
            if self.span.line <= len(src_lines):
                src = _printable(src_lines[self.span.line - 1].rstrip("\r").expandtabs(1))
                lines.append("    " + src)
                lines.append("    " + " " * max(self.span.column - 1, 0) + "^")
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        head = f"{self.span}: " if self.span else ""
        return f"{head}{self.message}"


def _printable(line: str) -> str:
    """A source line safe to print on a terminal: a control character (in a binary file,
    say) could drive the terminal, so each becomes one '?', which keeps the caret below
    under the right column."""
    return "".join(c if c.isprintable() else "?" for c in line)


def _read_quietly(path: str) -> Optional[str]:
    try:
        # utf-8-sig: the parser drops a byte-order mark, so must the caret's line
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            return f.read()
    except OSError:
        return None


class FaustSyntaxError(FaustDiffError):
    kind = "syntax error"


class FaustNameError(FaustDiffError):
    """An undefined name, or a name used in a way its definition does not allow."""

    kind = "undefined name"


class FaustArityError(FaustDiffError):
    """Block-diagram composition whose input/output counts do not fit."""

    kind = "arity error"


class FaustTypeError(FaustDiffError):
    """A value of the wrong kind: a string, environment or function where a block diagram is
    needed, '.' on something that is not an environment, arguments given to a number."""

    kind = "type error"


class FaustImportError(FaustDiffError):
    kind = "import error"


class FaustEvaluationError(FaustDiffError):
    """Anything else that goes wrong while reducing a program to primitives."""

    kind = "evaluation error"


class FaustResourceError(FaustDiffError):
    """A limit was reached: delay memory, evaluation depth, table size, ..."""

    kind = "resource error"


class FaustRuntimeError(FaustDiffError):
    """Bad arguments to a compiled program or a driver (shapes, parameter names, files)."""

    kind = "runtime error"
