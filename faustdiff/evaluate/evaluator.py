"""The evaluator: syntax tree -> values, following Faust's eval.cpp.

Evaluation is strict in arguments and lazy in definitions: a definition is evaluated the
first time its name is looked up, once per scope, and every expression is evaluated at
most once per environment layer (`Env.memo`). Applying a function binds its arguments
(reduced to numbers when they denote one); applying a block diagram is partial
application (`f(a)` = `_, ..., a : f` or `a, _, ... : f`, as Faust does).
"""
from __future__ import annotations

import difflib
import math
import os
from typing import Dict, List, Optional, Sequence

from .. import boxes as B
from ..errors import (FaustArityError, FaustEvaluationError, FaustNameError, FaustResourceError,
                      FaustTypeError, Span)
from ..limits import limit
from ..parse import ast
from . import imports, labels, modulation
from .env import DefGroup, Env, add_groups, group_definitions
from .lifting import abstract_slots, bus
from .numbers import FOLDABLE_PRIMS, Numbers
from .patterns import Matcher, PatternVariable, prepare_pattern, to_pattern
from .values import (FUNCTION_TYPES, Closure, Component, EnvValue, LazyComposition, PartialMatch,
                     PatternVar, RuleSet, Slot, StringValue, describe)

MAX_DEPTH = 20000  # nested evaluations before "evaluation too deep"

_IN_PROGRESS = object()

_COMPOSITIONS = {":": B.BSeq, ",": B.BPar, "<:": B.BSplit, ":>": B.BMerge, "~": B.BRec}

# Binary primitives whose one-argument application fills the *second* input
# (`/(3)` = `_, 3 : /`): Faust's prim2 boxes except prefix, and pow.
_SECOND_OPERAND_PRIMS = frozenset(
    ("+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!=", "&", "|", "xor", "<<", ">>",
     "@", "attach", "enable", "control", "pow"))

# The names of the builtin primitives (the base environment below every scope); `^` is
# the primitive pow.
PRIMITIVE_NAMES = {**{name: name for name in B.PRIMITIVE_ARITIES}, "^": "pow"}

_SLIDERS = ("hslider", "vslider", "nentry")
_BARGRAPHS = ("hbargraph", "vbargraph")
_BUTTONS = ("button", "checkbox")


