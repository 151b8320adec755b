"""The values a Faust expression evaluates to.

A value is either an evaluated box (`faustdiff.boxes.Box`) or one of the non-box values
below: functions (closures over `\\(x).(e)` or `f(x) = e`, pattern-matching rule sets),
environments (`environment {}`, `library()`), suspended `component()`s, strings, and
compositions of those (`(f, g)` where `f` is a function stays a function pair until it is
used as a block diagram). Two private leaf boxes exist only while evaluating: a `Slot`
stands for the argument of a function being turned into a block diagram, a `PatternVar`
for a variable inside a pattern. Neither ever reaches the evaluated program.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Tuple

from .. import boxes as B
from ..errors import Span
from ..parse import ast

if TYPE_CHECKING:  # pragma: no cover
    from .env import Env


class Slot(B.Box):
    """The argument of a function turned into a block diagram (Faust's boxSlot): a 0->1
    leaf that `lifting.abstract_slot` replaces with a real input."""

    def arity(self):
        return (0, 1)

    def __repr__(self):
        return f"Slot#{id(self) & 0xffff:x}"


class PatternVar(B.Box):
    """A variable of a pattern (`x` in `f((x, y)) = ...`) while the pattern is evaluated."""

    def __init__(self, name: str):
        self.name = name

    def arity(self):
        # Faust counts a box it cannot type as one output when it has to
        return (0, 1)

    def __repr__(self):
        return f"?{self.name}"


@dataclass(eq=False)
class Closure:
    """A function of `params` (curried one at a time): `\\(x,y).(body)` or `f(x,y) = body`
    with plain, distinct parameter names, closed over `env`."""

    params: Tuple[str, ...]
    body: "ast.Expr"
    env: "Env"
    name: str = ""


@dataclass(eq=False)
class RuleSet:
    """The rules of a multi-rule definition or a `case {}`, with their patterns evaluated
    in `env` (compiled on first use)."""

    rules: Tuple[Tuple[Tuple["ast.Expr", ...], "ast.Expr"], ...]  # (patterns, body)
    env: "Env"
    name: str
    span: Span
    compiled: Optional[tuple] = None  # ((pattern, ...), body) once compiled

    @property
    def arity(self) -> int:
        return len(self.rules[0][0])


@dataclass(eq=False)
class PartialMatch:
    """A rule set applied to its first few arguments (fewer than its pattern count)."""

    ruleset: RuleSet
    args: Tuple[object, ...] = ()


@dataclass(eq=False)
class EnvValue:
    """An environment: `environment {...}`, `library("x.lib")`, or a redefinition of one."""

    env: "Env"
    name: str = "environment"


@dataclass(eq=False)
class Component:
    """`component("x.dsp")`: the `process` of a file, evaluated when first used."""

    env: "Env"
    name: str
    span: Span
    value: object = None


@dataclass(eq=False)
class StringValue:
    value: str
    span: Span


@dataclass(eq=False)
class LazyComposition:
    """A block-diagram composition with a function among its operands, kept as is so it
    can still be matched by a pattern or taken apart; it becomes a box when used as one."""

    op: str
    a: object
    b: object
    span: Span
    box: Optional[B.Box] = None


FUNCTION_TYPES = (Closure, RuleSet, PartialMatch)


def counted(n: int, noun: str) -> str:
    """'1 input', '2 inputs': a count for an error message."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def describe(value) -> str:
    """A few words naming what kind of value this is, for error messages."""
    if isinstance(value, B.Box):
        ins, outs = value.arity()
        return f"a block diagram with {counted(ins, 'input')} and {counted(outs, 'output')}"
    if isinstance(value, Closure):
        return f"the function '{value.name}'" if value.name else "a function"
    if isinstance(value, (RuleSet, PartialMatch)):
        rs = value if isinstance(value, RuleSet) else value.ruleset
        return f"the function '{rs.name}'" if rs.name else "a case function"
    if isinstance(value, EnvValue):
        return f"the environment '{value.name}'" if value.name else "an environment"
    if isinstance(value, Component):
        return f"the component '{value.name}'"
    if isinstance(value, StringValue):
        return f"the string {value.value!r}"
    if isinstance(value, LazyComposition):
        return "a composition of functions"
    return type(value).__name__
