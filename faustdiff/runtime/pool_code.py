"""The native code of the batch workers (`workers.py`): waiting for a batch by polling a
counter, and running a batch's items one after the other, without the GIL.

Why native: a thread asleep on a lock costs a system call to wake, and on a virtual
machine whose other core has gone idle much more: about 20 us for the waker and 60 us
before the sleeper runs (measured on the 2-core development machine); a thread that must
take the GIL from another falls asleep the same way. A batch of short renders paid that
as it started and as it ended, and for each handover of the GIL between items. A worker
that polls a counter in native code sees a new batch within nanoseconds, and the thread
that starts the batch makes no system call; when the kernels have native entry points
(`codegen.native`), the workers also take and run every item of the batch there, and
touch neither Python nor the GIL from the start of a batch to its end.

The functions are LLVM IR compiled by llvmlite when first needed and called through
ctypes, which releases the GIL for each call. Numba is not involved, so a process that
loads its kernels from the cache without Numba stays without it.

A batch is described by an int64 array (`DESCRIPTOR_SIZE` slots, `workers.py` writes
them before `publish` bumps STARTED, whose atomic increment publishes them):
STARTED (batches started), FINISHED (workers' runs of a batch done), NEXT (the next item
to take), ITEMS, ENTRY (the address of the entry function the items call, 0 for a
batch of Python jobs), ROWS (the address of an (ITEMS, arity) int64 array of the
entry's arguments, one row an item), STATUS (the address of an int64 array for each
item's status), RESETS and RESET_COUNT (the address and length of an array of
(column, source address, bytes) triples: before each call, that many bytes from the
source are copied to the address in the row's column; this is how an item's state is
cleared, by the thread that is about to run it), DOORBELL (rung by `publish` and
`ring`) and SLEEPERS (workers asleep on the doorbell).

A worker that has polled for a while without a batch goes to sleep, and on Linux it
sleeps in native code too, on a futex on the doorbell's low 32 bits: woken by a caller
that rings, it polls again without needing the GIL. Asleep in Python, on a condition, a
woken worker had to take the GIL from the caller before it could look for the batch;
the caller, preparing the batch in Python, let go of it only when it started its own
items, and a worker woken after a pause of 20 ms joined a batch of two 1.1-ms items
too late to take one. A caller rings as it begins to prepare a batch (`ring`), so that
the worker's own wake-up (about 80 us on the development machine's virtual cores)
overlaps that preparation.
"""
from __future__ import annotations

import ctypes
import platform
import sys
import threading
from typing import List, NamedTuple, Optional

from ..codegen.native import ENTRY_ARITY, target_machine

(STARTED, FINISHED, NEXT, ITEMS, ENTRY, ROWS, STATUS, RESETS, RESET_COUNT, DOORBELL,
 SLEEPERS) = range(11)
DESCRIPTOR_SIZE = 11
_FUTEX_WAIT_PRIVATE, _FUTEX_WAKE_PRIVATE = 128, 129
_ALL = 2 ** 31 - 1


def futex_syscall() -> Optional[int]:
    """The number of Linux's futex system call on this machine, or None where workers
    sleep in Python (another system, or a processor whose number this does not know)."""
    if not sys.platform.startswith("linux") or sys.byteorder != "little":
        return None
    return {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}.get(
        platform.machine().lower())


class PoolCode(NamedTuple):
    """ctypes functions on the compiled code, and the engine that owns it."""

    poll: ctypes._CFuncPtr      # bool poll(int64 *counter, int64 target, int64 turns)
    bump: ctypes._CFuncPtr      # int64 bump(int64 *counter): atomic +1, the old value
    run_items: ctypes._CFuncPtr  # void run_items(int64 *descriptor)
    # int64 serve(int64 *descriptor, int64 seen, int64 turns): see _serve_ir
    serve: ctypes._CFuncPtr
    publish: ctypes._CFuncPtr   # void publish(int64 *descriptor): STARTED + 1, then ring
    ring: ctypes._CFuncPtr      # void ring(int64 *descriptor): wake the sleeping workers
    sleeps_natively: bool       # whether serve sleeps on the doorbell (else it returns)
    engine: object