class Evaluator:
    def __init__(self, import_dirs: Sequence[str] = (), precision: str = "double"):
        self.import_dirs = tuple(import_dirs)
        self.precision = precision
        self.numbers = Numbers()
        self.matcher = Matcher(self.numbers.try_constant)
        self.depth = 0
        self.check_arity = True
        self.steps = 0
        # (the limits on the size of an evaluation refuse a huge program before it
        # exhausts the memory: see faustdiff/limits.py)
        self.max_steps = limit("FAUSTDIFF_MAX_EVALUATION_STEPS")
        self.copies = 0
        self.max_copies = limit("FAUSTDIFF_MAX_ITERATIONS")
        self._libraries: Dict[str, Env] = {}
        self._lifted: Dict[int, tuple] = {}
        self._synthesized: Dict[int, tuple] = {}
        self._dispatch = {
            ast.Ident: self._ident,
            ast.Access: self._access,
            ast.Compose: self._compose,
            ast.Infix: self._infix,
            ast.Prime: self._prime,
            ast.Apply: self._apply,
            ast.With: self._with,
            ast.Letrec: self._letrec,
            ast.Lambda: self._lambda,
            ast.Case: self._case,
            ast.Iteration: self._iteration,
            ast.UIWidget: self._widget,
            ast.UIGroup: self._group,
            ast.Soundfile: self._soundfile,
            ast.Waveform: self._waveform,
            ast.Route: self._route,
            ast.FFunction: self._ffunction,
            ast.FConstant: self._fconstant,
            ast.FVariable: self._fvariable,
            ast.EnvironmentExpr: self._environment,
            ast.LibraryExpr: self._library,
            ast.ComponentExpr: self._component,
            ast.Redefine: self._redefine,
            ast.InputsOf: self._inputs,
            ast.OutputsOf: self._outputs,
            ast.Modulation: self._modulation,
            PatternVariable: self._pattern_variable,
        }

    # ------------------------------------------------------------------ core
    def eval(self, expr, env: Env):
        """The value of `expr` in `env` (memoised per layer)."""
        t = type(expr)
        if t is ast.Int or t is ast.Real:
            return self.numbers.number(expr.value)
        if t is ast.Wire:
            return B.BWire(expr.span)
        if t is ast.Cut:
            return B.BCut(expr.span)
        if t is ast.String:
            return StringValue(expr.value, expr.span)
        memo = env.memo
        key = id(expr)
        hit = memo.get(key)
        if hit is not None and hit[0] is expr:
            value = hit[1]
            if value is _IN_PROGRESS:
                raise FaustEvaluationError(
                    "endless evaluation: this expression needs its own value", expr.span,
                    hint="a function that calls itself with the same arguments never ends")
            return value
        handler = self._dispatch.get(t)
        if handler is None:
            raise FaustEvaluationError(f"cannot evaluate {t.__name__}",
                                       getattr(expr, "span", None))
        self.steps += 1
        if self.steps > self.max_steps:
            raise FaustResourceError(
                f"the program is too large to evaluate: more than {self.max_steps} "
                f"evaluation steps", expr.span,
                hint="does a definition call itself several times with different "
                     "arguments? Such a program grows exponentially. The environment "
                     "variable FAUSTDIFF_MAX_EVALUATION_STEPS raises the limit")
        memo[key] = (expr, _IN_PROGRESS)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise FaustEvaluationError(
                    f"evaluation too deep (more than {MAX_DEPTH} nested evaluations)", expr.span,
                    hint="is there a recursive definition that never stops, such as "
                         "f(x) = f(x+1)?")
            value = handler(expr, env)
        except BaseException:
            memo.pop(key, None)
            raise
        finally:
            self.depth -= 1
        memo[key] = (expr, value)
        return value

    def lookup(self, name: str, env: Optional[Env], span: Span, where: str = ""):
        e = env
        while e is not None:
            values = e.values
            if name in values:
                value = values[name]
                if value is _IN_PROGRESS:
                    raise FaustEvaluationError(
                        f"recursive definition of '{name}'", span,
                        hint="a signal that depends on itself needs the recursion operator ~ "
                             "(or letrec)")
                return value
            group = e.entries.get(name)
            if group is not None:
                return self._force(e, group, span)
            e = e.parent
        prim = PRIMITIVE_NAMES.get(name)
        if prim is not None:
            return B.BPrim(prim, span)
        hint = _suggestion(name, env)
        if where:
            raise FaustNameError(f"undefined symbol '{name}' in {where}", span, hint=hint)
        raise FaustNameError(f"undefined symbol '{name}'", span, hint=hint)

    def _force(self, layer: Env, group: DefGroup, span: Span):
        name = group.name
        layer.values[name] = _IN_PROGRESS
        try:
            value = self._define(group, group.home if group.home is not None else layer)
        except BaseException:
            layer.values.pop(name, None)
            raise
        layer.values[name] = value
        return value

    def _define(self, group: DefGroup, home: Env):
        defs = group.defs
        first = defs[0]
        if len(defs) == 1:
            if first.params is None:
                return self.eval(first.body, home)
            names = [p.name for p in first.params if type(p) is ast.Ident
                     and p.name not in PRIMITIVE_NAMES]
            if len(names) == len(first.params) and len(set(names)) == len(names):
                return Closure(tuple(names), first.body, home, group.name)
        return RuleSet(tuple((d.params, d.body) for d in defs), home, group.name, first.span)

    # ------------------------------------------------------------------ values as boxes
    def as_box(self, value, span: Span) -> B.Box:
        """`value` used as a block diagram (Faust's a2sb)."""
        if isinstance(value, B.Box):
            return value
        t = type(value)
        if t in FUNCTION_TYPES:
            return self._lift(value, span)
        if t is LazyComposition:
            if value.box is None:
                value.box = self._make_composition(
                    value.op, self.as_box(value.a, value.span), self.as_box(value.b, value.span),
                    value.span)
            return value.box
        if t is Component:
            return self.as_box(self._component_value(value), span)
        hint = "access one of its definitions with '.', e.g. lib.name" if t is EnvValue else ""
        raise FaustTypeError(f"{describe(value)} is used as a block diagram", span, hint=hint)

    def _lift(self, value, span: Span) -> B.Box:
        hit = self._lifted.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        # apply the function to slots while its result is still a function, then turn the
        # result into a box whose first inputs are the slots (Faust's a2sb)
        slots: List[Slot] = []
        result = value
        while type(result) in FUNCTION_TYPES:
            n = _parameter_count(result)
            new = [Slot() for _ in range(n)]
            slots.extend(new)
            result = self.apply(result, new, span)
        box = abstract_slots(slots, self.as_box(result, span), span)
        self._lifted[id(value)] = (value, box)
        return box

    def _component_value(self, comp: Component):
        if comp.value is None:
            comp.value = self.lookup("process", comp.env, comp.span,
                                     where=f"the component '{comp.name}'")
        return comp.value

    # ------------------------------------------------------------------ compositions
    def compose(self, op: str, a, b, span: Span, fold: bool = True):
        if not isinstance(a, B.Box) or not isinstance(b, B.Box):
            return LazyComposition(op, a, b, span)
        box = self._make_composition(op, a, b, span)
        if fold and op == ":" and _is_numeric_tuple(a) and \
                (type(b) is B.BWire or (type(b) is B.BPrim and b.arity()[0] <= 2)):
            # `2, 3 : +` is the number 5, as in Faust
            number = self.numbers.try_constant(box)
            if number is not None:
                return number
        return box

    def _make_composition(self, op: str, a: B.Box, b: B.Box, span: Span) -> B.Box:
        box = _COMPOSITIONS[op](a, b, span)
        if self.check_arity:
            box.arity()
        return box

    def _compose(self, expr: ast.Compose, env: Env):
        return self.compose(expr.op, self.eval(expr.left, env), self.eval(expr.right, env),
                            expr.span)

    def _infix(self, expr: ast.Infix, env: Env):
        a = self.eval(expr.left, env)
        b = self.eval(expr.right, env)
        op = "pow" if expr.op in ("^", "**") else expr.op
        if op not in B.PRIMITIVE_ARITIES:
            raise FaustEvaluationError(f"unknown operator '{expr.op}'", expr.span)
        ta, tb = type(a), type(b)
        if (ta is B.BInt or ta is B.BReal) and (tb is B.BInt or tb is B.BReal) and \
                op in FOLDABLE_PRIMS:
            # the common case of compile-time arithmetic, without building boxes
            number = self.numbers.fold(op, (a, b))
            if number is not None:
                return number
        return self.compose(":", self.compose(",", a, b, expr.span), B.BPrim(op, expr.span),
                            expr.span)

    def _prime(self, expr: ast.Prime, env: Env):
        return self.compose(":", self.eval(expr.expr, env), B.BPrim("mem", expr.span), expr.span)

    # ------------------------------------------------------------------ names and scopes
    def _ident(self, expr: ast.Ident, env: Env):
        return self.lookup(expr.name, env, expr.span)

    def _pattern_variable(self, expr: PatternVariable, env: Env):
        return PatternVar(expr.name)

    def _access(self, expr: ast.Access, env: Env):
        value = self.eval(expr.env, env)
        if type(value) in (EnvValue, Component, Closure):
            return self.lookup(expr.name, value.env, expr.span, where=describe(value))
        raise FaustTypeError(
            f"'.{expr.name}' needs an environment on its left, but {describe(value)} has none",
            expr.span)

    def _with(self, expr: ast.With, env: Env):
        layer = Env(env, label="with")
        add_groups(layer.entries, group_definitions(expr.defs, self.precision))
        return self.eval(expr.body, layer)

    def _letrec(self, expr: ast.Letrec, env: Env):
        return self.eval(self._synthesize(expr, _letrec_as_with), env)

    def _synthesize(self, node, make):
        hit = self._synthesized.get(id(node))
        if hit is None or hit[0] is not node:
            hit = (node, make(node))
            self._synthesized[id(node)] = hit
        return hit[1]

    def _environment(self, expr: ast.EnvironmentExpr, env: Env):
        layer = Env(env, label="environment")
        self._add_statements(layer.entries, expr.defs, expr.span.file, set())
        return EnvValue(layer, "")      # described as "an environment"

    def _library(self, expr: ast.LibraryExpr, env: Env):
        return EnvValue(self.library_env(expr.path, expr.span), expr.path)

    def _component(self, expr: ast.ComponentExpr, env: Env):
        return Component(self.library_env(expr.path, expr.span), expr.path, expr.span)

    def _redefine(self, expr: ast.Redefine, env: Env):
        value = self.eval(expr.expr, env)
        groups = group_definitions(expr.defs, self.precision)
        t = type(value)
        if t is EnvValue:
            return EnvValue(value.env.copy_replacing(groups, env), value.name)
        if t is Component:
            comp = Component(value.env.copy_replacing(groups, env), value.name, expr.span)
            return self._component_value(comp)
        if t is Closure:
            return Closure(value.params, value.body, value.env.copy_replacing(groups, env),
                           value.name)
        raise FaustTypeError(
            f"[...] redefines definitions of an environment, but {describe(value)} is not one",
            expr.span)

    # ------------------------------------------------------------------ imports
    def library_env(self, name: str, span: Span) -> Env:
        path = imports.resolve(name, span.file, self.import_dirs, span)
        layer = self._libraries.get(path)
        if layer is None:
            module = imports.load_module(path, span)
            layer = Env(None, label=name)
            self._add_statements(layer.entries, module.statements, path, {path})
            self._libraries[path] = layer
        return layer

    def _add_statements(self, entries: Dict[str, DefGroup], statements, file: str,
                        visited: set) -> None:
        """Put a file's definitions in a layer, its imports first (Faust splices imported
        files into the importing one; each file once)."""
        own: List[ast.Definition] = []
        for st in statements:
            t = type(st)
            if t is ast.Definition:
                own.append(st)
            elif t is ast.Import:
                importing = st.span.file if st.span.file not in ("", "<unknown>") else file
                path = imports.resolve(st.path, importing, self.import_dirs, st.span)
                if path in visited:
                    continue
                visited.add(path)
                module = imports.load_module(path, st.span)
                self._add_statements(entries, module.statements, path, visited)
        add_groups(entries, group_definitions(own, self.precision))

    def top_layer(self, module: ast.Module) -> Env:
        layer = Env(None, label=module.file)
        visited = set()
        if module.file and module.file not in ("<string>", "<unknown>"):
            visited.add(os.path.abspath(module.file))
        self._add_statements(layer.entries, module.statements, module.file, visited)
        return layer

    # ------------------------------------------------------------------ functions
    def _lambda(self, expr: ast.Lambda, env: Env):
        return Closure(tuple(expr.params), expr.body, env, "")

    def _case(self, expr: ast.Case, env: Env):
        rules = tuple((r.patterns, r.body) for r in expr.rules)
        if not rules:
            raise FaustEvaluationError("a case expression can't be empty", expr.span)
        n = len(rules[0][0])
        for r in expr.rules[1:]:
            if len(r.patterns) != n:
                raise FaustEvaluationError(
                    f"inconsistent number of parameters in the rules of a case: "
                    f"{len(r.patterns)} here, {n} in the first rule", r.span)
        return RuleSet(rules, env, "case", expr.span)

    def _apply(self, expr: ast.Apply, env: Env):
        fn = self.eval(expr.fn, env)
        args = [self.eval(a, env) for a in expr.args]
        return self.apply(fn, args, expr.span)

    def argument(self, value):
        """A function argument: a box that denotes a number is that number (isBoxNumeric)."""
        if isinstance(value, B.Box):
            number = self.numbers.try_constant(value)
            if number is not None:
                return number
        return value

    def apply(self, fn, args: Sequence, span: Span):
        """`fn(args...)` for any value `fn`."""
        i, n = 0, len(args)
        while i < n:
            t = type(fn)
            if t is Closure:
                env = fn.env
                k = min(len(fn.params), n - i)
                for p in fn.params[:k]:
                    env = env.bind(p, self.argument(args[i]))
                    i += 1
                if k < len(fn.params):
                    return Closure(fn.params[k:], fn.body, env, fn.name)
                fn = self.eval(fn.body, env)
            elif t is RuleSet or t is PartialMatch:
                ruleset, got = (fn, ()) if t is RuleSet else (fn.ruleset, fn.args)
                need = ruleset.arity - len(got)
                got = got + tuple(args[i:i + need])
                i += min(need, n - i)
                if len(got) < ruleset.arity:
                    return PartialMatch(ruleset, got)
                fn = self._match(ruleset, got, span)
            elif t is Component:
                fn = self._component_value(fn)
            elif isinstance(fn, B.Box) or t is LazyComposition:
                return self._apply_box(self.as_box(fn, span), args[i:], span)
            else:
                raise FaustTypeError(f"{describe(fn)} can't be applied to arguments", span,
                                     hint="only functions and block diagrams can")
        return fn

    def _apply_box(self, fn: B.Box, args: Sequence, span: Span) -> B.Box:
        # f(a1, ..., ak) with f a block diagram: the arguments feed f's inputs
        ins, _ = fn.arity()
        boxes = [self.as_box(a, span) for a in args]
        outs = sum(b.arity()[1] for b in boxes)
        if outs > ins:
            raise FaustArityError(
                f"too many arguments: {outs} argument outputs for a block diagram with {ins} "
                f"inputs", span)
        wires = [B.BWire(span) for _ in range(ins - outs)]
        if outs == 1 and type(fn) is B.BPrim and fn.name in _SECOND_OPERAND_PRIMS:
            parts = wires + boxes  # /(3) is _, 3 : /
        else:
            parts = boxes + wires  # f(a) is a, _ : f
        arg = parts[-1]
        for p in reversed(parts[:-1]):
            arg = self._make_composition(",", p, arg, span)
        return self._make_composition(":", arg, fn, span)

    def _match(self, ruleset: RuleSet, args: tuple, span: Span):
        compiled = self._compile_rules(ruleset)
        for patterns, body in compiled:
            bindings: dict = {}
            if all(self.matcher.match(p, a, bindings) for p, a in zip(patterns, args)):
                env = ruleset.env
                for name, value in bindings.items():
                    env = env.bind(name, value)
                return self.eval(body, env)
        shown = ", ".join(_show(a) for a in args)
        raise FaustEvaluationError(
            f"pattern matching failed: no rule of '{ruleset.name}' matches the arguments "
            f"({shown})", span, hint=f"the rules of '{ruleset.name}' start at {ruleset.span}")

    def _compile_rules(self, ruleset: RuleSet):
        if ruleset.compiled is None:
            saved = self.check_arity
            self.check_arity = False  # patterns like (x:y) need not have consistent arities
            try:
                compiled = []
                for patterns, body in ruleset.rules:
                    compiled.append((tuple(
                        to_pattern(self.eval(self._synthesize(p, prepare_pattern), ruleset.env),
                                   self.numbers.try_constant)
                        for p in patterns), body))
            finally:
                self.check_arity = saved
            ruleset.compiled = tuple(compiled)
        return ruleset.compiled

    # ------------------------------------------------------------------ compile-time numbers
    def number_of(self, expr, env: Env, what: str):
        value = self.eval(expr, env)
        return self.numbers.require(self.as_box(value, expr.span), what, expr.span)

    def int_of(self, expr, env: Env, what: str) -> int:
        number = self.number_of(expr, env, what)
        if not math.isfinite(number):  # (int() would raise OverflowError or ValueError)
            raise FaustEvaluationError(f"{what} must be a finite number, not {number}",
                                       expr.span)
        return int(number)

    def label(self, text: str, env: Env, span: Span) -> str:
        def value_of(name):
            box = self.as_box(self.lookup(name, env, span), span)
            return int(self.numbers.require(box, f"'%{name}' in the label \"{text}\"", span))

        return labels.substitute(text, value_of)

    def _iteration(self, expr: ast.Iteration, env: Env):
        kind = expr.kind
        n = self.int_of(expr.count, env, f"the number of iterations of {kind}({expr.var}, n, ...)")
        if n < 0:
            raise FaustEvaluationError(
                f"the number of iterations of {kind}({expr.var}, n, ...) is negative ({n})",
                expr.count.span)
        self._count_copies(expr, n)
        span = expr.span

        def body(i):
            return self.eval(expr.body, env.bind(expr.var, self.numbers.number(i)))

        if n == 0:
            if kind == "seq":
                # the neutral element of ':' shaped like the body
                shape = self.as_box(body(0), span)
                ins, outs = shape.arity()
                if ins != outs:
                    raise FaustArityError(
                        f"seq({expr.var}, n, body) needs a body with as many inputs as outputs, "
                        f"but it is {describe(shape)}", span)
                if outs > 0:
                    return bus(outs, span)
            return B.BRoute(0, 0, (), span)
        if kind == "par" or kind == "seq":
            op = "," if kind == "par" else ":"
            result = body(n - 1)
            for i in range(n - 2, -1, -1):
                result = self.compose(op, body(i), result, span, fold=False)
            return result
        prim = "+" if kind == "sum" else "*"
        result = body(0)
        for i in range(1, n):
            result = self.compose(":", self.compose(",", result, body(i), span, fold=False),
                                  B.BPrim(prim, span), span, fold=False)
        return result

    def _count_copies(self, expr: ast.Iteration, n: int) -> None:
        """Refuse an iteration before it makes its n copies when the program's copies
        would exceed the limit: par(i, 100000000, _) would exhaust the memory first."""
        self.copies += n
        if self.copies <= self.max_copies:
            return
        head = f"{expr.kind}({expr.var}, {n}, ...)"
        if n > self.max_copies:
            message = f"{head} would make {n} copies of its body"
        else:
            message = f"{head} brings the copies made by par, seq, sum and prod to {self.copies}"
        raise FaustResourceError(
            f"{message}, more than the limit of {self.max_copies}", expr.span,
            hint="the environment variable FAUSTDIFF_MAX_ITERATIONS raises the limit")

    def _inputs(self, expr: ast.InputsOf, env: Env):
        return self.numbers.number(self.as_box(self.eval(expr.expr, env), expr.span).arity()[0])

    def _outputs(self, expr: ast.OutputsOf, env: Env):
        return self.numbers.number(self.as_box(self.eval(expr.expr, env), expr.span).arity()[1])

    # ------------------------------------------------------------------ user interface
    def _widget(self, expr: ast.UIWidget, env: Env):
        kind = expr.kind
        label = self.label(expr.label, env, expr.span)
        args = expr.args
        if kind in _BUTTONS:
            _expect(expr, 0)
            return B.BWidget(kind, label, 0.0, 0.0, 1.0, 1.0, expr.span)
        if kind in _SLIDERS:
            _expect(expr, 4)
            names = ("init", "min", "max", "step")
            v = [float(self.number_of(a, env, f"the {nm} of {kind}(\"{label}\", ...)"))
                 for a, nm in zip(args, names)]
            return B.BWidget(kind, label, v[0], v[1], v[2], v[3], expr.span)
        if kind in _BARGRAPHS:
            _expect(expr, 2)
            lo = float(self.number_of(args[0], env, f"the min of {kind}(\"{label}\", ...)"))
            hi = float(self.number_of(args[1], env, f"the max of {kind}(\"{label}\", ...)"))
            return B.BBargraph(kind, label, lo, hi, expr.span)
        raise FaustEvaluationError(f"unknown widget '{kind}'", expr.span)

    def _group(self, expr: ast.UIGroup, env: Env):
        label = self.label(expr.label, env, expr.span)
        body = self.as_box(self.eval(expr.body, env), expr.span)
        return B.BGroup(expr.kind, label, body, expr.span)

    def _soundfile(self, expr: ast.Soundfile, env: Env):
        label = self.label(expr.label, env, expr.span)
        n = self.int_of(expr.channels, env, f"the number of channels of soundfile(\"{label}\")")
        return B.BSoundfile(label, n, expr.span)

    def _modulation(self, expr: ast.Modulation, env: Env):
        # ["a": c1, "b": c2 -> body] modulates b first, then a (Faust's buildBoxModulation)
        value = self.eval(expr.body, env)
        for target, circuit_expr in reversed(expr.targets):
            label = self.label(target, env, expr.span)
            if circuit_expr is None:
                circuit = B.BPrim("*", expr.span)
            else:
                circuit = self.as_box(self.eval(circuit_expr, env), circuit_expr.span)
            ins, outs = circuit.arity()
            if ins > 2 or outs != 1:
                raise FaustArityError(
                    f"a modulation circuit needs at most 2 inputs and exactly 1 output, but "
                    f"the one for '{label}' is {describe(circuit)}",
                    getattr(circuit_expr, "span", expr.span))
            body = self.as_box(value, expr.span)
            slot = Slot() if ins == 2 else None
            implanter = modulation.Implanter(modulation.target_path(label), circuit, ins, slot)
            rewritten = implanter.rewrite(body)
            if slot is not None:
                rewritten = abstract_slots([slot], rewritten, expr.span)
            rewritten.arity()
            value = rewritten
        return value

    # ------------------------------------------------------------------ other primitives
    def _waveform(self, expr: ast.Waveform, env: Env):
        values = tuple(self.number_of(v, env, "a waveform value") for v in expr.values)
        if not values:
            raise FaustEvaluationError("a waveform needs at least one value", expr.span)
        is_int = all(isinstance(v, int) for v in values)
        return B.BWaveform(values if is_int else tuple(float(v) for v in values), is_int,
                           expr.span)

    def _route(self, expr: ast.Route, env: Env):
        ins = self.int_of(expr.ins, env, "the number of inputs of route")
        outs = self.int_of(expr.outs, env, "the number of outputs of route")
        if ins < 0 or outs < 0:
            raise FaustEvaluationError(f"route({ins}, {outs}, ...) needs non-negative sizes",
                                       expr.span)
        pairs = []
        if expr.pairs is not None:
            box = self.as_box(self.eval(expr.pairs, env), expr.pairs.span)
            p_ins, p_outs = box.arity()
            if p_ins != 0 or p_outs < 2 or p_outs % 2:
                raise FaustEvaluationError(
                    "invalid route expression: the third parameter must be a list of "
                    f"input/output pairs, not {describe(box)}", expr.pairs.span)
            numbers = self._constants(box, expr.pairs.span)
            for k in range(0, len(numbers), 2):
                src, dst = int(numbers[k]), int(numbers[k + 1])
                # Faust ignores pairs that do not name an input and an output
                if 1 <= src <= ins and 1 <= dst <= outs:
                    pairs.append((src, dst))
        return B.BRoute(ins, outs, tuple(pairs), expr.span)

    def _constants(self, box: B.Box, span: Span) -> list:
        """The numbers output by a 0-input box (a ',' tree of numbers, typically)."""
        if type(box) is B.BPar:
            return self._constants(box.a, span) + self._constants(box.b, span)
        outs = box.arity()[1]
        what = "a route connection"
        if outs == 1:
            return [self.numbers.require(box, what, span)]
        result = []
        for k in range(outs):
            sel = None
            for j in range(outs - 1, -1, -1):
                leaf = B.BWire(span) if j == k else B.BCut(span)
                sel = leaf if sel is None else B.BPar(leaf, sel, span)
            result.append(self.numbers.require(B.BSeq(box, sel, span), what, span))
        return result

    def _ffunction(self, expr: ast.FFunction, env: Env):
        sig = expr.signature
        names = tuple(sig.names)
        name = names[1] if len(names) > 1 else names[0]
        return B.BForeignFunction(name, names, tuple(sig.arg_types), sig.result_type, expr.span)

    def _fconstant(self, expr: ast.FConstant, env: Env):
        return B.BForeignConstant("constant", expr.type, expr.name, expr.span)

    def _fvariable(self, expr: ast.FVariable, env: Env):
        return B.BForeignConstant("variable", expr.type, expr.name, expr.span)


