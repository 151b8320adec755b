"""Faust widget labels: `"freq[unit:Hz][diff:1]"` → name 'freq' and its metadata."""
from __future__ import annotations

import re
from typing import Tuple

_META = re.compile(r"\[([^\[\]:]*)(?::([^\[\]]*))?\]")


def split_label(label: str) -> Tuple[str, Tuple[Tuple[str, str], ...]]:
    """The label without its `[key:value]` parts, and those parts in order.
    `[1]`-style ordering marks become the key '1' with an empty value."""
    metadata = tuple((m.group(1).strip(), (m.group(2) or "").strip()) for m in _META.finditer(label))
    name = _META.sub("", label).strip()
    return name, metadata
