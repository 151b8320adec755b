"""Environments: layers of definitions, each over a parent layer.

A layer holds definition groups (every rule of one name in one scope) that are
evaluated lazily, at most once, in the layer they belong to, so the definitions of a
layer see each other (mutual recursion between functions) and the layers below. A
value binding (a function argument, an iteration variable, a pattern variable) is a
layer of its own; binding the same value to the same name over the same layer gives the
same layer back, so evaluations in it are shared (Faust gets this from hash-consing).

Each layer also memoises the expressions evaluated in it (`memo`, keyed by the identity
of the syntax node, which the syntax tree keeps alive).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

from ..errors import FaustEvaluationError, FaustNameError
from ..parse import ast


class DefGroup:
    """The rules of one name in one scope. `home` is the layer the rules are evaluated in;
    None means the layer that holds the group (the usual case)."""

    __slots__ = ("name", "defs", "home")

    def __init__(self, name: str, defs: Tuple[ast.Definition, ...], home: Optional["Env"] = None):
        self.name = name
        self.defs = defs
        self.home = home

    def same_as(self, other: "DefGroup") -> bool:
        # syntax nodes compare without their spans: the same text in two files is the same
        # definition, which Faust accepts (a library imported twice)
        return self.home is other.home and self.defs == other.defs


class Env:
    __slots__ = ("parent", "entries", "values", "memo", "children", "label")

    def __init__(self, parent: Optional["Env"], entries: Optional[Dict[str, DefGroup]] = None,
                 values: Optional[dict] = None, label: str = ""):
        self.parent = parent
        self.entries: Dict[str, DefGroup] = entries if entries is not None else {}
        self.values: dict = values if values is not None else {}
        self.memo: dict = {}
        self.children: dict = {}
        self.label = label

    def bind(self, name: str, value) -> "Env":
        """This layer with one more layer binding `name` to `value` (shared per value)."""
        key = (name, id(value))
        hit = self.children.get(key)
        if hit is not None and hit[0] is value:
            return hit[1]
        child = Env(self, values={name: value})
        self.children[key] = (value, child)  # keeps `value` alive, so its id stays unique
        return child

    def copy_replacing(self, groups: Dict[str, DefGroup], home: "Env") -> "Env":
        """`env[defs]`: a copy of this layer (same parent) in which the definitions of
        `groups`, evaluated in `home`, replace the ones of the same names; the other
        definitions of the copy see the replacements."""
        entries = {}
        for name, g in self.entries.items():
            entries[name] = g if g.home is not None else DefGroup(g.name, g.defs, None)
        for name, g in groups.items():
            entries[name] = DefGroup(g.name, g.defs, home)
        copy = Env(self.parent, entries, dict(self.values) if not self.entries else {},
                   label=self.label)
        return copy

    def __repr__(self):
        names = list(self.entries)[:5] or list(self.values)[:5]
        return f"<Env {self.label} {names}>"


def group_definitions(defs: Iterable[ast.Definition], precision: str) -> Dict[str, DefGroup]:
    """Group the definitions of one scope by name (rules in source order), keeping those
    whose precision prefix matches `precision` ('single' | 'double'); check the rules of
    each name agree on their number of parameters, as Faust does when it reads a file."""
    wanted = precision + "precision"
    rules: Dict[str, List[ast.Definition]] = {}
    for d in defs:
        if d.precision:
            prefixes = d.precision.replace("|", " ").split()
            if wanted not in prefixes:
                continue
        rules.setdefault(d.name, []).append(d)
    groups = {}
    for name, ds in rules.items():
        if len(ds) > 1:
            first = ds[0]
            npat = len(first.params) if first.params is not None else 0
            for d in ds[1:]:
                n = len(d.params) if d.params is not None else 0
                if npat == 0 or n == 0:
                    raise FaustNameError(
                        f"multiple definitions of symbol '{name}'", d.span,
                        hint=f"'{name}' is already defined at {first.span}")
                if n != npat:
                    raise FaustEvaluationError(
                        f"inconsistent number of parameters in the rules of '{name}': "
                        f"{n} here, {npat} in the previous rule", d.span)
        groups[name] = DefGroup(name, tuple(ds))
    return groups


def add_groups(entries: Dict[str, DefGroup], groups: Dict[str, DefGroup]) -> None:
    """Put `groups` in a layer's entries; a name defined differently twice in one layer
    (e.g. by the program and by a library it imports) is an error, as in Faust."""
    for name, g in groups.items():
        old = entries.get(name)
        if old is not None:
            if old.same_as(g):
                continue
            raise FaustNameError(
                f"redefinition of symbol '{name}'", g.defs[0].span,
                hint=f"'{name}' is also defined at {old.defs[0].span}")
        entries[name] = g