# ---------------------------------------------------------------------- helpers
def _is_numeric_tuple(box) -> bool:
    t = type(box)
    if t is B.BInt or t is B.BReal:
        return True
    return t is B.BPar and _is_numeric_tuple(box.a) and _is_numeric_tuple(box.b)


def _suggestion(name: str, env: Optional[Env]) -> str:
    """'did you mean ...?' from the names visible in `env`."""
    names = set(PRIMITIVE_NAMES)
    e = env
    while e is not None:
        names.update(e.entries)
        names.update(k for k in e.values if isinstance(k, str))
        e = e.parent
    close = difflib.get_close_matches(name, sorted(n for n in names if not n.startswith("\0")),
                                      n=3)
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?" if close else ""


def _parameter_count(fn) -> int:
    if type(fn) is Closure:
        return len(fn.params)
    if type(fn) is RuleSet:
        return fn.arity
    return fn.ruleset.arity - len(fn.args)


def _expect(expr: ast.UIWidget, n: int) -> None:
    if len(expr.args) != n:
        raise FaustEvaluationError(
            f"{expr.kind} needs {n} numeric arguments after its label, not {len(expr.args)}",
            expr.span)


def _show(value) -> str:
    if type(value) is B.BInt or type(value) is B.BReal:
        return repr(value.value)
    return describe(value)


def _letrec_as_with(expr: ast.Letrec) -> ast.With:
    """`body letrec { 'x = ex; 'y = ey; }` is Faust's
    `body with { R = \\(x, y).(ex, ey) ~ (_, _); x = R : (_, !); y = R : (!, _); }`."""
    span = expr.span
    names = tuple(d.name for d in expr.defs)
    n = len(names)
    if n == 0:
        return ast.With(expr.body, (), span)
    body_name = "\0letrec"  # not a Faust identifier: cannot clash

    def chain(items):
        result = items[-1]
        for item in reversed(items[:-1]):
            result = ast.Compose(",", item, result, span)
        return result

    rec = ast.Compose("~", ast.Lambda(names, chain([d.body for d in expr.defs]), span),
                      chain([ast.Wire(span)] * n), span)
    defs = [ast.Definition(body_name, None, rec, "", span)]
    for i, d in enumerate(expr.defs):
        selector = chain([ast.Wire(span) if j == i else ast.Cut(span) for j in range(n)])
        defs.append(ast.Definition(d.name, None, ast.Compose(":", ast.Ident(body_name, span),
                                                             selector, span), "", d.span))
    return ast.With(expr.body, tuple(defs), span)
