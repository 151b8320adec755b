"""Calling a native kernel (`native.NativeKernel`) from Python in about a microsecond.

Through ctypes a call cost 13-20 us before the kernel ran: each of the six arrays' data
pointer found through a buffer request and its checks in Python, then 18 integers
converted by ctypes. A 2-s biquad render takes 130 us, a training step on a short
block far less. Numba's own dispatcher reads its arguments in C in about a microsecond;
this does the same without Numba: a small function in LLVM IR, compiled once per process
by llvmlite and made a Python builtin (`PyCFunction_NewEx`, METH_FASTCALL), reads each
array's fields from the ndarray object itself, checks type, dimensions, dtype and
flags, releases the GIL around the kernel's entry function and returns None, or the
kernel's status, or NotImplemented for any argument it does not take (the caller then
goes the ctypes way, which hands anything unusual to the Numba kernel).

It relies on the layout of CPython objects (the object header, a tuple's size and items)
and of NumPy's array struct (data, nd, dimensions, descr, flags: unchanged since NumPy
1.7). `_layout_holds` checks every offset used here against live objects through ctypes
before the first use, and without a match (another interpreter build, another NumPy)
nothing is compiled and kernels are called through ctypes as before.
"""
from __future__ import annotations

import ctypes
import hashlib
import pickle
import threading
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .native import target_machine

# Offsets, in bytes, in CPython and NumPy objects (64-bit builds).
_TYPE = 8                                       # ob_type, after ob_refcnt
_TUPLE_SIZE, _TUPLE_ITEMS = 16, 24              # ob_size; ob_item[]
_DATA, _NDIM, _DIMS, _DESCR, _FLAGS = 16, 24, 32, 56, 64   # PyArrayObject_fields
_C_CONTIGUOUS, _ALIGNED, _WRITEABLE = 0x0001, 0x0100, 0x0400
_METH_FASTCALL = 0x0080

# The C API functions the compiled code calls, bound to the interpreter's own.
_API = ("PyLong_AsVoidPtr", "PyLong_AsLongLong", "PyLong_FromLongLong", "PyErr_Occurred",
        "PyErr_Clear", "PyEval_SaveThread", "PyEval_RestoreThread", "Py_IncRef")

# Slots of a kernel's record (an int64 array the builtin's `self` points to).
_ENTRY, _FUNCTION, _EMPTY, _DESCRS = 0, 1, 2, 3

# Statuses of Numba's calling convention that mean success (as native.check_status).
_SUCCESS = (0, -2)


def _layout_holds() -> bool:
    """Whether the offsets above read what they should from live objects."""
    def word(address):
        return ctypes.c_int64.from_address(address).value

    try:
        a = np.zeros((2, 3))
        b = np.zeros(5, dtype=np.float32)[::2]          # not contiguous, another dtype
        t = (a, b)
        for x in (a, b):
            if (word(id(x) + _TYPE) != id(np.ndarray) or word(id(x) + _DATA) != x.ctypes.data
                    or ctypes.c_int32.from_address(id(x) + _NDIM).value != x.ndim
                    or word(id(x) + _DESCR) != id(x.dtype)):
                return False
            dims = word(id(x) + _DIMS)
            if [word(dims + 8 * k) for k in range(x.ndim)] != list(x.shape):
                return False
            flags = ctypes.c_int32.from_address(id(x) + _FLAGS).value
            if (bool(flags & _C_CONTIGUOUS) != x.flags.c_contiguous
                    or bool(flags & _ALIGNED) != x.flags.aligned
                    or bool(flags & _WRITEABLE) != x.flags.writeable):
                return False
        return (word(id(t) + _TYPE) == id(tuple) and word(id(t) + _TUPLE_SIZE) == 2
                and word(id(t) + _TUPLE_ITEMS) == id(a) and word(id(t) + _TUPLE_ITEMS + 8) == id(b)
                and word(id(7) + _TYPE) == id(int))
    except Exception:
        return False


