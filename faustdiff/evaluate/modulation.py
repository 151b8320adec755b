"""Widget modulation: `["freq": circuit -> body]` (recent Faust versions).

Every widget of `body` whose label path contains the target's path (in order, not
necessarily contiguously) is rewritten according to the modulation circuit's inputs:
0 inputs: the circuit replaces the widget; 1: `widget : circuit`; 2: `widget, m : circuit`
where `m` is a new first input of the whole expression. Without a circuit, the circuit is
`*` (two inputs). Group labels at the top of the target path are consumed by the groups
that carry them. This follows Faust's BoxModulationImplanter.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from .. import boxes as B
from ..signals.labels import split_label


def target_path(target: str) -> Tuple[str, ...]:
    """The target `"g1/g2/name"` as a bottom-up path ('name', 'g2', 'g1')."""
    return tuple(reversed([s for s in target.split("/") if s]))


def _label_path(label: str) -> List[object]:
    """Faust's label2path: a top-down path, with markers for '/', '..'."""
    if label == "":
        return [""]
    if label.startswith("/"):
        return ["/"] + _label_path(label[1:])
    if label.startswith("./"):
        return _label_path(label[2:])
    if label.startswith("../"):
        return [".."] + _label_path(label[3:])
    if len(label) > 1 and label[1] == ":":
        name, _, rest = label[2:].partition("/")
        return [name] + _label_path(rest)
    return [label]


def widget_path(label: str) -> Tuple[str, ...]:
    """A widget label as a bottom-up path of plain names (metadata removed)."""
    path: List[str] = []  # bottom-up
    for part in _label_path(label):
        if part == "/":
            path = []
        elif part == "..":
            if path:
                path.pop(0)
        else:
            path.insert(0, part)
    return tuple(split_label(p)[0] for p in path)


def _matches(target: Tuple[str, ...], path: Tuple[str, ...]) -> bool:
    it = iter(path)
    return all(any(s == p for p in it) for s in target)


class Implanter:
    def __init__(self, target: Tuple[str, ...], circuit: B.Box, inputs: int,
                 slot: Optional[B.Box]):
        self.target = target
        self.circuit = circuit
        self.inputs = inputs
        self.slot = slot
        self.changed = False

    def widget(self, box: B.Box) -> B.Box:
        if not _matches(self.target, widget_path(box.label)):
            return box
        self.changed = True
        if self.inputs == 0:
            return self.circuit
        if self.inputs == 1:
            return B.BSeq(box, self.circuit, box.span)
        return B.BSeq(B.BPar(box, self.slot, box.span), self.circuit, box.span)

    def rewrite(self, box: B.Box) -> B.Box:
        t = type(box)
        if t is B.BWidget or t is B.BBargraph:
            return self.widget(box)
        if t is B.BGroup:
            name = split_label(box.label)[0]
            if self.target and self.target[-1] == name:
                inner = Implanter(self.target[:-1], self.circuit, self.inputs, self.slot)
                body = inner.rewrite(box.body)
                self.changed |= inner.changed
            else:
                body = self.rewrite(box.body)
            return box if body is box.body else B.BGroup(box.kind, box.label, body, box.span)
        if t in (B.BSeq, B.BPar, B.BSplit, B.BMerge, B.BRec):
            a, b = self.rewrite(box.a), self.rewrite(box.b)
            if a is box.a and b is box.b:
                return box
            return t(a, b, box.span)
        return box
