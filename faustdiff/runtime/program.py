"""A compiled Faust program: its kernels, parameters and state.

Two kernels are built lazily from the same signal graph: the primal one for `render`,
and the primal+tangents one for `jvp`. Each keeps its own state, so `reset=False`
continues from where the previous call of the same kind stopped.

A program found in the program cache (`program_cache.py`) starts without its signal
graph: its parameters, shape and the kernels built so far come from the cache, and the
graph is computed again (by running the front end) only when something needs it, such as
a kernel the cache does not hold yet or `output_signals`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..cachedir import builtin_value
from ..codegen.cache import load_kernel, saved_native_kernel, source_hash
from ..codegen.native import STATE_COLUMNS, NativeKernel, check_status
from ..codegen.plan import plan_kernel
from ..codegen.python_source import render_source
from ..diff.tangents import differentiate_packed, unpack
from ..errors import FaustRuntimeError
from ..signals.nodes import ParamSpec
from ..signals.propagate import Propagated
from .buffers import OutputBuffers
from .workers import rouse, run_native, run_python, usable_cores


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


@dataclass(frozen=True)
class KernelLayout:
    """What running a kernel needs besides its code: the sizes of its state arrays, the
    constant tables (waveforms) to put in them, and whether the kernel fills tables
    itself on its first call after a reset. Plain data, so that the program cache can
    keep it (a `KernelPlan` holds the signal graph)."""

    float_state_size: int
    int_state_size: int
    fills_tables: bool
    constant_tables: Tuple[Tuple[str, int, int, Tuple], ...] = ()  # (kind, offset, size, values)
    # (parameter, output) of each tangent the kernel writes; it never writes the others
    tangent_rows: Tuple[Tuple[int, int], ...] = ()

    @classmethod
    def of_plan(cls, plan) -> "KernelLayout":
        def values(t):  # builtin numbers only: the program cache stores nothing else
            return tuple(builtin_value(v) for v in t.spec.values)

        return cls(int(plan.float_state_size), int(plan.int_state_size), bool(plan.table_inits),
                   tuple((str(t.kind), int(t.offset), int(t.size), values(t))
                         for t in plan.constant_tables),
                   tuple((int(k), int(o)) for k, o, _, _ in plan.tangents))


class _Kernel:
    """One generated kernel with its state arrays."""

    def __init__(self, source: str, layout: KernelLayout, precision: str, num_params: int = 0):
        self.num_params = num_params
        self._template = None
        self._resets: Optional[np.ndarray] = None
        self.source = source
        self.layout = layout
        self.digest = source_hash(source)
        self.compute = load_kernel(source, precision, self.digest)
        self.precision = precision
        self._native: Union[None, bool, NativeKernel] = None
        self.float_dtype = np.float32 if precision == "single" else np.float64
        self.state = None
        self.buffers = OutputBuffers()
        self._unwritten: Optional[List[Tuple[int, int]]] = None

    def native(self) -> Optional[NativeKernel]:
        """The kernel as machine code with a native entry (batches run it without the GIL):
        `compute` itself when it was loaded so; else, once Numba has compiled the kernel
        and saved its machine code (after its first call), that code loaded beside it."""
        if isinstance(self.compute, NativeKernel):
            return self.compute
        if self._native is None:    # (False: there is saved code, which does not load)
            self._native = saved_native_kernel(self.digest, self.precision)
        return self._native or None

    def arrays(self, leading: Tuple[int, ...], m: int, num_outputs: int, n: int):
        """Output and tangent arrays of shapes leading + (num_outputs, n) and
        leading + (m, num_outputs, n) for a call: reused ones when the caller has let go
        of earlier results. The kernel writes every output, but only the tangents of
        `layout.tangent_rows`: in a reused array the others (an output that does not
        depend on a parameter) are zeroed again, the caller may have written there."""
        outputs, _ = self.buffers.take("outputs", leading + (num_outputs, n))
        tangents, reused = self.buffers.take("tangents", leading + (m, num_outputs, n if m else 0))
        if reused:
            for k, o in self._unwritten_rows(m, num_outputs):
                tangents[..., k, o, :] = 0.0
        return outputs, tangents

    def _unwritten_rows(self, m: int, num_outputs: int) -> List[Tuple[int, int]]:
        """The (parameter, output) tangent rows the kernel never writes (computed once)."""
        if self._unwritten is None:
            written = set(self.layout.tangent_rows)
            self._unwritten = [(k, o) for k in range(m) for o in range(num_outputs)
                               if (k, o) not in written]
        return self._unwritten

    def reset(self):
        self.state = self.fresh_state()

    def fresh_state(self):
        """Cleared state arrays, with the tables already filled."""
        fstate, istate = self.state_template()
        return fstate.copy(), istate.copy()

    def batch_states(self, items: int):
        """Arrays for the fstate and istate of each item of a batch, their contents
        undefined (the items' threads clear them); reused from batch to batch, as the
        outputs are (fresh ones would take page faults, serialised between threads)."""
        fstate, istate = self.state_template()
        per_double = 8 // fstate.itemsize
        doubles = _whole_lines(-(-fstate.size // per_double))
        fstates, _ = self.buffers.take("fstates", (items, doubles))
        istates, _ = self.buffers.take("istates", (items, _whole_lines(istate.size)))
        return (fstates.view(fstate.dtype)[:, :fstate.size], istates.view(np.int64))

    def state_resets(self) -> np.ndarray:
        """The copies that clear a batch item's state (see `workers.run_native`): the
        template's float and int state to the entry's state arguments."""
        if self._resets is None:
            (f_column, i_column), (fstate, istate) = STATE_COLUMNS, self.state_template()
            self._resets = np.array([(f_column, fstate.ctypes.data, fstate.nbytes),
                                     (i_column, istate.ctypes.data, istate.nbytes)],
                                    dtype=np.int64)
        return self._resets

    def state_template(self):
        """The state arrays of a reset (not to be written).

        Table contents depend on neither inputs nor parameters, so they are computed once
        (a call of the kernel over zero samples fills them) and copied on every reset."""
        if self._template is None:
            layout = self.layout
            fstate = np.zeros(max(layout.float_state_size, 1), dtype=self.float_dtype)
            istate = np.zeros(max(layout.int_state_size, 2), dtype=np.int64)
            for kind, offset, size, values in layout.constant_tables:  # waveforms
                target = fstate if kind == "float" else istate
                target[offset:offset + size] = values
            if layout.fills_tables:
                empty = np.zeros((0, 0))
                self.compute(0, empty, empty, np.zeros((0, 0, 0)), (fstate, istate),
                             np.zeros(self.num_params, dtype=self.float_dtype))
            self._template = (fstate, istate)
        return self._template


class Program:
    def __init__(self, graph: Propagated, *, sample_rate: int = 44100, precision: str = "double",
                 metadata: Sequence[Tuple[str, str]] = (), filename: str = "<string>"):
        self._setup(sample_rate, precision, metadata, filename)
        self._graph: Optional[Propagated] = graph
        self._rebuild: Optional[Callable[[], Propagated]] = None
        self._shape = (graph.num_inputs, len(graph.outputs))
        self._set_params([Param(s.label, s.path, s.init, s.min, s.max, s.step, s.diff, s.kind,
                                dict(s.metadata)) for s in graph.params])

    def _setup(self, sample_rate, precision, metadata, filename):
        if precision not in ("single", "double"):
            raise FaustRuntimeError(f"precision must be 'single' or 'double', not {precision!r}")
        self.sample_rate = int(sample_rate)
        self.precision = precision
        self.metadata = tuple(metadata)
        self.filename = filename
        self._kernels: Dict[str, _Kernel] = {}
        self._packs: Dict[bool, List] = {}
        self._tangents: Dict[bool, List[List]] = {}
        # the program cache's entry, when there is one: kernels it holds, and where new
        # kernels are added (see program_cache.ProgramEntry)
        self._entry = None

    def _set_params(self, params: List[Param]):
        self.params: List[Param] = params
        self.diff_params: List[Param] = [p for p in params if p.diff]
        self._inits = np.array([p.init for p in params], dtype=np.float64)
        # the index of each path, and of each label that only one parameter has (a
        # training loop or a batch looks keys up for every call and item)
        labels, paths = Counter(p.label for p in params), Counter(p.path for p in params)
        self._index_of: Dict[str, int] = {p.label: k for k, p in enumerate(params)
                                          if labels[p.label] == 1}
        self._index_of.update((p.path, k) for k, p in enumerate(params) if paths[p.path] == 1)

    @classmethod
    def _from_cache(cls, entry, rebuild: Callable[[], Propagated], *, sample_rate: int,
                    precision: str, metadata, filename: str) -> "Program":
        """A program restored from the program cache: `entry` gives its parameters, its
        shape and its kernels; `rebuild()` computes the signal graph when it is needed."""
        prog = cls.__new__(cls)
        prog._setup(sample_rate, precision, metadata, filename)
        prog._graph = None
        prog._rebuild = rebuild
        prog._shape = entry.shape
        prog._set_params(list(entry.params))
        prog._entry = entry
        return prog

    def _signal_graph(self) -> Propagated:
        if self._graph is None:
            self._graph = self._rebuild()
        return self._graph

    @property
    def _specs(self) -> List[ParamSpec]:
        return list(self._signal_graph().params)

    # ----------------------------------------------------------------- shape
    @property
    def num_inputs(self) -> int:
        return self._shape[0]

    @property
    def num_outputs(self) -> int:
        return self._shape[1]

    # ----------------------------------------------------------------- graphs
    @property
    def output_signals(self) -> List:
        """The signal graph of each output."""
        return list(self._signal_graph().outputs)

    @property
    def tangent_signals(self) -> List[List]:
        """tangent_signals[k][o]: the signal of d output o / d diff_params[k] (None: zero)."""
        return self.tangents_of(smooth=False)

    def tangents_of(self, smooth: bool = False) -> List[List]:
        """The tangent signals, exact (default) or with smooth straight-through estimates."""
        if smooth not in self._tangents:
            self._tangents[smooth] = unpack(self._packs_of(smooth), self._diff_specs())
        return self._tangents[smooth]

    def _packs_of(self, smooth: bool) -> List:
        """The tangent pack of each output: what the jvp kernel computes, and what
        `tangents_of` reads lane by lane."""
        if smooth not in self._packs:
            self._packs[smooth] = differentiate_packed(self.output_signals, self._diff_specs(),
                                                       smooth)
        return self._packs[smooth]

    def _diff_specs(self) -> List[ParamSpec]:
        return [s for s in self._specs if s.diff]

    # ----------------------------------------------------------------- kernels
    def _kernel(self, with_tangents: bool, smooth: bool = False) -> _Kernel:
        key = ("jvp-smooth" if smooth else "jvp") if with_tangents else "render"
        kernel = self._kernels.get(key)
        if kernel is None:
            cached = self._entry.kernel(key) if self._entry is not None else None
            if cached is not None:
                source, layout = cached
            else:
                outputs = self.output_signals
                packs = self._packs_of(smooth) if with_tangents else []
                plan = plan_kernel(outputs, packs, self._specs)
                source, layout = render_source(plan, self.precision), KernelLayout.of_plan(plan)
                if self._entry is not None:
                    self._entry.add_kernel(key, source, layout)
            kernel = _Kernel(source, layout, self.precision, len(self.params))
            self._kernels[key] = kernel
        return kernel


    def kernel_source(self, with_tangents: bool = True, smooth: bool = False) -> str:
        """The generated Python source (for inspection and debugging)."""
        return self._kernel(with_tangents, smooth).source

    # ----------------------------------------------------------------- arguments
    def _param_values(self, params: Optional[Mapping[str, float]]) -> np.ndarray:
        values = self._inits.copy()
        for key, value in (params or {}).items():
            values[self.param_index(key)] = _param_value(key, value)
        return values

    def param_index(self, key: str) -> int:
        """The index of a parameter given its label or full path."""
        index = self._index_of.get(key)
        if index is not None:
            return index
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
            n = _length(n)
            return np.zeros((self.num_inputs, n), dtype=np.float64), n
        x = _signal_array(x)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[0] != self.num_inputs:
            raise FaustRuntimeError(
                f"the program has {self.num_inputs} inputs; x has shape {x.shape} "
                f"(expected ({self.num_inputs}, n))")
        n = x.shape[1] if n is None else _length(n)
        if n > x.shape[1]:
            raise FaustRuntimeError(f"n = {n} is longer than the input ({x.shape[1]} samples)")
        return np.ascontiguousarray(x[:, :n]), n

    def _run(self, with_tangents: bool, x, n, params, reset: bool, smooth: bool = False):
        kernel = self._kernel(with_tangents, smooth)
        inputs, n = self._inputs(x, n)
        pvalues = self._param_values(params).astype(kernel.float_dtype)
        if reset or kernel.state is None:
            kernel.reset()
        m = len(self.diff_params) if with_tangents else 0
        outputs, tangents = kernel.arrays((), m, self.num_outputs, n)
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
        release the GIL. An empty batch (no settings, or no inputs) gives (0, num_outputs,
        n)."""
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
        inputs = None if x is None else _signal_array(x)
        if inputs is not None and inputs.ndim == 3:
            if params is None:
                settings = [None] * inputs.shape[0]
            elif inputs.shape[0] != len(settings):
                raise FaustRuntimeError(f"{inputs.shape[0]} inputs for {len(settings)} parameter "
                                        f"settings: give one input per item, or one for all")
        count = min(workers or usable_cores(), len(settings))
        rouse(count)    # (sleeping pool threads wake while this prepares the batch)
        if inputs is None or inputs.ndim != 3:      # one input for every item
            batch_inputs = self._inputs(inputs, n)[0]
            item_inputs = [batch_inputs] * len(settings)
        else:
            # (the items of an array have one shape: checked on the first, or on an
            # empty item of that shape when there is none)
            first = inputs[0] if len(inputs) else np.zeros(inputs.shape[1:])
            length = self._inputs(first, n)[1]
            batch_inputs = np.ascontiguousarray(inputs[:, :, :length])
            item_inputs = list(batch_inputs)
        length = batch_inputs.shape[-1]
        pvalues = np.empty((len(settings), len(self.params)), dtype=kernel.float_dtype)
        for i, p in enumerate(settings):
            pvalues[i] = self._param_values(p)
        m = len(self.diff_params) if with_tangents else 0
        # Mapped here, before the workers start: fresh pages fault in on first write,
        # and page faults taken by two threads at once serialise in the kernel (a batch
        # of short biquad renders ran no faster on two cores than on one)
        outputs, tangents = kernel.arrays((len(settings),), m, self.num_outputs, length)
        if not settings:
            return outputs, tangents  # an empty batch: nothing to run
        native = kernel.native()
        if native is not None:
            # each item's state is reset by the thread that runs it, just before, in
            # arrays kept between batches (the FM pair's state holds a 512 KB table)
            fstates, istates = kernel.batch_states(len(settings))
            rows = native.batch_arguments(length, batch_inputs, outputs, tangents, fstates,
                                          istates, pvalues)
            if rows is not None:
                for status in run_native(native.entry_address, rows, count,
                                         kernel.state_resets()).tolist():
                    check_status(status)
                return outputs, tangents

        # Each worker takes the next item not yet taken (one iterator shared by all,
        # whose step is atomic under the GIL): a worker that starts late or runs slower
        # takes fewer items, rather than finishing an equal share last.
        pending = iter(range(len(settings)))

        def run():
            for i in pending:
                kernel.compute(length, item_inputs[i], outputs[i], tangents[i],
                               kernel.fresh_state(), pvalues[i])

        run_python(run, count)
        return outputs, tangents

    def _diff_key(self, p: Param) -> str:
        same = [q for q in self.diff_params if q.label == p.label]
        return p.label if len(same) == 1 else p.path


def _whole_lines(doubles: int) -> int:
    """A row length of whole cache lines, and one more, for an item's state in a batch: two
    threads run neighbouring items at once, and a line shared by two rows would move
    between their cores whenever either writes there."""
    return -(-doubles // 8) * 8 + 8


# ----------------------------------------------------------------- argument checks
# numpy and float() would raise a bare ValueError or TypeError from deep inside a call;
# a caller's bad argument is a FaustRuntimeError that says which argument is wrong.
def _param_value(key: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FaustRuntimeError(f"the value of parameter {key!r} must be a number, "
                                f"not {value!r}") from None
    return number


def _length(n) -> int:
    """A number of samples: a whole number >= 0."""
    try:
        length = int(n)
        whole = length == n
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or length < 0:
        raise FaustRuntimeError(f"the number of samples n must be a whole number >= 0, "
                                f"not {n!r}")
    return length


def _signal_array(x) -> np.ndarray:
    """x as an array of float64 samples."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise FaustRuntimeError(f"the input signal must be an array of numbers ({error})") \
            from None
