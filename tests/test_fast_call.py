"""The fast call of native kernels (`codegen/fast_call.py`): a builtin that reads the
arrays in compiled code, and hands anything it does not take to the ctypes path."""
import platform
import threading
import time

import numpy as np
import pytest

import faustdiff
from faustdiff.codegen import cache, fast_call, native

PROGRAM = ('import("stdfaust.lib");\n'
           'process = fi.resonlp(hslider("fc[diff:1]", 900, 50, 5000, 1), '
           'hslider("q[diff:1]", 2, 0.5, 10, 0.01), 1) * hslider("g", 0.5, 0, 1, 0.01);\n')


@pytest.fixture
def loaded(tmp_path, monkeypatch):
    """(program, its jvp kernel, that kernel loaded from its saved machine code)."""
    monkeypatch.setenv("FAUSTDIFF_CACHE_DIR", str(tmp_path / "cache"))
    prog = faustdiff.compile(PROGRAM)
    prog.jvp(n=8, x=np.zeros((1, 8)))
    kernel = prog._kernel(True)
    digest = cache.source_hash(kernel.source)
    artifact = native.artifact_path(tmp_path / "cache" / "kernels", digest)
    machine_code = native.load(artifact, digest, "double")
    assert isinstance(machine_code, native.NativeKernel)
    machine_code.fallback = lambda: kernel.compute.dispatcher
    return prog, kernel, machine_code


def _arguments(prog, kernel, n=700, seed=3):
    x = np.random.default_rng(seed).uniform(-1, 1, (1, n))
    return [n, x, np.zeros((1, n)), np.zeros((2, 1, n)), kernel.fresh_state(),
            prog._param_values(None)]


def _results(args):
    return [args[2].copy(), args[3].copy(), args[4][0].copy(), args[4][1].copy()]


@pytest.mark.skipif(platform.python_implementation() != "CPython", reason="CPython layouts")
def test_the_layouts_it_reads_hold_here():
    assert fast_call._layout_holds()


def test_usual_arguments_take_the_fast_call_with_numba_s_bits(loaded):
    prog, kernel, machine_code = loaded
    assert machine_code._fast is not None
    fast = _arguments(prog, kernel)
    assert machine_code._fast(*fast) is None
    reference = _arguments(prog, kernel)
    kernel.compute.dispatcher(*reference)
    for a, b in zip(_results(fast), _results(reference)):
        np.testing.assert_array_equal(a, b)
    assert np.any(fast[3] != 0)


def _unusual(prog, kernel):
    """Calls the builtin does not take, each with what is unusual about it."""
    def changed(index, value):
        args = _arguments(prog, kernel)
        args[index] = value(args[index])
        return args

    def read_only(a):
        a.flags.writeable = False
        return a

    return {
        "n a numpy integer": changed(0, np.int64),
        "input not contiguous": changed(1, lambda x: np.repeat(x, 2, axis=1)[:, ::2]),
        "input float32": changed(1, lambda x: x.astype(np.float32)),
        "output read-only": changed(2, read_only),
        "output Fortran-ordered": changed(2, lambda y: np.asfortranarray(np.zeros((2, y.shape[1])))[:1]),
        "tangents of another rank": changed(3, lambda t: t.reshape(2, -1)),
        "state a list": changed(4, list),
        "state of three arrays": changed(4, lambda s: s + (s[1],)),
        "params a subclass": changed(5, lambda p: p.view(np.matrix)),
    }


def test_unusual_arguments_are_handed_back_not_run(loaded):
    prog, kernel, machine_code = loaded
    for what, args in _unusual(prog, kernel).items():
        before = _results(args) if isinstance(args[4], tuple) else None
        assert machine_code._fast(*args) is NotImplemented, what
        if before is not None:
            for a, b in zip(_results(args), before):
                np.testing.assert_array_equal(a, b, err_msg=what)
    assert machine_code._fast(-1, *_arguments(prog, kernel)[1:]) is NotImplemented
    assert machine_code._fast(*_arguments(prog, kernel)[:5]) is NotImplemented


def test_a_call_with_unusual_arguments_still_computes_the_same(loaded):
    prog, kernel, machine_code = loaded
    reference = _arguments(prog, kernel)
    machine_code(*reference)
    for what in ("n a numpy integer", "input not contiguous", "output Fortran-ordered"):
        args = _unusual(prog, kernel)[what]
        machine_code(*args)
        np.testing.assert_array_equal(args[2], reference[2], err_msg=what)
        np.testing.assert_array_equal(args[3], reference[3], err_msg=what)


def test_the_gil_is_released_while_the_kernel_runs(loaded):
    """Another Python thread runs during the call: it stamps the time in a loop, and
    some stamps fall in the middle fifth of the call (holding the GIL, the call would
    leave none there: the thread could at most run before or after it)."""
    prog, kernel, machine_code = loaded
    args = _arguments(prog, kernel, n=44100 * 30)
    stamps, stop = [], threading.Event()

    def spin():
        while not stop.is_set():
            stamps.append(time.perf_counter())

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        time.sleep(0.01)
        start = time.perf_counter()
        status = machine_code._fast(*args)
        end = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    assert status is None
    low, high = start + 0.4 * (end - start), start + 0.6 * (end - start)
    assert any(low < s < high for s in stamps)


def test_its_object_code_is_saved_and_loaded_without_compiling(tmp_path, monkeypatch):
    monkeypatch.setenv("FAUSTDIFF_CACHE_DIR", str(tmp_path))
    spec = ((2, False), (2, True), (3, True), (1, True), (1, True), (1, False))
    first = fast_call._object_code(spec, native.ENTRY_ARITY)
    saved = list((tmp_path / "kernels").glob("fast_call.*.o"))
    assert len(saved) == 1

    def no_compiling(*args):
        raise AssertionError("compiled again")

    monkeypatch.setattr(fast_call, "_module_ir", no_compiling)
    assert fast_call._object_code(spec, native.ENTRY_ARITY) == first
    saved[0].write_bytes(b"not a pickle")        # unreadable: compiled (and saved) again
    with pytest.raises(AssertionError, match="compiled again"):
        fast_call._object_code(spec, native.ENTRY_ARITY)


def test_saving_a_kernel_saves_the_fast_call_for_the_process_that_loads_it(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("FAUSTDIFF_CACHE_DIR", str(tmp_path))
    prog = faustdiff.compile(PROGRAM)
    prog.jvp(n=8, x=np.zeros((1, 8)))           # Numba compiles it, then it is saved
    assert isinstance(prog._kernel(True).compute, cache._NumbaKernel)
    assert list((tmp_path / "kernels").glob("k_*.native"))
    assert fast_call.usable()
    assert list((tmp_path / "kernels").glob("fast_call.*.o"))
