"""`ffunction`: the C math functions the Faust libraries use, as primitives.

Only names in this table can be called; anything else is a clear error. A foreign call
never reaches Python: each entry has its own meaning on constants, its Numba
expression and its derivative, registered in the same primitive registry as the
builtins (under the name `ffunction:<double-precision C name>`).
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import FaustEvaluationError
from .nodes import FLOAT_KIND, INT_KIND, Sig
from .primitives import (PRIMITIVES, STEEP, Primitive, _c, _f, _iv_unit, add, apply, div, mul, neg,
                         nonzero_at_origin, sign, sub)

# C names of the float / long double variants, mapped to the double one.
_ALIASES = {}


def _float_fn(name, arity, fold_fn, emit_fn, partials, interval=None, convention="", aliases=(),
              steep=False):
    key = "ffunction:" + name
    PRIMITIVES[key] = Primitive(
        key, arity, lambda kinds: FLOAT_KIND, "float", lambda kinds, *a: _f(fold_fn)(*a),
        (lambda e, k: f"{emit_fn}({', '.join(e)})"), partials=partials, interval=interval,
        convention=convention, foreign=True, steep=steep)
    for alias in (name, name + "f", name + "l") + tuple(aliases):
        _ALIASES[alias] = key


def _int_fn(name, arity, fold_fn, emit_fn, aliases=()):
    key = "ffunction:" + name
    PRIMITIVES[key] = Primitive(
        key, arity, lambda kinds: INT_KIND, "float", lambda kinds, *a: int(fold_fn(*a)),
        (lambda e, k: f"(1 if {emit_fn}({', '.join(e)}) else 0)"), partials=None,
        convention="classification functions: derivative 0", foreign=True)
    for alias in (name, name + "f", name + "l") + tuple(aliases):
        _ALIASES[alias] = key


def _one(fn):
    return lambda a, out: (fn(a[0], out),)


_float_fn("tanh", 1, np.tanh, "math.tanh", _one(lambda x, out: sub(_c(1.0), mul(out, out))), _iv_unit)
_float_fn("sinh", 1, np.sinh, "math.sinh", _one(lambda x, out: apply("ffunction:cosh", x)))
_float_fn("cosh", 1, np.cosh, "math.cosh", _one(lambda x, out: apply("ffunction:sinh", x)))
_float_fn("asinh", 1, np.arcsinh, "math.asinh",
          _one(lambda x, out: div(_c(1.0), apply("sqrt", add(mul(x, x), _c(1.0))))))
_float_fn("acosh", 1, np.arccosh, "math.acosh",
          _one(lambda x, out: div(_c(1.0), apply("sqrt", sub(mul(x, x), _c(1.0))))),
          convention=f"acosh at 1: {STEEP}", steep=True)
_float_fn("atanh", 1, np.arctanh, "math.atanh",
          _one(lambda x, out: div(_c(1.0), sub(_c(1.0), mul(x, x)))))
_float_fn("cbrt", 1, np.cbrt, "np.cbrt", _one(lambda x, out: div(_c(1.0), mul(_c(3.0), mul(out, out)))),
          convention=f"cbrt at 0: {STEEP}", steep=True)
_float_fn("log1p", 1, np.log1p, "math.log1p", _one(lambda x, out: div(_c(1.0), add(_c(1.0), x))))
_float_fn("expm1", 1, np.expm1, "math.expm1", _one(lambda x, out: add(out, _c(1.0))))
_float_fn("exp2", 1, np.exp2, "np.exp2", _one(lambda x, out: mul(_c(math.log(2.0)), out)))
_float_fn("log2", 1, np.log2, "np.log2", _one(lambda x, out: div(_c(1.0 / math.log(2.0)), x)))
_float_fn("erf", 1, np.vectorize(math.erf), "math.erf",
          _one(lambda x, out: mul(_c(2.0 / math.sqrt(math.pi)), apply("exp", neg(mul(x, x))))))
_float_fn("erfc", 1, np.vectorize(math.erfc), "math.erfc",
          _one(lambda x, out: mul(_c(-2.0 / math.sqrt(math.pi)), apply("exp", neg(mul(x, x))))))
_float_fn("tgamma", 1, np.vectorize(math.gamma), "math.gamma", None,
          convention="tgamma: no derivative rule (digamma is not available); treated as 0")
_float_fn("lgamma", 1, np.vectorize(math.lgamma), "math.lgamma", None,
          convention="lgamma: no derivative rule (digamma is not available); treated as 0")
_float_fn("fabs", 1, np.abs, "abs", _one(lambda x, out: sign(x)),
          convention="fabs: derivative sign(x), 0 at x = 0")
_float_fn("hypot", 2, np.hypot, "math.hypot",
          lambda a, out: (div(a[0], nonzero_at_origin(out)), div(a[1], nonzero_at_origin(out))),
          convention="hypot at the origin: derivative 0, as atan2")
_float_fn("copysign", 2, np.copysign, "math.copysign",
          lambda a, out: (mul(sign(a[0]), sign(out)), None),
          convention="copysign(x, y): d/dx = sign(x) sign(result), d/dy = 0")
# fmin/fmax share the tie convention of min/max
_float_fn("fmin", 2, np.fmin, "min", lambda a, out: PRIMITIVES["min"].partials(a, out))
_float_fn("fmax", 2, np.fmax, "max", lambda a, out: PRIMITIVES["max"].partials(a, out))
_float_fn("fdim", 2, lambda x, y: np.maximum(x - y, 0.0), "fd_fdim",
          lambda a, out: (apply("float", apply(">", a[0], a[1])),
                          neg(apply("float", apply(">", a[0], a[1])))))
_int_fn("isnan", 1, np.isnan, "math.isnan")
_int_fn("isinf", 1, np.isinf, "math.isinf")


def known_names():
    return sorted(_ALIASES)


def call(box, inputs) -> Sig:
    """The signal of an `ffunction` box applied to its inputs."""
    for name in (box.name,) + tuple(box.names):
        key = _ALIASES.get(name)
        if key is not None:
            prim = PRIMITIVES[key]
            if prim.arity != len(inputs):
                raise FaustEvaluationError(
                    f"foreign function '{name}' takes {prim.arity} arguments, "
                    f"its declaration gives {len(inputs)}", box.span)
            return apply(key, *inputs)
    raise FaustEvaluationError(
        f"unknown foreign function '{box.name}': faustdiff runs only the C math functions it "
        f"knows ({', '.join(sorted({k.split(':')[1] for k in _ALIASES.values()}))})", box.span)
