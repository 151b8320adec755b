"""The batch workers (faustdiff.runtime.workers): items that are native calls run once
each, after their state is reset, on whichever thread is free; Python jobs run on every
thread; errors reach the caller; pools survive a second caller and a fork."""
import ctypes
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from llvmlite import ir

import faustdiff
from faustdiff.codegen.native import ENTRY_ARITY, STATE_COLUMNS, target_machine
from faustdiff.runtime import workers

STATE = STATE_COLUMNS[0]
TURNS = 2_000_000_000       # a held item waits this many polls at most (seconds)


def _test_entry():
    """An entry function of ENTRY_ARITY int64 arguments, for rows
    (log, item, done, hold_until, 0, ..., state at STATE, ...):
    log[item] = state[0] * 1000 + item, then state[0] = -1; done += 1 (atomic).
    With hold_until > 0 it first waits until done >= hold_until, and returns 1 if it
    gave up after TURNS polls (0 otherwise)."""
    import llvmlite.binding as ll

    i64 = ir.IntType(64)
    p64 = i64.as_pointer()
    module = ir.Module(name="test_entry")
    module.triple = ll.get_process_triple()
    f = ir.Function(module, ir.FunctionType(ir.IntType(32), [i64] * ENTRY_ARITY), name="entry")
    start, wait, again, gave_up, work = (f.append_basic_block(n) for n in
                                         ("start", "wait", "again", "gave_up", "work"))
    b = ir.IRBuilder(start)
    log, item, done, hold = b.inttoptr(f.args[0], p64), f.args[1], b.inttoptr(f.args[2], p64), f.args[3]
    b.cbranch(b.icmp_signed(">", hold, ir.Constant(i64, 0)), wait, work)
    b.position_at_end(wait)
    turn = b.phi(i64)
    turn.add_incoming(ir.Constant(i64, 0), start)
    b.cbranch(b.icmp_signed(">=", b.load_atomic(done, "acquire", 8), hold), work, again)
    b.position_at_end(again)
    following = b.add(turn, ir.Constant(i64, 1))
    turn.add_incoming(following, again)
    b.cbranch(b.icmp_signed("<", following, ir.Constant(i64, TURNS)), wait, gave_up)
    b.position_at_end(gave_up)
    b.ret(ir.Constant(ir.IntType(32), 1))
    b.position_at_end(work)
    state = b.inttoptr(f.args[STATE], p64)
    value = b.add(b.mul(b.load(state), ir.Constant(i64, 1000)), item)
    b.store(value, b.gep(log, [item]))
    b.store(ir.Constant(i64, -1), state)
    b.atomic_rmw("add", done, ir.Constant(i64, 1), "seq_cst")
    b.ret(ir.Constant(ir.IntType(32), 0))
    machine = target_machine()
    parsed = ll.parse_assembly(str(module))
    parsed.data_layout = str(machine.target_data)
    engine = ll.create_mcjit_compiler(parsed, machine)
    engine.finalize_object()
    return engine, engine.get_function_address("entry")


ENGINE, ENTRY = _test_entry()


def _batch(items, hold_first_until=0):
    """Rows for `items` calls of the test entry; their logs, done counter and states."""
    log = np.full(items, -5, dtype=np.int64)
    done = np.zeros(1, dtype=np.int64)
    states = np.full((items, 4), -7, dtype=np.int64)
    rows = np.zeros((items, ENTRY_ARITY), dtype=np.int64)
    rows[:, 0] = log.ctypes.data
    rows[:, 1] = np.arange(items)
    rows[:, 2] = done.ctypes.data
    rows[:1, 3] = hold_first_until
    rows[:, STATE] = states.ctypes.data + np.arange(items) * states.strides[0]
    template = np.array([42, 0, 0, 0], dtype=np.int64)
    resets = [(STATE, template.ctypes.data, template.nbytes)]
    return rows, resets, (log, done, states, template)


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("items", [0, 1, 7, 64])
def test_every_native_item_runs_once_after_its_reset(count, items):
    rows, resets, (log, done, states, _) = _batch(items)
    statuses = workers.run_native(ENTRY, rows, count, resets)
    assert statuses.tolist() == [0] * items
    # each call saw the template's 42 that the reset copied in, not the -7 before it
    assert log.tolist() == [42 * 1000 + i for i in range(items)]
    assert done[0] == items
    assert (states[:, 0] == -1).all() and (states[:, 1:] == 0).all()


def test_repeated_batches_on_the_same_pool():
    for _ in range(200):
        rows, resets, (log, done, _, _) = _batch(5)
        workers.run_native(ENTRY, rows, 2, resets)
        assert done[0] == 5 and log.tolist() == [42000 + i for i in range(5)]


def test_a_held_up_native_item_does_not_hold_up_the_batch():
    """While the first item's thread waits for all the others to be done, the other
    thread runs them all (with shares fixed in advance it would wait, and the first item
    would give up)."""
    items = 9
    rows, resets, (log, done, _, _) = _batch(items, hold_first_until=items - 1)
    statuses = workers.run_native(ENTRY, rows, 2, resets)
    assert statuses[0] == 0
    assert done[0] == items