def _module_ir(spec: Sequence[Tuple[int, bool]], arity: int) -> str:
    """`PyObject *faustdiff_fast_call(PyObject *self, PyObject **args, Py_ssize_t nargs)`
    for `compute(n, a0, a1, a2, (a3, a4), a5)` with arrays of `spec` (ndim, written).
    `self` is an int: the address of the kernel's record."""
    from llvmlite import ir

    i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
    obj = i8.as_pointer()
    module = ir.Module(name="faustdiff_fast_call")

    def declare(name, result, *args):
        return ir.Function(module, ir.FunctionType(result, list(args)), name=name)

    as_pointer = declare("PyLong_AsVoidPtr", obj, obj)
    as_long = declare("PyLong_AsLongLong", i64, obj)
    from_long = declare("PyLong_FromLongLong", obj, i64)
    occurred = declare("PyErr_Occurred", obj)
    clear = declare("PyErr_Clear", ir.VoidType())
    save = declare("PyEval_SaveThread", obj)
    restore = declare("PyEval_RestoreThread", ir.VoidType(), obj)
    incref = declare("Py_IncRef", ir.VoidType(), obj)
    # the process's objects the code compares with or returns, set before the first call
    globals_ = {}
    for name in ("ndarray", "tuple", "int", "none", "not_implemented"):
        g = ir.GlobalVariable(module, i64, name=f"faustdiff_fast_{name}")
        g.initializer = ir.Constant(i64, 0)
        globals_[name] = g

    f = declare("faustdiff_fast_call", obj, obj, obj.as_pointer(), i64)
    self_, args, nargs = f.args
    b = ir.IRBuilder(f.append_basic_block("entry"))
    fail = f.append_basic_block("fail")

    def word(base, offset, width=i64):
        address = b.add(b.ptrtoint(base, i64), ir.Constant(i64, offset))
        return b.load(b.inttoptr(address, width.as_pointer()))

    def require(condition):
        ok = f.append_basic_block()
        b.cbranch(condition, ok, fail)
        b.position_at_end(ok)

    def is_(value, name):
        return b.icmp_unsigned("==", value, b.load(globals_[name]))

    record = b.bitcast(b.call(as_pointer, [self_]), i64.as_pointer())

    def slot(index):
        return b.load(b.gep(record, [ir.Constant(i64, index)]))

    require(b.icmp_signed("==", nargs, ir.Constant(i64, 6)))
    given = [b.load(b.gep(args, [ir.Constant(i64, k)])) for k in range(6)]
    n_obj, state = given[0], given[4]
    require(is_(word(n_obj, _TYPE), "int"))
    n = b.call(as_long, [n_obj])
    failed = b.icmp_signed("==", n, ir.Constant(i64, -1))
    with b.if_then(failed):
        error = b.icmp_unsigned("!=", b.ptrtoint(b.call(occurred, []), i64), ir.Constant(i64, 0))
        with b.if_then(error):
            b.call(clear, [])
            b.branch(fail)
    require(b.icmp_signed(">=", n, ir.Constant(i64, 0)))
    require(is_(word(state, _TYPE), "tuple"))
    require(b.icmp_signed("==", word(state, _TUPLE_SIZE), ir.Constant(i64, 2)))
    arrays = [given[1], given[2], given[3],
              b.inttoptr(word(state, _TUPLE_ITEMS), obj),
              b.inttoptr(word(state, _TUPLE_ITEMS + 8), obj), given[5]]
    flat = [n]
    for index, (array, (ndim, written)) in enumerate(zip(arrays, spec)):
        require(is_(word(array, _TYPE), "ndarray"))
        require(b.icmp_signed("==", word(array, _NDIM, i32), ir.Constant(i32, ndim)))
        require(b.icmp_unsigned("==", word(array, _DESCR), slot(_DESCRS + index)))
        needed = _C_CONTIGUOUS | _ALIGNED | (_WRITEABLE if written else 0)
        flags = b.and_(word(array, _FLAGS, i32), ir.Constant(i32, needed))
        require(b.icmp_unsigned("==", flags, ir.Constant(i32, needed)))
        dims = b.inttoptr(word(array, _DIMS), i64.as_pointer())
        shape = [b.load(b.gep(dims, [ir.Constant(i64, k)])) for k in range(ndim)]
        count = ir.Constant(i64, 1)
        for extent in shape:
            count = b.mul(count, extent)
        # an empty array's pointer is never read; pass one that is valid anyway
        empty = b.icmp_signed("==", count, ir.Constant(i64, 0))
        flat += [b.select(empty, slot(_EMPTY), word(array, _DATA))] + shape
    entry_type = ir.FunctionType(i32, [i64] * arity)
    entry = b.inttoptr(slot(_ENTRY), entry_type.as_pointer())
    thread = b.call(save, [])
    status = b.sext(b.call(entry, [slot(_FUNCTION)] + flat), i64)
    b.call(restore, [thread])
    success = b.or_(*[b.icmp_signed("==", status, ir.Constant(i64, s)) for s in _SUCCESS])
    with b.if_then(success):
        none = b.inttoptr(b.load(globals_["none"]), obj)
        b.call(incref, [none])
        b.ret(none)
    b.ret(b.call(from_long, [status]))
    b.position_at_end(fail)
    not_implemented = b.inttoptr(b.load(globals_["not_implemented"]), obj)
    b.call(incref, [not_implemented])
    b.ret(not_implemented)
    return str(module)


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


