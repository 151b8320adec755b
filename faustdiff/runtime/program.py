"""A compiled Faust program: its kernels, parameters and state.

Two kernels are built lazily from the same signal graph: the primal one for `render`,
and the primal+tangents one for `jvp`. Each keeps its own state, so `reset=False`
continues from where the previous call of the same kind stopped.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..codegen.cache import load_kernel
from ..codegen.plan import plan_kernel
from ..codegen.python_source import render_source
from ..diff.tangents import differentiate
from ..errors import FaustRuntimeError
from ..signals.nodes import ParamSpec
from ..signals.propagate import Propagated


@dataclass(frozen=True)
class Param:
    """A widget of the program. `diff` is True for sliders marked `[diff:1]`/`[diff:on]`."""

    label: str
    path: str
    init: float
    min: float
    max: float
    step: float
    diff: bool
    kind: str = "hslider"
    metadata: Mapping[str, str] = field(default_factory=dict, compare=False)


class _Kernel:
    """One generated kernel with its state arrays."""

    def __init__(self, source: str, plan, precision: str, num_params: int = 0):
        self.num_params = num_params
        self._template = None
        self.source = source
        self.plan = plan
        self.compute = load_kernel(source)
        self.float_dtype = np.float32 if precision == "single" else np.float64
        self.state = None

    def reset(self):
        self.state = self.fresh_state()

    def fresh_state(self):
        """Cleared state arrays, with the tables already filled.

        Table contents depend on neither inputs nor parameters, so they are computed once
        (a call of the kernel over zero samples fills them) and copied on every reset."""
        if self._template is None:
            fstate = np.zeros(max(self.plan.float_state_size, 1), dtype=self.float_dtype)
            istate = np.zeros(max(self.plan.int_state_size, 2), dtype=np.int64)
            for table in self.plan.constant_tables:  # waveforms
                target = fstate if table.kind == "float" else istate
                target[table.offset:table.offset + table.size] = table.spec.values
            if self.plan.table_inits:
                empty = np.zeros((0, 0))
                self.compute(0, empty, empty, np.zeros((0, 0, 0)), (fstate, istate),
                             np.zeros(self.num_params, dtype=self.float_dtype))
            self._template = (fstate, istate)
        return self._template[0].copy(), self._template[1].copy()


class Program:
    def __init__(self, graph: Propagated, *, sample_rate: int = 44100, precision: str = "double",
                 metadata: Sequence[Tuple[str, str]] = (), filename: str = "<string>"):
        if precision not in ("single", "double"):
            raise FaustRuntimeError(f"precision must be 'single' or 'double', not {precision!r}")
        self.sample_rate = int(sample_rate)
        self.precision = precision
        self.metadata = tuple(metadata)
        self.filename = filename
        self._graph = graph
        self._specs: List[ParamSpec] = list(graph.params)
        self.params: List[Param] = [
            Param(s.label, s.path, s.init, s.min, s.max, s.step, s.diff, s.kind, dict(s.metadata))
            for s in self._specs]
        self.diff_params: List[Param] = [p for p in self.params if p.diff]
        self._kernels: Dict[str, _Kernel] = {}
        self._tangents: Dict[bool, List[List]] = {}

    # ----------------------------------------------------------------- shape
    @property
    def num_inputs(self) -> int:
        return self._graph.num_inputs

    @property
    def num_outputs(self) -> int:
        return len(self._graph.outputs)

    # ----------------------------------------------------------------- graphs
    @property
    def output_signals(self) -> List:
        """The signal graph of each output."""
        return list(self._graph.outputs)

    @property
    def tangent_signals(self) -> List[List]:
        """tangent_signals[k][o]: the signal of d output o / d diff_params[k] (None: zero)."""
        return self.tangents_of(smooth=False)

    def tangents_of(self, smooth: bool = False) -> List[List]:
        """The tangent signals, exact (default) or with smooth straight-through estimates."""
        if smooth not in self._tangents:
            self._tangents[smooth] = differentiate(
                self.output_signals, [s for s in self._specs if s.diff], smooth=smooth)
        return self._tangents[smooth]

    # ----------------------------------------------------------------- kernels
    def _kernel(self, with_tangents: bool, smooth: bool = False) -> _Kernel:
        key = ("jvp-smooth" if smooth else "jvp") if with_tangents else "render"
        kernel = self._kernels.get(key)
        if kernel is None:
            outputs = self.output_signals
            tangents = self.tangents_of(smooth) if with_tangents else []
            plan = plan_kernel(outputs, tangents, self._specs)
            kernel = _Kernel(render_source(plan, self.precision), plan, self.precision,
                             len(self.params))
            self._kernels[key] = kernel
        return kernel


    def kernel_source(self, with_tangents: bool = True, smooth: bool = False) -> str:
        """The generated Python source (for inspection and debugging)."""
        return self._kernel(with_tangents, smooth).source

    # ----------------------------------------------------------------- arguments
    def _param_values(self, params: Optional[Mapping[str, float]]) -> np.ndarray:
        values = np.array([p.init for p in self.params], dtype=np.float64)
        for key, value in (params or {}).items():
            values[self.param_index(key)] = float(value)
        return values

    def param_index(self, key: str) -> int:
        """The index of a parameter given its label or full path."""
        matches = [k for k, p in enumerate(self.params) if p.path == key]
        if not matches:
            matches = [k for k, p in enumerate(self.params) if p.label == key]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(p.path for p in self.params) or "none"
        if not matches:
            raise FaustRuntimeError(f"no parameter named {key!r} (known: {known})")
        raise FaustRuntimeError(f"several parameters are labelled {key!r}: give the path "
                                f"({', '.join(self.params[k].path for k in matches)})")

    def _inputs(self, x, n) -> Tuple[np.ndarray, int]:
        if x is None:
            if n is None:
                raise FaustRuntimeError("give either an input signal x or a length n")
            return np.zeros((self.num_inputs, int(n)), dtype=np.float64), int(n)
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[0] != self.num_inputs:
            raise FaustRuntimeError(
                f"the program has {self.num_inputs} inputs; x has shape {x.shape} "
                f"(expected ({self.num_inputs}, n))")
        if n is None:
            n = x.shape[1]
        elif n > x.shape[1]:
            raise FaustRuntimeError(f"n = {n} is longer than the input ({x.shape[1]} samples)")
        return np.ascontiguousarray(x[:, :n]), int(n)

    def _run(self, with_tangents: bool, x, n, params, reset: bool, smooth: bool = False):
        kernel = self._kernel(with_tangents, smooth)
        inputs, n = self._inputs(x, n)
        pvalues = self._param_values(params).astype(kernel.float_dtype)
        if reset or kernel.state is None:
            kernel.reset()
        m = len(self.diff_params) if with_tangents else 0
        outputs = np.zeros((self.num_outputs, n), dtype=np.float64)
        tangents = np.zeros((m, self.num_outputs, n if m else 0), dtype=np.float64)
        kernel.compute(n, inputs, outputs, tangents, kernel.state, pvalues)
        return outputs, tangents

    # ----------------------------------------------------------------- public
    def render(self, x=None, n=None, params=None, reset: bool = True) -> np.ndarray:
        """Outputs, shape (num_outputs, n). `x` is (num_inputs, n); `params` maps labels
        or paths to values; `reset=False` continues from the previous render's state."""
        return self._run(False, x, n, params, reset)[0]

    def jvp(self, x=None, n=None, params=None, reset: bool = True, smooth: bool = False):
        """Outputs and their derivatives: (y, {label: dy/dlabel}), each (num_outputs, n),
        one entry per `[diff:1]` parameter in declaration order. `smooth=True` gives
        straight-through estimates where int casts feed table indices or delay amounts
        (useful gradients for table oscillators such as os.osc and integer delays)."""
        y, t = self._run(True, x, n, params, reset, smooth)
        return y, {self._diff_key(p): t[k] for k, p in enumerate(self.diff_params)}

    # ----------------------------------------------------------------- batches
    def render_batch(self, x=None, n=None, params: Optional[Sequence[Mapping[str, float]]] = None,
                     workers: Optional[int] = None) -> np.ndarray:
        """Render a batch, shape (batch, num_outputs, n), each item from a cleared state.

        `params` is a list of parameter settings (one per item); `x` is one input
        (num_inputs, n) shared by all items or one per item (batch, num_inputs, n). The
        items run in parallel on `workers` threads (default: every core): the kernels
        release the GIL."""
        return self._run_batch(False, x, n, params, workers)[0]

    def jvp_batch(self, x=None, n=None, params: Optional[Sequence[Mapping[str, float]]] = None,
                  workers: Optional[int] = None, smooth: bool = False):
        """`jvp` over a batch: (y, {label: dy}) with y and each dy of shape
        (batch, num_outputs, n)."""
        y, t = self._run_batch(True, x, n, params, workers, smooth)
        return y, {self._diff_key(p): t[:, k] for k, p in enumerate(self.diff_params)}

    def _run_batch(self, with_tangents, x, n, params, workers, smooth=False):
        kernel = self._kernel(with_tangents, smooth)
        settings = list(params) if params is not None else [None]
        inputs = None if x is None else np.asarray(x, dtype=np.float64)
        if inputs is not None and inputs.ndim == 3:
            if params is None:
                settings = [None] * inputs.shape[0]
            elif inputs.shape[0] != len(settings):
                raise FaustRuntimeError(f"{inputs.shape[0]} inputs for {len(settings)} parameter "
                                        f"settings: give one input per item, or one for all")
        items = [(inputs[i] if inputs is not None and inputs.ndim == 3 else inputs, p)
                 for i, p in enumerate(settings)]
        prepared = [self._inputs(xi, n) + (self._param_values(p).astype(kernel.float_dtype),)
                    for xi, p in items]
        length = prepared[0][1]
        if any(item[1] != length for item in prepared):
            raise FaustRuntimeError("every item of a batch must have the same length")
        m = len(self.diff_params) if with_tangents else 0
        outputs = np.zeros((len(items), self.num_outputs, length))
        tangents = np.zeros((len(items), m, self.num_outputs, length if m else 0))

        def run(i):
            xi, _, pv = prepared[i]
            state = kernel.fresh_state()
            kernel.compute(length, xi, outputs[i], tangents[i], state, pv)

        count = workers or os.cpu_count() or 1
        if count == 1 or len(items) == 1:
            for i in range(len(items)):
                run(i)
        else:
            with ThreadPoolExecutor(max_workers=count) as pool:
                list(pool.map(run, range(len(items))))
        return outputs, tangents

    def _diff_key(self, p: Param) -> str:
        same = [q for q in self.diff_params if q.label == p.label]
        return p.label if len(same) == 1 else p.path