def test_sleeping_pool_threads_wake_for_each_batch():
    """With more threads than cores the pool's threads sleep as soon as a batch ends (on
    Linux in native code, on the doorbell): each batch below needs one of them awake to
    run the items that the first one waits for, after a pause, and after a `rouse`."""
    count = workers.usable_cores() + 1
    for k in range(12):
        time.sleep(0.005)
        if k % 3 == 0:
            workers.rouse(count)
        items = 2 * count
        rows, resets, (log, done, _, _) = _batch(items, hold_first_until=items - 1)
        statuses = workers.run_native(ENTRY, rows, count, resets)
        assert statuses.tolist() == [0] * items and done[0] == items
    assert workers._POOLS[count - 1]._turns == 0


def test_bad_rows_are_refused():
    with pytest.raises(ValueError, match="arguments"):
        workers.run_native(ENTRY, np.zeros((2, ENTRY_ARITY - 1), dtype=np.int64), 2)
    rows, _, keep = _batch(2)
    with pytest.raises(ValueError, match="column"):
        workers.run_native(ENTRY, rows, 2, [(ENTRY_ARITY, keep[3].ctypes.data, 8)])


def test_a_python_job_runs_on_every_thread_and_its_errors_reach_the_caller():
    names = []
    lock = threading.Lock()

    def job():
        with lock:
            names.append(threading.current_thread().name)

    workers.run_python(job, 3)
    assert len(names) == 3 and len(set(names)) == 3

    def failing():
        if threading.current_thread() is not threading.main_thread():
            raise ZeroDivisionError("in a pool thread")

    with pytest.raises(ZeroDivisionError, match="in a pool thread"):
        workers.run_python(failing, 2)
    names.clear()
    workers.run_python(job, 2)      # the pool still serves
    assert len(names) == 2


def test_two_callers_at_once_both_get_their_batches():
    results = {}

    def caller(key):
        for _ in range(50):
            rows, resets, (log, done, _, _) = _batch(6)
            workers.run_native(ENTRY, rows, 2, resets)
            if done[0] != 6 or log.tolist() != [42000 + i for i in range(6)]:
                results[key] = False
                return
        results[key] = True

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == {0: True, 1: True, 2: True}


FORK_SCRIPT = """
import os, sys
sys.path.insert(0, sys.argv[1])
import test_workers as t
rows, resets, keep = t._batch(4)
t.workers.run_native(t.ENTRY, rows, 2, resets)       # the parent's pool exists
pid = os.fork()
if pid == 0:
    rows, resets, (log, done, _, _) = t._batch(6)
    t.workers.run_native(t.ENTRY, rows, 2, resets)
    os._exit(0 if done[0] == 6 and log.tolist() == [42000 + i for i in range(6)] else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_makes_its_own_pool():
    """(In a process of its own: other tests' libraries, JAX's among them, run threads
    that a fork would cut off.)"""
    done = subprocess.run([sys.executable, "-c", FORK_SCRIPT, str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_entry_pointer_is_a_real_function():
    """(The test entry itself, called alone through ctypes, behaves as documented.)"""
    rows, _, (log, done, states, _) = _batch(1)
    states[0, 0] = 3
    call = ctypes.CFUNCTYPE(ctypes.c_int32, *[ctypes.c_int64] * ENTRY_ARITY)(ENTRY)
    assert call(*rows[0].tolist()) == 0
    assert log[0] == 3000 and done[0] == 1 and states[0, 0] == -1


def test_a_batch_of_a_table_oscillator_runs_natively_and_equals_single_renders():
    """os.osc's state holds its sine table, and a waveform's state its samples: each
    item's state is reset from the program's, also in a second batch, whose state
    arrays are the first one's (left as the first batch ended)."""
    prog = faustdiff.compile('import("stdfaust.lib"); process = os.osc(hslider("f[diff:1]", '
                             '440, 50, 2000, 1)) * hslider("g[diff:1]", 0.5, 0, 1, 0.01) + tab '
                             'with { tab = waveform{0.5, -0.25, 1}, int(os.phasor(3, 40)) : '
                             'rdtable; };')
    settings = [{"f": 100 + 150 * i, "g": 0.1 * i} for i in range(6)]
    prog.jvp(n=10)                  # Numba compiles and saves the kernel's machine code
    for _ in range(2):
        y, dy = prog.jvp_batch(n=3000, params=settings, workers=2)
        assert prog._kernel(True).native() is not None
        for i, p in enumerate(settings):
            y1, d1 = prog.jvp(n=3000, params=p)
            np.testing.assert_array_equal(y[i], y1)
            for key in ("f", "g"):
                np.testing.assert_array_equal(dy[key][i], d1[key])


def test_more_threads_than_cores_sleep_instead_of_polling():
    count = workers.usable_cores() + 1
    rows, resets, (log, done, _, _) = _batch(2 * count)
    workers.run_native(ENTRY, rows, count, resets)
    assert done[0] == 2 * count and log.tolist() == [42000 + i for i in range(2 * count)]
    assert workers._POOLS[count - 1]._turns == 0
    if count > 2:                   # and a pool that leaves a core free polls
        rows, resets, keep = _batch(4)
        workers.run_native(ENTRY, rows, 2, resets)
        assert workers._POOLS[1]._turns > 0