def _module_ir(arity: int, futex: Optional[int]) -> str:
    from llvmlite import ir

    i1, i32, i64 = ir.IntType(1), ir.IntType(32), ir.IntType(64)
    p64 = i64.as_pointer()
    module = ir.Module(name="faustdiff_pool")

    def function(name, result, *args):
        f = ir.Function(module, ir.FunctionType(result, list(args)), name=f"faustdiff_{name}")
        return f, f.args

    # poll: an acquire load on every turn (a plain load could be hoisted out of the
    # loop, since nothing in it writes memory); x86's `pause` says it is a polling loop
    poll, (counter, target, turns) = function("poll", i1, p64, i64, i64)
    start, loop, wait, done = (poll.append_basic_block(n) for n in ("start", "loop", "wait", "done"))
    b = ir.IRBuilder(start)
    b.branch(loop)
    b.position_at_end(loop)
    turn = b.phi(i64)
    turn.add_incoming(ir.Constant(i64, 0), start)
    b.cbranch(b.icmp_signed(">=", b.load_atomic(counter, "acquire", 8), target), done, wait)
    b.position_at_end(wait)
    if "x86" in _triple():
        b.call(module.declare_intrinsic("llvm.x86.sse2.pause",
                                        fnty=ir.FunctionType(ir.VoidType(), [])), [])
    following = b.add(turn, ir.Constant(i64, 1))
    turn.add_incoming(following, wait)
    b.cbranch(b.icmp_signed("<", following, turns), loop, done)
    b.position_at_end(done)
    reached = b.phi(i1)
    reached.add_incoming(ir.Constant(i1, 1), loop)
    reached.add_incoming(ir.Constant(i1, 0), wait)
    b.ret(reached)

    # bump: sequentially consistent, so that every write before it is seen by whoever
    # sees the new value, and so that a caller that bumps STARTED and then reads
    # SLEEPERS, and a worker that bumps SLEEPERS and then reads STARTED, cannot both
    # miss the other's write (then the worker would sleep through the batch)
    bump, (counter,) = function("bump", i64, p64)
    b = ir.IRBuilder(bump.append_basic_block())
    b.ret(b.atomic_rmw("add", counter, ir.Constant(i64, 1), "seq_cst"))

    # run_items: take the next item until none is left; call the entry with its row
    run_items, (descriptor,) = function("run_items", ir.VoidType(), p64)
    start, take, call, done = (run_items.append_basic_block(n)
                               for n in ("start", "take", "call", "done"))
    ir.IRBuilder(start).branch(take)
    b = ir.IRBuilder(take)
    item = b.atomic_rmw("add", _slot(b, descriptor, NEXT), ir.Constant(i64, 1), "monotonic")
    b.cbranch(b.icmp_signed("<", item, _field(b, descriptor, ITEMS)), call, done)
    b.position_at_end(call)
    rows = b.inttoptr(_field(b, descriptor, ROWS), p64)
    row = b.mul(item, ir.Constant(i64, arity))
    _reset_copies(b, descriptor, rows, row)
    entry_type = ir.FunctionType(i32, [i64] * arity)
    entry = b.inttoptr(_field(b, descriptor, ENTRY), entry_type.as_pointer())
    args = [b.load(b.gep(rows, [b.add(row, ir.Constant(i64, k))])) for k in range(arity)]
    status = b.sext(b.call(entry, args), i64)
    b.store(status, b.gep(b.inttoptr(_field(b, descriptor, STATUS), p64), [item]))
    b.branch(take)
    b.position_at_end(done)
    b.ret_void()

    ring = _ring_ir(module, function, futex)
    publish, (descriptor,) = function("publish", ir.VoidType(), p64)
    b = ir.IRBuilder(publish.append_basic_block())
    b.call(bump, [_slot(b, descriptor, STARTED)])
    b.call(ring, [descriptor])
    b.ret_void()
    _serve_ir(module, function, futex, poll, run_items)
    return str(module)


