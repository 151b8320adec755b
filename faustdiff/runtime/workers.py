"""Threads that run a batch's items beside the calling thread, kept for the process.

`run_native(entry, rows, count)` runs items that are calls of a native entry function
(one row of int64 arguments an item): the calling thread and count - 1 pool threads take
items until none is left, all in native code (`pool_code.py`), without the GIL.
`run_python(job, count)` runs a Python `job` on the calling thread and on each pool
thread at once (for kernels without a native entry); the job takes items itself.

Between batches a pool thread polls for the next one for `POLL_SECONDS` before it goes
to sleep (on Linux in native code, on a futex, so that waking needs no GIL; elsewhere on
a condition); the calling thread polls for the pool threads' end the same way. Starting
and ending a batch then costs no system call on either side, and a training loop's step
between two batches (loss, gradient and update in Python) is well inside that time. A
caller about to prepare a batch calls `rouse` first, so that sleeping pool threads wake
while it works. A call never returns while a pool thread still works on its batch.
With more threads than cores, nobody polls.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Dict, NamedTuple, Optional

import numpy as np

from ..codegen.native import ENTRY_ARITY, data_address
from .pool_code import (DESCRIPTOR_SIZE, ENTRY, FINISHED, NEXT, RESET_COUNT, STARTED, PoolCode,
                        pool_code)

POLL_SECONDS = 0.05
# how long the calling thread sleeps between two polls once a batch's pool threads have
# been slower than POLL_SECONDS to finish (items longer than that)
_BACKOFF_SECONDS = 0.0002
_CALIBRATION_TURNS = 20000


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least one."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _descriptor():
    d = np.zeros(DESCRIPTOR_SIZE, dtype=np.int64)
    return d, data_address(d)


class NativeBatch(NamedTuple):
    """Items that are calls of a native entry function (see `run_native`)."""

    entry: int
    rows: np.ndarray        # (items, ENTRY_ARITY) int64: each call's arguments
    resets: np.ndarray      # (copies, 3) int64: (column, source address, bytes)
    statuses: np.ndarray    # (items,) int64: each call's result


def _set_items(d: np.ndarray, batch: NativeBatch) -> None:
    # (one assignment: between two batches the caches hold the last one's data, and
    # every Python step here costs microseconds)
    d[NEXT:RESET_COUNT + 1] = (0, len(batch.rows), batch.entry, data_address(batch.rows),
                               data_address(batch.statuses), data_address(batch.resets),
                               len(batch.resets))


def _turns_per_second(code: PoolCode) -> float:
    """How many polls a second this machine makes (the time of x86's `pause` differs from
    one processor to the next by a factor of ten), on a counter that never changes."""
    d, address = _descriptor()
    start = time.perf_counter()
    code.poll(address, 1, _CALIBRATION_TURNS)
    return _CALIBRATION_TURNS / max(time.perf_counter() - start, 1e-9)


class WorkerPool:
    """`count` daemon threads serving the batches of `run_native` and `run_python`."""

    def __init__(self, count: int, code: PoolCode):
        self.count = count
        self._code = code
        # More threads than cores: a polling thread would take turns with working ones
        # on the same core, so every wait sleeps at once.
        spare_cores = usable_cores() > count
        self._turns = max(1, int(_turns_per_second(code) * POLL_SECONDS)) if spare_cores else 0
        self._d, address = _descriptor()
        self._started, self._finished = address + 8 * STARTED, address + 8 * FINISHED
        self._address = address
        self._changed = threading.Condition()   # a sleeping pool thread waits on it
        self._sleepers = 0
        self._busy = threading.Lock()           # one batch at a time
        self._job: Optional[Callable[[], None]] = None
        self._error: Optional[BaseException] = None
        for k in range(count):
            threading.Thread(target=self._serve, name=f"faustdiff-{k + 1}", daemon=True).start()

    def run_native(self, batch: NativeBatch) -> None:
        if not self._busy.acquire(blocking=False):
            _run_alone(self._code, batch)  # another thread's batch runs
            return
        try:
            _set_items(self._d, batch)
            finished = self._start()
            self._code.run_items(self._address)
            self._wait(finished)
        finally:
            self._busy.release()

    def run_python(self, job: Callable[[], None]) -> None:
        if not self._busy.acquire(blocking=False):
            job()
            return
        try:
            self._d[ENTRY], self._job, self._error = 0, job, None
            finished = self._start()
            try:
                job()
            finally:
                self._wait(finished)
            if self._error is not None:
                raise self._error
        finally:
            self._job = self._error = None
            self._busy.release()

    def rouse(self) -> None:
        """Wake sleeping pool threads, so that they poll for the batch about to start."""
        if self._code.sleeps_natively:
            self._code.ring(self._address)

    def _start(self) -> int:
        """Start the batch described in the descriptor; the FINISHED count at its end."""
        finished = int(self._d[FINISHED]) + self.count
        if self._code.sleeps_natively:
            self._code.publish(self._address)
            return finished
        with self._changed:
            self._code.bump(self._started)
            if self._sleepers:
                self._changed.notify_all()
        return finished

    def _wait(self, finished: int) -> None:
        """Until every pool thread is done with the batch, even when interrupted: the next
        batch rewrites the descriptor they read."""
        interrupted = None
        while True:
            try:
                if self._code.poll(self._finished, finished, self._turns):
                    break
                time.sleep(_BACKOFF_SECONDS)
            except KeyboardInterrupt as exc:
                interrupted = exc
        if interrupted is not None:
            raise interrupted

    def _serve(self) -> None:
        seen = 0
        while True:
            reached = self._code.serve(self._address, seen, self._turns)
            if reached < 0:     # no batch for a while (serve does not sleep): sleep here
                seen = -1 - reached
                with self._changed:
                    while self._d[STARTED] <= seen:
                        self._sleepers += 1
                        try:
                            self._changed.wait()
                        finally:
                            self._sleepers -= 1
                continue
            seen = reached      # a batch of Python jobs
            try:
                self._job()
            except BaseException as exc:    # handed to the caller of run_python
                with self._changed:
                    if self._error is None:
                        self._error = exc
            self._code.bump(self._finished)


_alone = threading.local()     # each thread's descriptor for the batches it runs alone


def _run_alone(code: PoolCode, batch: NativeBatch) -> None:
    own = getattr(_alone, "descriptor", None)
    if own is None:
        own = _alone.descriptor = _descriptor()
    d, address = own
    _set_items(d, batch)
    code.run_items(address)


_POOLS: Dict[int, WorkerPool] = {}
_POOLS_LOCK = threading.Lock()


def _pool(count: int) -> WorkerPool:
    with _POOLS_LOCK:
        if count not in _POOLS:
            _POOLS[count] = WorkerPool(count, pool_code())
        return _POOLS[count]


def run_native(entry: int, rows, count: int, resets=()) -> np.ndarray:
    """Call the native entry function at `entry` (see `codegen.native`) with each row of
    `rows` as its arguments, on the calling thread and count - 1 pool threads; each
    call's status, in item order. Before each call, for each (column, source address,
    bytes) of `resets`, that many bytes are copied from the source to the address in the
    row's column (a state cleared by the thread about to use it, and in parallel)."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if rows.ndim != 2 or rows.shape[1] != ENTRY_ARITY:
        raise ValueError(f"rows of {ENTRY_ARITY} arguments expected, not {rows.shape}")
    resets = np.asarray(resets, dtype=np.int64).reshape(-1, 3)
    if not all(0 <= column < ENTRY_ARITY for column in resets[:, 0].tolist()):
        raise ValueError("a reset's column is not an argument of the entry function")
    batch = NativeBatch(entry, rows, resets, np.zeros(len(rows), dtype=np.int64))
    if count <= 1 or len(rows) <= 1:
        _run_alone(pool_code(), batch)
    else:
        _pool(count - 1).run_native(batch)
    return batch.statuses


def rouse(count: int) -> None:
    """Tell the pool that `run_native` or `run_python` with this count uses, if it exists,
    that a batch is about to start (its sleeping threads wake while the caller prepares it)."""
    pool = _POOLS.get(count - 1) if count > 1 else None
    if pool is not None:
        pool.rouse()


def run_python(job: Callable[[], None], count: int) -> None:
    """Run `job` on the calling thread and count - 1 pool threads at once."""
    if count <= 1:
        job()
    else:
        _pool(count - 1).run_python(job)


def _forget_pools() -> None:
    """A forked child has none of its parent's threads: it makes its own pools."""
    global _POOLS_LOCK
    _POOLS.clear()
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)
