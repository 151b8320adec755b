"""Pattern matching: multi-rule definitions and `case {}`.

A rule's parameters are patterns. As in Faust, every identifier in a pattern is a
variable, except in function position (`f(g(x))`: `g` is looked up, `x` is a variable);
everything else in a pattern is evaluated in the scope of the definition, and the parts
that denote numbers are reduced to numbers. Matching is structural over the five
composition operators (and groups); numbers match the number an argument denotes; any
other box matches a structurally equal box; a variable occurring twice must match equal
values. Rules are tried in order, the first that matches wins.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple

from .. import boxes as B
from ..errors import Span
from ..parse import ast
from .values import LazyComposition, PatternVar


@dataclass(frozen=True)
class PatternVariable:
    """A variable in a pattern (the syntax tree a pattern becomes before evaluation)."""

    name: str
    span: Span = field(default=ast.NOWHERE, compare=False, repr=False)


def prepare_pattern(expr):
    """The pattern `expr` with its variables marked (Faust's preparePattern)."""
    t = type(expr)
    if t is ast.Ident:
        if expr.name in B.PRIMITIVE_ARITIES or expr.name == "^":
            return expr  # a primitive ('+', 'sin', ...) is a keyword in Faust, not a variable
        return PatternVariable(expr.name, expr.span)
    if t is ast.Apply:
        fn = expr.fn if type(expr.fn) is ast.Ident else prepare_pattern(expr.fn)
        return ast.Apply(fn, tuple(prepare_pattern(a) for a in expr.args), expr.span)
    if t is ast.Compose:
        return ast.Compose(expr.op, prepare_pattern(expr.left), prepare_pattern(expr.right),
                           expr.span)
    if t is ast.Infix:
        return ast.Infix(expr.op, prepare_pattern(expr.left), prepare_pattern(expr.right),
                         expr.span)
    if t is ast.Prime:
        return ast.Prime(prepare_pattern(expr.expr), expr.span)
    if t is ast.With:
        return ast.With(prepare_pattern(expr.body), expr.defs, expr.span)
    if t is ast.Iteration:
        return ast.Iteration(expr.kind, expr.var, expr.count, prepare_pattern(expr.body),
                             expr.span)
    if t is ast.InputsOf:
        return ast.InputsOf(prepare_pattern(expr.expr), expr.span)
    if t is ast.OutputsOf:
        return ast.OutputsOf(prepare_pattern(expr.expr), expr.span)
    if t is ast.UIGroup:
        return ast.UIGroup(expr.kind, expr.label, prepare_pattern(expr.body), expr.span)
    return expr


_BOX_OPS = {B.BSeq: "seq", B.BPar: "par", B.BSplit: "split", B.BMerge: "merge", B.BRec: "rec"}
_SYNTAX_OPS = {":": "seq", ",": "par", "<:": "split", ":>": "merge", "~": "rec"}

# Patterns are tuples:
#   ("var", name)            ("num", number box)            ("const", value)
#   ("op", op, p1, p2)       ("group", kind, label, p)


def to_pattern(value, numeric: Callable[[B.Box], Optional[B.Box]]):
    """The pattern an evaluated pattern expression denotes (Faust's patternSimplification:
    the numeric parts become numbers)."""
    if isinstance(value, PatternVar):
        return ("var", value.name)
    if isinstance(value, B.Box):
        num = numeric(value)
        if num is not None:
            return ("num", num)
        op = _BOX_OPS.get(type(value))
        if op is not None:
            return ("op", op, to_pattern(value.a, numeric), to_pattern(value.b, numeric))
        if type(value) is B.BGroup:
            return ("group", value.kind, value.label, to_pattern(value.body, numeric))
        return ("const", value)
    if isinstance(value, LazyComposition):
        return ("op", _SYNTAX_OPS[value.op], to_pattern(value.a, numeric),
                to_pattern(value.b, numeric))
    return ("const", value)


def _parts(value):
    if isinstance(value, B.Box):
        op = _BOX_OPS.get(type(value))
        if op is not None:
            return op, value.a, value.b
        return None
    if isinstance(value, LazyComposition):
        return _SYNTAX_OPS[value.op], value.a, value.b
    return None


class Matcher:
    """Matches patterns against argument values for one evaluation."""

    def __init__(self, numeric: Callable[[B.Box], Optional[B.Box]]):
        self.numeric = numeric
        self._equal: Dict[Tuple[int, int], Tuple[object, object, bool]] = {}

    def match(self, pattern, value, bindings: Dict[str, object]) -> bool:
        kind = pattern[0]
        if kind == "var":
            name = pattern[1]
            if name in bindings:
                return self.equal(bindings[name], value)
            bindings[name] = value
            return True
        if kind == "num":
            if not isinstance(value, B.Box):
                return False
            num = self.numeric(value)
            want = pattern[1]
            return num is not None and type(num) is type(want) and num.value == want.value
        if kind == "op":
            parts = _parts(value)
            if parts is None or parts[0] != pattern[1]:
                return False
            return self.match(pattern[2], parts[1], bindings) and \
                self.match(pattern[3], parts[2], bindings)
        if kind == "group":
            if type(value) is not B.BGroup or value.kind != pattern[1] or \
                    value.label != pattern[2]:
                return False
            return self.match(pattern[3], value.body, bindings)
        return self.equal(pattern[1], value)

    def equal(self, a, b) -> bool:
        """Structural equality of values (boxes by structure, other values by identity)."""
        if a is b:
            return True
        ta = type(a)
        if ta is not type(b):
            return False
        if not isinstance(a, B.Box) and ta is not LazyComposition:
            return False
        key = (id(a), id(b))
        hit = self._equal.get(key)
        if hit is not None and hit[0] is a and hit[1] is b:
            return hit[2]
        result = self._equal_parts(a, b)
        self._equal[key] = (a, b, result)
        return result

    def _equal_parts(self, a, b) -> bool:
        if type(a) is LazyComposition:
            return a.op == b.op and self.equal(a.a, b.a) and self.equal(a.b, b.b)
        t = type(a)
        if t in _BOX_OPS:
            return self.equal(a.a, b.a) and self.equal(a.b, b.b)
        if t is B.BGroup:
            return a.kind == b.kind and a.label == b.label and self.equal(a.body, b.body)
        if t is PatternVar:
            return a.name == b.name
        fields = getattr(a, "__dataclass_fields__", None)
        if fields is None:
            return False  # slots: only equal to themselves
        for name in fields:
            if name == "span":
                continue
            if getattr(a, name) != getattr(b, name):
                return False
        return True