def _futex(b, futex: int, descriptor, operation: int, value):
    """The futex system call on the descriptor's doorbell (its low 32 bits)."""
    from llvmlite import ir

    i64 = ir.IntType(64)
    syscall = b.module.globals.get("faustdiff_syscall") or ir.Function(
        b.module, ir.FunctionType(i64, [i64], var_arg=True), name="faustdiff_syscall")
    zero = ir.Constant(i64, 0)
    b.call(syscall, [ir.Constant(i64, futex), b.ptrtoint(_slot(b, descriptor, DOORBELL), i64),
                     ir.Constant(i64, operation), value, zero, zero, zero])


def _ring_ir(module, function, futex: Optional[int]):
    """ring(descriptor): the doorbell + 1, and a wake-up for the workers asleep on it."""
    from llvmlite import ir

    i64 = ir.IntType(64)
    ring, (descriptor,) = function("ring", ir.VoidType(), i64.as_pointer())
    b = ir.IRBuilder(ring.append_basic_block())
    b.atomic_rmw("add", _slot(b, descriptor, DOORBELL), ir.Constant(i64, 1), "seq_cst")
    if futex is not None:
        sleepers = b.load_atomic(_slot(b, descriptor, SLEEPERS), "seq_cst", 8)
        with b.if_then(b.icmp_signed(">", sleepers, ir.Constant(i64, 0))):
            _futex(b, futex, descriptor, _FUTEX_WAKE_PRIVATE, ir.Constant(i64, _ALL))
    b.ret_void()
    return ring


def _serve_ir(module, function, futex: Optional[int], poll, run_items) -> None:
    """serve(descriptor, seen, turns): a worker's loop. Runs every native batch after
    batch number `seen`; returns the number of a batch of Python jobs (> 0), which the
    worker runs in Python before it calls serve again with that number. When no batch
    starts within `turns` polls: with a futex, it sleeps on the doorbell until a caller
    rings, then polls again; without, it returns -1 - the last batch number it saw."""
    from llvmlite import ir

    i64 = ir.IntType(64)
    one = ir.Constant(i64, 1)
    serve, (descriptor, seen, turns) = function("serve", i64, i64.as_pointer(), i64, i64)
    start, loop, idle, started, native = (serve.append_basic_block(n) for n in
                                          ("start", "loop", "idle", "started", "native"))
    ir.IRBuilder(start).branch(loop)
    b = ir.IRBuilder(loop)
    last = b.phi(i64)
    last.add_incoming(seen, start)
    following = b.add(last, one)
    b.cbranch(b.call(poll, [_slot(b, descriptor, STARTED), following, turns]), started, idle)
    b.position_at_end(idle)
    if futex is None:
        b.ret(b.sub(ir.Constant(i64, -1), last))
    else:
        # The doorbell as it is before the worker counts itself a sleeper: a ring after
        # that changes it, and the futex then does not sleep.
        bell = b.load_atomic(_slot(b, descriptor, DOORBELL), "seq_cst", 8)
        b.atomic_rmw("add", _slot(b, descriptor, SLEEPERS), one, "seq_cst")
        now = b.load_atomic(_slot(b, descriptor, STARTED), "seq_cst", 8)
        sleep, awake = serve.append_basic_block("sleep"), serve.append_basic_block("awake")
        b.cbranch(b.icmp_signed(">=", now, following), awake, sleep)
        b.position_at_end(sleep)
        low = b.zext(b.trunc(bell, ir.IntType(32)), i64)
        _futex(b, futex, descriptor, _FUTEX_WAIT_PRIVATE, low)
        b.branch(awake)
        b.position_at_end(awake)
        b.atomic_rmw("sub", _slot(b, descriptor, SLEEPERS), one, "seq_cst")
        last.add_incoming(last, awake)
        b.branch(loop)
    b.position_at_end(started)
    python = b.icmp_signed("==", _field(b, descriptor, ENTRY), ir.Constant(i64, 0))
    with b.if_then(python):
        b.ret(following)
    b.branch(native)
    b.position_at_end(native)
    b.call(run_items, [descriptor])
    b.atomic_rmw("add", _slot(b, descriptor, FINISHED), one, "release")
    last.add_incoming(following, native)
    b.branch(loop)


