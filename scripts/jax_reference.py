"""Exact derivatives of a Faust program from JAX, for cross-checks of faustdiff.

DawDreamer embeds libfaust, whose JAX backend (``boxToSource(box, "jax", ...)``) turns a
Faust program into a Flax-style ``MyDSP`` class: ``initialize`` builds the state (constants,
cleared delay lines), ``build_interface`` stores the slider values in it and ``tick``
computes one sample. Run as a ``jax.lax.scan`` over the samples, that is an ordinary JAX
function of the slider values, and ``jax.jacfwd`` / ``jax.jvp`` over it give the exact
derivatives of the same program (the real compiler's reading of it, not faustdiff's).

Flax is not needed: a stand-in base class (:class:`_SliderModule`) provides the dataclass
behaviour and the UI callbacks, and reads slider values from a dict, so the derivatives are
taken with respect to the sliders themselves. Everything runs in float64 (``-double`` for
the transpilation, ``jax_enable_x64``).

    jax = jax_module()                      # None when JAX is not installed
    model = JaxProgram(code, n, jax)        # the [diff:1] sliders in model.labels
    y, dy = jax_jvp(model, x)               # (outputs, n), {label: (outputs, n)}

Used by ``scripts/bench.py`` (timings, agreement) and ``tests/test_jax_reference.py``.
JAX is optional for faustdiff: nothing here imports it before :func:`jax_module` is called.
"""
from __future__ import annotations

import dataclasses
import json
import time
import types
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

SAMPLE_RATE = 44100


def jax_module():
    """The ``jax`` module set to float64, or None when it is not installed."""
    try:
        import jax
    except ImportError:
        return None
    # The transpiled programs are run in double precision, like faustdiff's default.
    jax.config.update("jax_enable_x64", True)
    return jax


def jax_version(jax) -> Optional[str]:
    return getattr(jax, "__version__", None) if jax is not None else None


def transpile_to_jax(code: str, import_dirs: Sequence[str] = ()) -> str:
    """DawDreamer's Faust-to-JAX source for ``code`` (a Flax-style ``MyDSP`` class);
    ``import_dirs`` are searched for the program's imports before the bundled libraries."""
    from dawdreamer.faust import FaustContext
    from dawdreamer.faust.box import boxFromDSP, boxToSource

    include = [arg for folder in import_dirs for arg in ("-I", str(folder))]
    with FaustContext():
        box = boxFromDSP(code, include) if include else boxFromDSP(code)
        return str(boxToSource(box, "jax", "MyDSP", ["-double"]))


