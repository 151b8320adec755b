"""Block-diagram algebra → signals.

`propagate(box, sample_rate)` gives one signal per output of the box, given one `input`
signal per input. The five composition operators wire signals; `a ~ b` creates a
`RecGroup` whose bodies are a's outputs, b reading them one sample late through
`recref`. Widgets become `param` signals (their path follows the enclosing groups).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

from .. import boxes as B
from ..errors import FaustArityError, FaustDiffError, FaustEvaluationError, FaustResourceError
from ..limits import max_table_size
from . import control, foreign
from .labels import split_label
from .analysis import collect, interval_of, kind_of
from .nodes import (FLOAT_KIND, INT_KIND, ParamSpec, RecGroup, Sig, TableSpec, const_float,
                    const_int, delay, fconst, first_sample, input_sig, param_sig, rdtable, recref,
                    rwtable)
from .normal_form import normal_form
from .primitives import apply
from .refusals import DelaySites, check_delays, refuse_constant_operands


# a recursion's output delayed by up to this many samples reads its state instead (the
# kernels keep delays this short as scalars)
_SHARED_STATE_DELAYS = 4


@dataclass(frozen=True)
class Propagated:
    outputs: Tuple[Sig, ...]
    num_inputs: int
    params: Tuple[ParamSpec, ...]  # in the order the widgets appear in the program


def propagate(box: B.Box, sample_rate: int = 44100) -> Propagated:
    ins, outs = box.arity()
    walker = _Propagator(sample_rate, _valid_span(box))
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 20000))
    try:
        outputs = walker.run(box, [input_sig(i) for i in range(ins)], ())
        # like Faust, only the delays that reach an output must have a valid amount (checked
        # before enable/control are lowered, which rebuilds the delays they hold)
        check_delays(outputs, walker.delay_sites)
        # enable/control need the whole graph (a signal's condition comes from all its
        # uses): lowered here, every later stage sees plain signals only
        outputs = control.lower_controls(outputs)
        # Faust's normal form of the loop's arithmetic (divisions by slider values as
        # multiplies, common factors pulled out), before the tangents are taken of it
        outputs = normal_form(outputs)
    except RecursionError:  # (run names the deepest box it reached; this is a fallback)
        raise _too_deep(_valid_span(box)) from None
    finally:
        sys.setrecursionlimit(old_limit)
    return Propagated(tuple(outputs), ins, tuple(walker.params))


def _valid_span(box: B.Box):
    """The box's source position, or None for a box the evaluator made up."""
    span = getattr(box, "span", None)
    return span if span is not None and span.line > 0 else None


def _too_deep(span) -> FaustResourceError:
    return FaustResourceError(
        "the block diagram is nested too deeply to compile", span,
        hint="propagation follows each composition (':', ',', '<:', ':>', '~') "
             "recursively, and a chain of many thousands of them is too deep (the Faust "
             "compiler's own evaluation overflows its stack too)")


def _group_name(label: str) -> str:
    return split_label(label)[0]


