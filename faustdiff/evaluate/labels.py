"""`%i` substitution in widget and group labels.

In a label, `%name` or `%{name}` is replaced by the integer value of `name` in the
current scope (typically a `par` iteration variable), and digits between `%` and the name
give a minimum width, space padded, capped at 4 (`%2i` with i = 3 gives ` 3`). A `%` not
followed by a name is kept as is. This follows the state machine of Faust's evalLabel.
"""
from __future__ import annotations

from typing import Callable


def _is_ident_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "_")


def substitute(label: str, value_of: Callable[[str], int]) -> str:
    """`label` with its `%name` references replaced using `value_of(name)`."""
    if "%" not in label:
        return label
    out = []
    i, n = 0, len(label)
    while i < n:
        c = label[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        i += 1
        digits = ""
        while i < n and label[i].isascii() and label[i].isdigit():
            digits += label[i]
            i += 1
        if i >= n:
            out.append("%" + digits)
            break
        if label[i] == "{":
            j = i + 1
            while j < n and _is_ident_char(label[j]):
                j += 1
            if j < n and label[j] == "}":
                out.append(_format(value_of(label[i + 1:j]), digits))
                i = j + 1
                continue
            # no closing brace: the rest of the label is dropped, as Faust does
            out.append("%" + digits)
            break
        if _is_ident_char(label[i]):
            j = i
            while j < n and _is_ident_char(label[j]):
                j += 1
            out.append(_format(value_of(label[i:j]), digits))
            i = j
            continue
        out.append("%" + digits)  # punctuation after '%': keep it and go on
    return "".join(out)


def _format(value: int, digits: str) -> str:
    width = min(4, max(int(digits) if digits else 0, 0))
    return f"{value:{width}d}" if width else str(value)