class _SliderModule:
    """Stands in for ``flax.linen.Module`` as the base of the transpiled class.

    The generated class only needs dataclass fields and the ``add_*`` UI callbacks; the
    callbacks store the slider values given in ``self.values`` (by address), or the
    init value, so derivatives are taken with respect to the sliders themselves.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(cls)

    def _set(self, state, zone, ui_path, label, init):
        import jax.numpy as jnp

        address = "/" + "/".join(list(ui_path) + [label])
        state[zone] = jnp.asarray(self.values.get(address, float(init)), dtype=jnp.float64)

    def add_slider(self, state, zone, ui_path, label, init, a_min, a_max, scale_mode="linear"):
        self._set(state, zone, ui_path, label, init)

    def add_nentry(self, state, zone, ui_path, label, init, a_min, a_max, step,
                   scale_mode="linear"):
        self._set(state, zone, ui_path, label, init)

    def add_button(self, state, zone, ui_path, label):
        self._set(state, zone, ui_path, label, 0.0)

    def add_soundfile(self, *args, **kwargs):
        raise RuntimeError("soundfiles are not supported by the JAX reference runner")


def c_math_functions(jax) -> Dict[str, object]:
    """JAX versions of the C math functions that the JAX backend calls by their bare C
    names without defining them (the foreign functions of maths.lib: ``ma.cbrt``...)."""
    jnp = jax.numpy
    special = jax.scipy.special
    return {"cbrt": jnp.cbrt, "hypot": jnp.hypot, "log1p": jnp.log1p, "expm1": jnp.expm1,
            "erf": special.erf, "erfc": special.erfc, "tgamma": special.gamma,
            "lgamma": special.gammaln, "nextafter": jnp.nextafter}


def jax_dsp_class(source: str, jax):
    """Execute the transpiled source and return its ``MyDSP`` class."""
    import jax.numpy as jnp
    import jax.scipy.special  # noqa: F401  (makes jax.scipy available)

    # Newer JAX has no `jax.config` module to import from; the object is the same.
    source = source.replace("from jax.config import config", "config = jax.config")
    namespace = {"jax": jax, "jnp": jnp, "np": np, "json": json, "dataclasses": dataclasses,
                 "List": List, "nn": types.SimpleNamespace(Module=_SliderModule),
                 **c_math_functions(jax)}
    exec(compile(source, "<faust-to-jax>", "exec"), namespace)
    return namespace["MyDSP"]


def ui_items(items) -> List[dict]:
    """Every widget of a Faust JSON ``ui`` description, groups flattened."""
    found = []
    for item in items:
        if "items" in item:
            found.extend(ui_items(item["items"]))
        else:
            found.append(item)
    return found


def is_diff_widget(item: dict) -> bool:
    return any(str(meta.get("diff", "")).lower() in ("1", "on") for meta in item.get("meta", []))


class JaxProgram:
    """A transpiled program as pure functions of (diff slider values, inputs, state)."""

    def __init__(self, code: str, n: int, jax, *, import_dirs: Sequence[str] = (),
                 sample_rate: int = SAMPLE_RATE):
        self.jax = jax
        self.sample_rate = sample_rate
        self.dsp_class = jax_dsp_class(transpile_to_jax(code, import_dirs), jax)
        self.dsp = self.dsp_class(sample_rate=sample_rate)
        self.n = n
        widgets = [w for w in ui_items(self.dsp.getJSON()["ui"]) if is_diff_widget(w)]
        self.addresses = [w["address"] for w in widgets]
        self.labels = [w["label"] for w in widgets]
        self.init = np.array([float(w["init"]) for w in widgets], dtype=np.float64)

    @property
    def num_inputs(self) -> int:
        return self.dsp.getNumInputs()

    def initial_state(self, x):
        """The state after Faust's init (constants, cleared delay lines), outside any
        trace: the generated init mixes numpy with JAX and needs concrete values."""
        state = self.dsp.initialize(x, self.n)
        return self.jax.tree.map(self.jax.numpy.asarray, state)

    def run(self, values, x, state):
        """Outputs (num_outputs, n) for diff slider ``values`` and inputs ``x``."""
        dsp = self.dsp_class(sample_rate=self.sample_rate)
        dsp.values = dict(zip(self.addresses, values))
        state = dsp.build_interface(dict(state), x, self.n)
        _, y = self.jax.lax.scan(self.dsp_class.tick, state, x.T)
        return y.T


def jacfwd_strategy(jax, run, num_params: int):
    """One forward pass carrying all tangents at once (``vmap`` of ``jvp``)."""
    return jax.jacfwd(run)


def jvp_per_param_strategy(jax, run, num_params: int):
    """One ``jax.jvp`` pass per diff slider, all in one jitted function."""
    jnp = jax.numpy

    def columns(values, x, state):
        basis = jnp.eye(num_params, dtype=values.dtype)
        tangents = [jax.jvp(lambda v: run(v, x, state), (values,), (basis[k],))[1]
                    for k in range(num_params)]
        return jnp.stack(tangents, axis=-1)
    return columns


# Neither wins everywhere: XLA handles the batched tangents of some programs much worse.
JVP_STRATEGIES = {"jacfwd": jacfwd_strategy, "jvp per slider": jvp_per_param_strategy}


def aot_compile(jax, function, args):
    """(compiled executable, seconds spent tracing and compiling it)."""
    start = time.perf_counter()
    compiled = jax.jit(function).lower(*args).compile()
    return compiled, time.perf_counter() - start


def max_relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-30)
    return float(np.max(np.abs(actual - expected), initial=0.0)) / scale


def jvp_disagreement(labels, jacobian: np.ndarray,
                     dy_ref: Dict[str, np.ndarray]) -> Optional[float]:
    """Worst relative difference over the sliders both sides differentiate."""
    errors = [max_relative_error(dy_ref[label], jacobian[..., k])
              for k, label in enumerate(labels) if label in dy_ref]
    return max(errors) if errors else None


def model_arguments(model: JaxProgram, x: Optional[np.ndarray],
                    values: Optional[Mapping[str, float]] = None):
    """(slider values, inputs, initial state): the arguments of ``model.run`` for inputs
    ``x`` (silence when None) and the diff sliders at ``values`` (by label); sliders not in
    ``values`` take their init values as the JSON UI description prints them (which may
    round them: pass the exact values when they matter)."""
    jnp = model.jax.numpy
    given = dict(values or {})
    unknown = sorted(set(given) - set(model.labels))
    if unknown:
        raise KeyError(f"no diff slider {unknown}; the program has {model.labels}")
    sliders = np.array([given.get(label, init) for label, init in zip(model.labels, model.init)],
                       dtype=np.float64)
    inputs = jnp.asarray(x if x is not None else np.zeros((model.num_inputs, model.n)))
    return jnp.asarray(sliders), inputs, model.initial_state(inputs)


def jax_jvp(model: JaxProgram, x: Optional[np.ndarray] = None,
            values: Optional[Mapping[str, float]] = None) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """(outputs (num_outputs, n), {diff slider label: derivative (num_outputs, n)}) of the
    transpiled program for inputs ``x`` and the diff sliders at ``values`` (see
    :func:`model_arguments`), from one compiled ``jacfwd`` pass (its primal is the
    outputs)."""
    jax = model.jax
    args = model_arguments(model, x, values)
    jacobian, y = jax.jit(jax.jacfwd(lambda *a: (model.run(*a),) * 2, has_aux=True))(*args)
    jacobian = np.asarray(jacobian)
    return np.asarray(y), {label: jacobian[..., k] for k, label in enumerate(model.labels)}
