"""Signal graph → plain Faust source (the derivative program of `faustdiff diff -o`).

The program reads like this:

    process = (\\(r0, ..., in0, ...).(body0, ..., out0, ...) with { n1 = ...; ... })
              ~ (_, ..., _) : (!, ..., !, _, ..., _);

Every recursive body read through a `recref`, of whatever group and nesting, becomes one
channel of a single recursion: `r<k>` is that body's previous sample, exactly what a
recref means. Every other node is a definition `n<k>` in the `with` block, so sharing in
the graph stays sharing in the source. Table contents are closed programs of their own,
rendered the same way. Only numbers, generated names and the registry's operators are
written, plus widget and group labels: the user's own text, escaped so that it reads back
as the same label and cannot end its string.
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence

from ..errors import FaustDiffError
from ..signals.analysis import collect
from ..signals.interpret import interpret
from ..signals.nodes import INT_KIND, Sig

_INFIX = {"+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=", "&", "|", "xor", "<<", ">>"}


def _number(s: Sig) -> str:
    v = s.value
    if s.kind == INT_KIND:
        return "(-2147483647-1)" if v == -2147483648 else (f"({v})" if v < 0 else str(v))
    if math.isnan(v) or math.isinf(v):
        raise FaustDiffError(f"the constant {v} cannot be written in Faust source")
    text = repr(float(v))
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}.0e{exponent}"
    return f"({text})" if v < 0 or text.startswith("-") else text


def _label_part(text: str, special: str) -> str:
    """`text` written so that a label reads it back unchanged.

    A Faust string ends at the first '"', whatever precedes it (there is no escape for
    it), so a '"' cannot be written at all. Inside a label, a backslash takes the next
    character literally (signals/labels.py): backslashes and brackets (and in a key, the
    ':' that would end it) get one. `%name` in a label is replaced by a variable's value
    before that, and a backslash after the '%' is what keeps it text."""
    if '"' in text:
        raise FaustDiffError(f"the label {text!r} cannot be written as a Faust string")
    out = []
    after_percent = False
    for c in text:
        if c in special or after_percent:
            out.append("\\")
        out.append(c)
        after_percent = c == "%"
    return "".join(out)


def _label(name: str, metadata=()) -> str:
    """A Faust string holding a widget or group label with its metadata."""
    meta = "".join(f"[{_label_part(k, _KEY)}:{_label_part(v, _VALUE)}]" if v
                   else f"[{_label_part(k, _KEY)}]" for k, v in metadata)
    return '"' + _label_part(name, _VALUE) + meta + '"'


_VALUE = "\\[]"         # characters a backslash must protect in a name or a value
_KEY = _VALUE + ":"     # and in a key


def _widget(spec) -> str:
    label = _label(spec.label, spec.metadata)
    if spec.kind in ("button", "checkbox"):
        box = f"{spec.kind}({label})"
    else:
        box = f"{spec.kind}({label}, {spec.init!r}, {spec.min!r}, {spec.max!r}, {spec.step!r})"
    # groups of the path, outermost first, so the widget keeps its path
    for group in reversed(spec.path.strip("/").split("/")[:-1]):
        box = f"vgroup({_label(group)}, {box})"
    return box


def _ffunction(op: str, arity: int, result_kind: str) -> str:
    name = op.split(":", 1)[1]
    result = "int" if result_kind == INT_KIND else "float"
    args = ", ".join(["float"] * arity)
    return f"ffunction({result} {name}f|{name}|{name}l({args}), <math.h>, \"\")"


class _Writer:
    def __init__(self):
        self.tables = 0

    def program(self, outputs: Sequence[Sig], num_inputs: int) -> str:
        """A closed Faust expression with `num_inputs` inputs and one output per signal."""
        order, _ = collect(outputs)
        bodies: List[Sig] = []
        rec_index: Dict[tuple, int] = {}
        for s in order:
            if s.op == "recref":
                key = (id(s.attr[0]), s.attr[1])
                if key not in rec_index:
                    rec_index[key] = len(bodies)
                    bodies.append(s.attr[0].bodies[s.attr[1]])
        names: Dict[int, str] = {}
        defs: List[str] = []
        for s in order:
            names[id(s)] = self._name(s, names, rec_index, defs)
        k, m = len(bodies), len(outputs)
        results = [names[id(b)] for b in bodies] + [names[id(o)] for o in outputs]
        params = [f"r{i}" for i in range(k)] + [f"in{i}" for i in range(num_inputs)]
        body = ", ".join(results) if results else "0"
        inner = f"({body} with {{\n" + "".join(f"    {d}\n" for d in defs) + "})"
        if not defs:
            inner = f"({body})"
        if params:
            inner = f"\\({', '.join(params)}).{inner}"
        if k == 0:
            return f"({inner})" if params else inner
        wires = ", ".join(["_"] * k)
        keep = ", ".join(["!"] * k + ["_"] * m)
        return f"(({inner}) ~ ({wires}) : ({keep}))"

    def _name(self, s: Sig, names, rec_index, defs) -> str:
        op = s.op
        if op == "const":
            return _number(s)
        if op == "input":
            return f"in{s.attr}"
        if op == "recref":
            return f"r{rec_index[(id(s.attr[0]), s.attr[1])]}"
        a = [names[id(x)] for x in s.args]
        if op == "param":
            expr = _widget(s.attr)
        elif op == "fconst":
            expr = f"fconstant({'int' if s.attr[0] == INT_KIND else 'float'} {s.attr[1]}, <math.h>)"
        elif op == "first":
            expr = "(1 - (1 : mem))"
        elif op == "delay":
            expr = f"({a[0]} @ {a[1]})"
        elif op == "rdtable":
            expr = f"rdtable({s.attr.size}, {self._contents(s.attr)}, {a[0]})"
        elif op == "rwtable":
            expr = f"rwtable({s.attr.size}, {self._contents(s.attr)}, {a[0]}, {a[1]}, {a[2]})"
        elif op in _INFIX:
            expr = f"({a[0]} {op} {a[1]})"
        elif op.startswith("ffunction:"):
            expr = f"{_ffunction(op, len(a), 'float' if op not in _INT_FOREIGN else INT_KIND)}({', '.join(a)})"
        else:
            expr = f"{op}({', '.join(a)})"
        name = f"n{len(defs)}"
        defs.append(f"{name} = {expr};")
        return name

    def _contents(self, spec) -> str:
        if spec.values is not None:
            return _waveform(spec.values, spec.kind)
        init_order, _ = collect([spec.init])
        if any(s.op in ("rdtable", "rwtable") for s in init_order):
            # libfaust 2.85 fills a table whose init signal reads another table with
            # zeros (`rdtable(4, rdtable(4, waveform{...}, i), j)`, as the playback of a
            # waveform read by rdtable is): the contents are computed here instead, and
            # written as the constants of a waveform
            return _waveform(interpret([spec.init], spec.size)[0], spec.kind)
        return self.program([spec.init], 0)


def _waveform(values, kind: str) -> str:
    """The second output of a waveform, which plays `values` from the first sample on:
    as a table's init signal, the table holds them."""
    if kind == INT_KIND:
        text = ", ".join(str(int(v)) for v in values)
    else:
        if not all(math.isfinite(v) for v in values):
            raise FaustDiffError("a table holding NaN or inf cannot be written in Faust source")
        text = ", ".join(repr(float(v)) for v in values)
    return f"(waveform {{{text}}} : !, _)"


_INT_FOREIGN = {"ffunction:isnan", "ffunction:isinf"}


def faust_program(outputs: Sequence[Sig], num_inputs: int, header: str = "") -> str:
    """A Faust program whose `process` computes `outputs` from `num_inputs` inputs."""
    expr = _Writer().program(outputs, num_inputs)
    return f"{header}process = {expr};\n"
