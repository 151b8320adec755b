"""Faust widget labels: `"freq[unit:Hz][diff:1]"` → name 'freq' and its metadata."""
from __future__ import annotations

from typing import List, Tuple

# Faust trims spaces and tabs only (its rmWhiteSpaces), not newlines.
_BLANKS = " \t"


def split_label(label: str) -> Tuple[str, Tuple[Tuple[str, str], ...]]:
    """The label without its `[key:value]` parts, and those parts in order.

    The real compiler's extractMetadata, state for state: a backslash takes the next
    character literally (`a\\b` is 'ab', `g\\[x\\]` is 'g[x]' with no metadata), brackets
    nest inside metadata (`[a[b]:c]` has the key 'a[b]'), the first ':' at the outer
    level ends the key, an unclosed `[` drops the rest, and the name, keys and values
    are trimmed of spaces and tabs. `[1]`-style ordering marks become the key '1' with
    an empty value."""
    name: List[str] = []
    key: List[str] = []
    value: List[str] = []
    metadata = []
    state, depth, escaped = "name", 0, False
    for c in label:
        if escaped:
            {"name": name, "key": key, "value": value}[state].append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif state == "name":
            if c == "[":
                state, depth = "key", 1
            else:
                name.append(c)
        elif c == "[":
            depth += 1
            (key if state == "key" else value).append(c)
        elif c == ":" and state == "key" and depth == 1:
            state = "value"
        elif c == "]":
            depth -= 1
            if depth < 1:
                metadata.append(("".join(key).strip(_BLANKS), "".join(value).strip(_BLANKS)))
                key, value, state = [], [], "name"
            else:
                (key if state == "key" else value).append(c)
        else:
            (key if state == "key" else value).append(c)
    return "".join(name).strip(_BLANKS), tuple(metadata)