class _Compiled:
    """The compiled function for one argument spec, and what keeps it alive."""

    def __init__(self, spec: Sequence[Tuple[int, bool]], arity: int):
        import llvmlite.binding as ll

        for name in _API:
            ll.add_symbol(name, ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value)
        module = ll.parse_assembly("")
        module.triple = ll.get_process_triple()
        self._engine = ll.create_mcjit_compiler(module, target_machine())
        self._engine.add_object_file(ll.ObjectFileRef.from_data(_object_code(spec, arity)))
        self._engine.finalize_object()
        for name, value in (("ndarray", np.ndarray), ("tuple", tuple), ("int", int),
                            ("none", None), ("not_implemented", NotImplemented)):
            address = self._engine.get_global_value_address(f"faustdiff_fast_{name}")
            ctypes.c_int64.from_address(address).value = id(value)
        self._method = _MethodDef(b"compute", self._engine.get_function_address(
            "faustdiff_fast_call"), _METH_FASTCALL, None)

    def builtin(self, record: np.ndarray) -> Callable:
        """A builtin calling the kernel of `record` (kept alive by the caller)."""
        return _new_builtin(ctypes.byref(self._method), int(record.ctypes.data), None)


# PyCFunction_NewEx(method, self, module) with a prototype of its own (setting argtypes on
# ctypes.pythonapi's would change it for every other user in the process)
_new_builtin = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.POINTER(_MethodDef), ctypes.py_object,
                                 ctypes.c_void_p)(("PyCFunction_NewEx", ctypes.pythonapi))


def _object_code(spec: Sequence[Tuple[int, bool]], arity: int) -> bytes:
    """The function's object code: from the kernel cache, else compiled (building the IR
    and emitting code took 30 ms, a kernel loaded from the cache 3 ms) and saved there.
    It holds no address of this process: the objects it compares with are globals set
    after loading, the C API functions symbols bound at loading."""
    import llvmlite

    from ..cachedir import load_builtins, writable_subdir, write_atomic
    from .native import machine_tuple, object_code

    # this file's text stands for the code it generates: an object saved by another
    # version of it is not used
    this = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    key = repr((machine_tuple(), llvmlite.__version__, this, tuple(spec), arity))
    folder = writable_subdir("kernels")
    path = (folder / f"fast_call.{hashlib.sha256(key.encode()).hexdigest()[:16]}.o"
            if folder is not None else None)
    if path is not None and path.exists():
        try:
            record = load_builtins(path)
            if isinstance(record, dict) and record.get("key") == key:
                return record["object"]
        except Exception:
            pass
    obj = object_code(_module_ir(spec, arity))
    if path is not None:
        try:
            write_atomic(path, pickle.dumps({"key": key, "object": obj}))
        except OSError:
            pass
    return obj


_compiled: dict = {}
_usable: List[bool] = []
_lock = threading.Lock()


def usable() -> bool:
    """Whether this process's objects have the layouts the fast call reads."""
    with _lock:
        if not _usable:
            _usable.append(_layout_holds())
        return _usable[0]


def prepare(spec: Sequence[Tuple[type, int]], written: Sequence[bool], arity: int) -> None:
    """Save the object code `fast_call` will need for these arguments, if it is not saved
    yet: done where a kernel's machine code is saved, so that the next process, which
    loads it, does not compile this either."""
    if usable():
        try:
            _object_code(_key(spec, written), arity)
        except Exception:       # (that process will compile it)
            pass


def _key(spec, written) -> Tuple[Tuple[int, bool], ...]:
    return tuple((ndim, bool(w)) for (_, ndim), w in zip(spec, written))


def fast_call(spec: Sequence[Tuple[type, int]], written: Sequence[bool], arity: int,
              entry: int, function: int, empty: int) -> Optional[Tuple[Callable, np.ndarray]]:
    """(builtin, record) calling `entry(function, n, data0, shape0..., ...)` for arrays of
    `spec` ((dtype, ndim) each; `written` ones must be writable); keep the record alive as
    long as the builtin. None where the object layouts are not the expected ones or the
    code cannot be compiled."""
    key = (_key(spec, written), arity)
    if not usable():
        return None
    with _lock:
        try:
            if key not in _compiled:
                _compiled[key] = _Compiled(key[0], arity)
            record = np.array([entry, function, empty]
                              + [id(np.dtype(dtype)) for dtype, _ in spec], dtype=np.int64)
            return _compiled[key].builtin(record), record
        except Exception:
            _usable[0] = False
            return None