class _Propagator:
    def __init__(self, sample_rate: int, root_span=None):
        self.sample_rate = sample_rate
        self.params: List[ParamSpec] = []
        self._param_set = set()
        self._memo: Dict[tuple, tuple] = {}
        self.delay_sites: DelaySites = {}
        # id(output) -> (output, its state): recref(g, j) is output j of g one sample late
        self._state_of: Dict[int, Tuple[Sig, Sig]] = {}
        self._span = root_span  # of the innermost box being propagated that has one

    def run(self, box: B.Box, inputs: Sequence[Sig], path: Tuple[str, ...]) -> List[Sig]:
        key = (id(box), tuple(id(s) for s in inputs), path)
        found = self._memo.get(key)
        if found is not None:
            return found[0]
        method = getattr(self, "_" + type(box).__name__)
        outer = self._span
        self._span = _valid_span(box) or outer
        try:
            result = method(box, list(inputs), path)
        except FaustDiffError as e:
            if e.span is None:
                e.span = self._span
            raise
        except RecursionError:
            # raised again by a frame too deep to build the error, it reaches a frame
            # that can: the error names about the deepest box reached
            raise _too_deep(self._span) from None
        finally:
            self._span = outer
        # the key holds ids: the entry keeps the box and the inputs alive with it
        self._memo[key] = (result, box, inputs)
        return result

    # -- wiring
    def _BWire(self, box, inputs, path):
        return inputs

    def _BCut(self, box, inputs, path):
        return []

    def _BInt(self, box, inputs, path):
        return [const_int(box.value)]

    def _BReal(self, box, inputs, path):
        return [const_float(box.value)]

    def _BSeq(self, box, inputs, path):
        box.arity()  # checks the composition
        return self.run(box.b, self.run(box.a, inputs, path), path)

    def _BPar(self, box, inputs, path):
        ai = box.a.arity()[0]
        return self.run(box.a, inputs[:ai], path) + self.run(box.b, inputs[ai:], path)

    def _BSplit(self, box, inputs, path):
        box.arity()
        outs = self.run(box.a, inputs, path)
        bi = box.b.arity()[0]
        return self.run(box.b, [outs[i % len(outs)] for i in range(bi)], path)

    def _BMerge(self, box, inputs, path):
        box.arity()
        outs = self.run(box.a, inputs, path)
        bi = box.b.arity()[0]
        merged = []
        for j in range(bi):
            total = outs[j]
            for k in range(j + bi, len(outs), bi):
                total = apply("+", total, outs[k])
            merged.append(total)
        return self.run(box.b, merged, path)

    def _BRec(self, box, inputs, path):
        box.arity()
        ai, ao = box.a.arity()
        bi, bo = box.b.arity()
        group = RecGroup(ao)
        feedback = self.run(box.b, [recref(group, j) for j in range(bi)], path)
        outs = self.run(box.a, feedback + inputs, path)
        group.bodies = tuple(outs)
        for j, out in enumerate(outs):
            self._state_of.setdefault(id(out), (out, recref(group, j)))
        return outs

    def _delayed(self, x: Sig, amount: Sig) -> Sig:
        """x delayed by `amount`. A recursion's output delayed by a constant int is its
        state delayed one sample less (`w'` is the state itself): one state in the
        kernels instead of two copies of the same past, which would double the work on
        every feedback path that reads both (a biquad's output reads `w'` and `w''`)."""
        state = self._state_of.get(id(x))
        if (state is not None and state[0] is x and amount.is_const and amount.kind == INT_KIND
                and 1 <= amount.value <= _SHARED_STATE_DELAYS):
            return delay(state[1], const_int(amount.value - 1))
        return delay(x, amount)

    # -- primitives
    def _BPrim(self, box, inputs, path):
        name = box.name
        if name == "mem":
            return [self._delayed(inputs[0], const_int(1))]
        if name == "@":
            # the amount stays as given: `@` truncates it when reading, and a float amount
            # keeps a derivative (see diff/tangents.py)
            x, amount = inputs
            delayed = self._delayed(x, amount)
            if delayed.op == "delay" and id(delayed) not in self.delay_sites:
                # checked once the program is complete (refusals.check_delays), here
                self.delay_sites[id(delayed)] = (delayed, self._span)
            return [delayed]
        if name == "prefix":
            init, x = inputs
            return [apply("select2", first_sample(), self._delayed(x, const_int(1)), init)]
        if name == "attach":
            return [inputs[0]]
        if name == "enable":
            return [control.enable(*inputs)]
        if name == "control":
            return [control.control(*inputs)]
        if name in ("lowest", "highest"):
            from .analysis import interval_of

            lo, hi = interval_of(inputs[0])
            return [const_float(lo if name == "lowest" else hi)]
        if name == "rdtable":
            size, init, index = inputs
            return [rdtable(self._table_spec(size, init), apply("int", index))]
        if name == "rwtable":
            size, init, windex, value, rindex = inputs
            return [rwtable(self._table_spec(size, init), apply("int", windex), value,
                            apply("int", rindex))]
        refuse_constant_operands(name, inputs)
        return [apply(name, *inputs)]

    def _table_spec(self, size: Sig, init: Sig) -> TableSpec:
        lo, hi = interval_of(size)  # exact for constants and the sample rate
        if lo != hi or not lo >= 1:
            raise FaustEvaluationError("the size of a table must be a positive compile-time number")
        n = int(lo)
        if n > max_table_size():
            raise FaustResourceError(
                f"a table of {n} values exceeds the limit of {max_table_size()} "
                f"(set FAUSTDIFF_MAX_TABLE to raise it)")
        order, _ = collect([init])
        if any(s.op in ("input", "param") for s in order):
            raise FaustEvaluationError(
                "the contents of a table are computed before the first sample: they cannot "
                "depend on inputs or widgets")
        return TableSpec(n, kind_of(init), init=init)

    # -- user interface
    def _BWidget(self, box, inputs, path):
        name, metadata = split_label(box.label)
        spec = ParamSpec(box.kind, name, "/" + "/".join(path + (name,)), float(box.init),
                         float(box.min), float(box.max), float(box.step), metadata)
        if spec not in self._param_set:
            self._param_set.add(spec)
            self.params.append(spec)
        return [param_sig(spec)]

    def _BBargraph(self, box, inputs, path):
        return inputs

    def _BGroup(self, box, inputs, path):
        name = _group_name(box.label)
        return self.run(box.body, inputs, path + (name,) if name else path)

    # -- foreign objects
    def _BForeignFunction(self, box, inputs, path):
        return [foreign.call(box, inputs)]

    def _BForeignConstant(self, box, inputs, path):
        if box.name == "fSamplingFreq":
            # Known now, but like Faust computed at init time in the program's precision:
            # folding `1617 * ma.SR / 44100` in double here would disagree with float32.
            return [fconst("int", "fSamplingFreq", int(self.sample_rate))]
        raise FaustEvaluationError(
            f"unknown foreign {box.kind} '{box.name}' (faustdiff knows fSamplingFreq)", box.span)

    def _BWaveform(self, box, inputs, path):
        n = len(box.values)
        kind = INT_KIND if box.is_int else FLOAT_KIND
        spec = TableSpec(n, kind, values=tuple(box.values))
        # the second output plays the values cyclically from the first sample on:
        # a counter c = (c' + 1) % n is 1 on the first sample, so the position is c - 1 mod n
        counter = RecGroup(1)
        counter.bodies = (apply("%", apply("+", recref(counter, 0), const_int(1)), const_int(n)),)
        position = apply("%", apply("+", counter.bodies[0], const_int(n - 1)), const_int(n))
        return [const_int(n), rdtable(spec, position)]

    def _BSoundfile(self, box, inputs, path):
        raise FaustEvaluationError("'soundfile' is not supported by this version of faustdiff",
                                   box.span)

    def _BRoute(self, box, inputs, path):
        outs: List[Sig] = [None] * box.outs
        for i, o in box.pairs:
            if not (1 <= i <= box.ins and 1 <= o <= box.outs):
                raise FaustArityError(
                    f"route({box.ins}, {box.outs}, ...) connects input {i} to output {o}, "
                    f"outside 1..{box.ins} / 1..{box.outs}", box.span)
            s = inputs[i - 1]
            outs[o - 1] = s if outs[o - 1] is None else apply("+", outs[o - 1], s)
        return [const_int(0) if s is None else s for s in outs]
