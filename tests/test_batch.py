"""Program.render_batch / jvp_batch: a batch equals its items rendered one by one."""
import threading

import numpy as np
import pytest

import faustdiff
from faustdiff.errors import FaustRuntimeError

CODE = ('import("stdfaust.lib"); process = fi.resonlp(hslider("fc[diff:1]", 1000, 50, 5000, 1), '
        'hslider("q[diff:1]", 2, 0.5, 10, 0.01), 1) : @(hslider("d", 3, 0, 10, 1));')


@pytest.fixture(scope="module")
def prog():
    return faustdiff.compile(CODE)


def test_render_batch_equals_single_renders(prog):
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3000))
    settings = [{"fc": 200 + 300 * i, "q": 1 + i, "d": i} for i in range(5)]
    batch = prog.render_batch(x, params=settings, workers=2)
    assert batch.shape == (5, 1, 3000)
    for item, p in zip(batch, settings):
        np.testing.assert_array_equal(item, prog.render(x, params=p))


def test_jvp_batch_with_one_input_per_item(prog):
    xs = np.random.default_rng(1).uniform(-1, 1, (3, 1, 1000))
    y, dy = prog.jvp_batch(xs, params=[{"fc": 500}, {"fc": 900}, {"q": 4}], workers=2)
    for i, p in enumerate([{"fc": 500}, {"fc": 900}, {"q": 4}]):
        y1, d1 = prog.jvp(xs[i], params=p)
        np.testing.assert_array_equal(y[i], y1)
        np.testing.assert_array_equal(dy["fc"][i], d1["fc"])
        np.testing.assert_array_equal(dy["q"][i], d1["q"])


def test_batch_size_mismatch_is_a_clear_error(prog):
    with pytest.raises(FaustRuntimeError, match="one input per item"):
        prog.render_batch(np.zeros((2, 1, 10)), params=[{}, {}, {}])


def test_an_empty_batch_gives_empty_results(prog):
    x = np.zeros((1, 100))
    assert prog.render_batch(x, params=[]).shape == (0, 1, 100)
    y, dy = prog.jvp_batch(x, params=[])
    assert y.shape == dy["fc"].shape == dy["q"].shape == (0, 1, 100)
    assert prog.render_batch(np.zeros((0, 1, 100)), n=40).shape == (0, 1, 40)
    with pytest.raises(FaustRuntimeError, match="expected"):  # still the items' shape
        prog.render_batch(np.zeros((0, 2, 100)))


def test_a_held_up_worker_does_not_hold_up_the_batch(monkeypatch):
    """Items go to whichever worker is free: while one worker is held up on its first
    item, the other renders all the rest (with equal shares fixed in advance it would
    stop at its own share and wait)."""
    prog = faustdiff.compile(CODE)
    kernel = prog._kernel(False, False)
    compute = kernel.compute
    caller = threading.get_ident()
    done_by_caller = []
    other_started, rest_done = threading.Event(), threading.Event()
    count = 8

    def watched(*args):
        if threading.get_ident() != caller:
            if not other_started.is_set():
                other_started.set()
                rest_done.wait(timeout=5)   # held up until the caller has done the others
        else:
            other_started.wait(timeout=5)   # both workers have begun
        compute(*args)
        if threading.get_ident() == caller:
            done_by_caller.append(1)
            if len(done_by_caller) == count - 1:
                rest_done.set()

    monkeypatch.setattr(kernel, "compute", watched)
    monkeypatch.setattr(kernel, "native", lambda: None)     # the Python jobs' path
    x = np.random.default_rng(2).uniform(-1, 1, (1, 500))
    settings = [{"fc": 200 + 100 * i} for i in range(count)]
    batch = prog.render_batch(x, params=settings, workers=2)
    assert len(done_by_caller) == count - 1
    monkeypatch.undo()
    for item, p in zip(batch, settings):
        np.testing.assert_array_equal(item, prog.render(x, params=p))


@pytest.mark.parametrize("precision", ["double", "single"])
@pytest.mark.parametrize("per_item_inputs", [False, True])
def test_native_batch_rows_are_the_single_calls_arguments(precision, per_item_inputs):
    """A native batch's rows, made from each batch array's address and strides, are the
    arguments each item's own call would pass; and the batch equals the single calls."""
    prog = faustdiff.compile(CODE, precision=precision)
    x = np.random.default_rng(4).uniform(-1, 1, (3, 1, 700) if per_item_inputs else (1, 700))
    settings = [{"fc": 300 + 200 * i, "d": i} for i in range(3)]
    prog.jvp(x[0] if per_item_inputs else x)       # compiled, its machine code saved
    kernel = prog._kernel(True)
    native = kernel.native()
    assert native is not None
    outputs, tangents = kernel.arrays((3,), 2, 1, 700)
    fstates, istates = kernel.batch_states(3)
    pvalues = np.stack([prog._param_values(p) for p in settings]).astype(kernel.float_dtype)
    inputs = np.ascontiguousarray(x)
    rows = native.batch_arguments(700, inputs, outputs, tangents, fstates, istates, pvalues)
    for i in range(3):
        single = native.call_arguments(700, inputs[i] if per_item_inputs else inputs,
                                       outputs[i], tangents[i], (fstates[i], istates[i]),
                                       pvalues[i])
        assert rows[i].tolist() == single
    y, dy = prog.jvp_batch(x, params=settings, workers=2)
    for i, p in enumerate(settings):
        y1, d1 = prog.jvp(x[i] if per_item_inputs else x, params=p)
        np.testing.assert_array_equal(y[i], y1)
        np.testing.assert_array_equal(dy["fc"][i], d1["fc"])
