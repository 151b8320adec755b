"""Program results are the caller's: reusing output memory between calls never changes an
array the caller still holds, and a reused array starts from the values a fresh one has."""
import gc

import numpy as np

import faustdiff

# Output 0 depends on both parameters, output 1 on "b" only: the kernel never writes
# d(output 1)/da, which must read as zeros on every call.
CODE = ('a = hslider("a[diff:1]", 0.5, 0, 1, 0.01); b = hslider("b[diff:1]", 0.5, 0, 1, 0.01);'
        'process = _ <: (_ * a : + ~ *(b)), *(b);')


def test_results_held_by_the_caller_are_never_overwritten():
    prog = faustdiff.compile(CODE)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 2000))
    kept = []
    for value in (0.1, 0.3, 0.7, 0.2, 0.9):
        y, dy = prog.jvp(x, params={"a": value})
        kept.append((value, y, dy["a"], dy["b"], y.copy(), dy["a"].copy(), dy["b"].copy()))
    rows = [prog.render(x, params={"b": value})[1] for value in (0.2, 0.4)]
    for value, y, da, db, y0, da0, db0 in kept:
        np.testing.assert_array_equal(y, y0)
        np.testing.assert_array_equal(da, da0)
        np.testing.assert_array_equal(db, db0)
    np.testing.assert_allclose(rows[0], 0.2 * x[0])
    np.testing.assert_allclose(rows[1], 0.4 * x[0])


def test_reused_arrays_hold_what_fresh_ones_would():
    prog = faustdiff.compile(CODE)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 2000))
    fresh_y, fresh = prog.jvp(x, params={"a": 0.25, "b": 0.75})
    fresh = {k: v.copy() for k, v in fresh.items()}
    fresh_y = fresh_y.copy()
    seen = set()
    for value in (0.1, 0.6, 0.25):
        # the previous results are dropped, so their memory comes back
        y, dy = prog.jvp(x, params={"a": value, "b": 0.75})
        seen.add(y.__array_interface__["data"][0])
        dy["a"] += 1.0  # a caller may write into what it was given
        del y, dy
        gc.collect()
    y, dy = prog.jvp(x, params={"a": 0.25, "b": 0.75})
    assert y.__array_interface__["data"][0] in seen  # the memory was reused
    assert _is_kept(prog, y)  # (the same array, not only the same address)
    np.testing.assert_array_equal(y, fresh_y)
    np.testing.assert_array_equal(dy["a"], fresh["a"])
    np.testing.assert_array_equal(dy["b"], fresh["b"])
    assert not dy["a"][1].any()  # output 1 does not depend on a


def test_reused_batches_hold_what_fresh_ones_would():
    prog = faustdiff.compile(CODE)
    x = np.random.default_rng(2).uniform(-1, 1, (1, 500))
    settings = [{"a": 0.2}, {"a": 0.8, "b": 0.1}]
    first_y, first = prog.jvp_batch(x, params=settings, workers=2)
    first = {k: v.copy() for k, v in first.items()}
    first_y = first_y.copy()
    for _ in range(3):
        prog.jvp_batch(x, params=[{"a": 0.5}, {"b": 0.9}], workers=2)
    y, dy = prog.jvp_batch(x, params=settings, workers=2)
    assert _is_kept(prog, y)
    np.testing.assert_array_equal(y, first_y)
    for k in first:
        np.testing.assert_array_equal(dy[k], first[k])


def _is_kept(prog, y) -> bool:
    """Whether y is one of the arrays the jvp kernel keeps for reuse."""
    kept = prog._kernel(True).buffers._kept.get(("outputs", y.shape), [])
    return any(a is y for a in kept)