def _slot(b, descriptor, index: int):
    """The address of the descriptor's slot `index`."""
    from llvmlite import ir

    return b.gep(descriptor, [ir.Constant(ir.IntType(64), index)])


def _field(b, descriptor, index: int):
    """The value in the descriptor's slot `index`."""
    return b.load(_slot(b, descriptor, index))


def _reset_copies(b, descriptor, rows, row) -> None:
    """The copies of RESETS for the item whose row starts at rows[row]."""
    from llvmlite import ir

    i8p, i64 = ir.IntType(8).as_pointer(), ir.IntType(64)
    resets = b.inttoptr(_field(b, descriptor, RESETS), i64.as_pointer())
    count = _field(b, descriptor, RESET_COUNT)
    memcpy = b.module.declare_intrinsic("llvm.memcpy", [i8p, i8p, i64])
    start = b.block
    loop = b.append_basic_block("reset")
    done = b.append_basic_block("reset_done")
    b.cbranch(b.icmp_signed(">", count, ir.Constant(i64, 0)), loop, done)
    b.position_at_end(loop)
    k = b.phi(i64)
    k.add_incoming(ir.Constant(i64, 0), start)
    triple = b.mul(k, ir.Constant(i64, 3))
    column, source, size = (b.load(b.gep(resets, [b.add(triple, ir.Constant(i64, j))]))
                            for j in range(3))
    target = b.load(b.gep(rows, [b.add(row, column)]))
    b.call(memcpy, [b.inttoptr(target, i8p), b.inttoptr(source, i8p), size,
                    ir.Constant(ir.IntType(1), 0)])
    following = b.add(k, ir.Constant(i64, 1))
    k.add_incoming(following, loop)
    b.cbranch(b.icmp_signed("<", following, count), loop, done)
    b.position_at_end(done)


def _triple() -> str:
    import llvmlite.binding as ll

    return ll.get_process_triple()


_compiled: List[PoolCode] = []
_lock = threading.Lock()


def pool_code() -> PoolCode:
    """The pool's functions, compiled once per process (a few milliseconds)."""
    if _compiled:
        return _compiled[0]
    with _lock:
        if not _compiled:
            import llvmlite.binding as ll

            futex = futex_syscall()
            if futex is not None:
                syscall = ctypes.CDLL(None).syscall
                ll.add_symbol("faustdiff_syscall", ctypes.cast(syscall, ctypes.c_void_p).value)
            machine = target_machine()
            module = ll.parse_assembly(_module_ir(ENTRY_ARITY, futex))
            module.triple = _triple()
            module.data_layout = str(machine.target_data)
            module.verify()
            engine = ll.create_mcjit_compiler(module, machine)
            engine.finalize_object()
            i64, p = ctypes.c_int64, ctypes.c_void_p

            def bind(name, result, *args):
                address = engine.get_function_address(f"faustdiff_{name}")
                return ctypes.CFUNCTYPE(result, *args)(address)

            _compiled.append(PoolCode(
                bind("poll", ctypes.c_bool, p, i64, i64), bind("bump", i64, p),
                bind("run_items", None, p), bind("serve", i64, p, i64, i64),
                bind("publish", None, p), bind("ring", None, p), futex is not None, engine))
        return _compiled[0]
