"""Kernels run from their saved machine code, without Numba's compiler.

Loading a cached kernel through Numba costs about half a second in a new process, whatever
the kernel: Numba initialises its whole target context (typing and lowering registries,
and, when SciPy is installed, an import of `scipy.linalg` for a BLAS probe) before it
even reads its cache. Loading the same machine code with llvmlite alone takes a few
milliseconds, so a kernel's object code is also kept in a file of its own:

* **export** (in a process where Numba has compiled or loaded the kernel): the object
  code Numba produced for the kernel's one signature (the same bytes Numba's own cache
  holds), the name of its native function, a small entry function compiled here (below),
  and Numba's description of the machine the code is for (triple, CPU name, features);
* **load** (in a later process): an MCJIT engine of its own receives both objects, their
  undefined symbols are bound exactly as Numba binds them (Numba's C helpers, the NRT, the
  C math functions Numba routes through its helper library, those the kernels call by
  names of their own; the rest from the process),
  and the entry function is called through a fast-call builtin (`fast_call.py`, about
  1 us a call), or through ctypes for arguments that builtin does not take.

The native function uses Numba's internal calling convention: an i32 status, a pointer
for the return value, a pointer for exception information, then every argument
flattened into scalars; an array becomes (meminfo, parent, nitems, itemsize, data,
shape..., strides...) and a tuple the concatenation of its members. Export checks that
Numba still describes the kernel this way and writes nothing otherwise; load refuses
anything it cannot bind; in both cases the Numba path runs as before. The entry function
(the same for every kernel of a precision) takes the native function's address and each
array's data pointer and shape (18 integers instead of 53 arguments: a ctypes call costs
about 90 ns per argument) and fills in the rest: NULL meminfo and parent (as for arrays
made by `numba.carray`), the item count, the item size and C-order strides (Numba
indexes 'C' arrays from their shape alone). Both paths execute the
same machine code, so they give bit-identical results.
"""
from __future__ import annotations

import builtins
import ctypes
import hashlib
import pickle
import struct
import threading
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import numpy as np

from ..cachedir import load_builtins, write_atomic
from . import libm

FORMAT = 3  # (changes with the layout of the file or the entry function's arguments)
SUFFIX = ".native"
ENTRY = "faustdiff_native_entry"

# Statuses of Numba's calling convention that mean success: RETCODE_OK, and RETCODE_NONE
# (what a function returning None gives).
_SUCCESS = (0, -2)


def check_status(status: int) -> None:
    """The kernels use error_model="numpy" and no bounds checks: nothing in them raises.
    Should that change, say so rather than return garbage."""
    if status not in _SUCCESS:
        from ..errors import FaustRuntimeError

        raise FaustRuntimeError(f"the kernel failed (status {status})")


# ----------------------------------------------------------------------------- signature

def argument_spec(precision: str) -> Tuple[Tuple[type, int], ...]:
    """(dtype, ndim) of the array arguments of `compute(n, inputs, outputs, tangents,
    (fstate, istate), params)`, in order, after the leading int64 `n`."""
    real = np.float32 if precision == "single" else np.float64
    return ((np.float64, 2), (np.float64, 2), (np.float64, 3), (real, 1), (np.int64, 1),
            (real, 1))


def _flat_kinds(spec) -> List[str]:
    """The flattened native arguments after retptr/excinfo: 'i' an int64, 'p' a pointer."""
    kinds = ["i"]  # n
    for _, ndim in spec:
        kinds += ["p", "p", "i", "i", "p"] + ["i"] * (2 * ndim)
    return kinds


def _entry_arity(spec) -> int:
    """Arguments of the entry function: n, then each array's data pointer and shape."""
    return 1 + sum(1 + ndim for _, ndim in spec)


# Which arrays of `argument_spec` the kernel writes (a fast call requires them writable;
# inputs and params may be read-only).
WRITTEN = (False, True, True, True, True, False)

# Arguments of every kernel's entry function, the native function's address first (the
# same for both precisions: their arrays have the same dimensions).
ENTRY_ARITY = 1 + _entry_arity(argument_spec("double"))


def _pointer_column(array: int) -> int:
    """Where the entry function's arguments hold the data pointer of array `array` of
    `argument_spec` (before it: the function, n, and each earlier array's pointer and
    shape)."""
    return 2 + sum(1 + ndim for _, ndim in argument_spec("double")[:array])


# the data pointers of fstate and istate (arrays 3 and 4)
STATE_COLUMNS = (_pointer_column(3), _pointer_column(4))


def numba_signature(precision: str):
    from numba import types
    from numba.np.numpy_support import from_dtype

    def array(dtype, ndim):
        return types.Array(from_dtype(np.dtype(dtype)), ndim, "C")

    spec = argument_spec(precision)
    arrays = [array(*s) for s in spec]
    return (types.int64, arrays[0], arrays[1], arrays[2], types.Tuple((arrays[3], arrays[4])),
            arrays[5])


# ----------------------------------------------------------------------------- the machine

_machine: Optional[Tuple[str, str, str]] = None


def machine_tuple() -> Tuple[str, str, str]:
    """What Numba's JIT code generation specialises for (its `magic_tuple`): the process
    triple, the CPU name and the CPU features, honouring NUMBA_CPU_NAME/FEATURES and
    NUMBA_ENABLE_AVX as Numba does (it reads them once, at import, and so does this).
    Machine code is only reused where this is equal."""
    global _machine
    if _machine is None:
        import llvmlite.binding as ll
        from numba.core import config
        from numba.core.codegen import get_host_cpu_features

        cpu = config.CPU_NAME if config.CPU_NAME is not None else ll.get_host_cpu_name()
        features = (config.CPU_FEATURES if config.CPU_FEATURES is not None
                    else get_host_cpu_features())
        _machine = (ll.get_process_triple(), cpu, features)
    return _machine


def artifact_path(folder: Path, digest: str) -> Path:
    """The file of kernel `digest` for this machine and llvmlite version."""
    import llvmlite

    h = hashlib.sha256(repr((machine_tuple(), llvmlite.__version__, FORMAT)).encode())
    return folder / f"k_{digest}.{h.hexdigest()[:16]}{SUFFIX}"


def target_machine():
    """A target machine with the options of Numba's JIT (numba.core.codegen.JITCPUCodegen)."""
    import llvmlite.binding as ll

    ll.initialize_native_target()
    ll.initialize_native_asmprinter()
    target = ll.Target.from_triple(ll.get_process_triple())
    _, cpu, features = machine_tuple()
    options = dict(cpu=cpu, features=features, codemodel="jitdefault",
                   reloc="static" if target.name.startswith("x86")
                   else "pic" if target.name.startswith("ppc") else "default")
    try:
        return target.create_target_machine(jit=True, **options)
    except TypeError:  # an llvmlite without the `jit` option
        return target.create_target_machine(**options)


# ----------------------------------------------------------------------------- export

def export(dispatcher, precision: str, path: Path) -> bool:
    """Save the machine code of `dispatcher`'s canonical overload to `path`. Returns
    whether it was written; any doubt about the layout leaves no file."""
    try:
        from llvmlite import ir
        from numba import types

        signature = numba_signature(precision)
        cres = dispatcher.overloads.get(signature)
        if cres is None:
            return False
        context = cres.target_context
        if type(context.call_conv).__name__ != "CPUCallConv":
            return False
        if cres.signature.return_type != types.none:
            return False
        fnty = context.call_conv.get_function_type(cres.signature.return_type,
                                                   cres.signature.args)
        kinds = []
        for t in fnty.args[2:]:
            if isinstance(t, ir.PointerType):
                kinds.append("p")
            elif isinstance(t, ir.IntType) and t.width == 64:
                kinds.append("i")
            else:
                return False
        if (kinds != _flat_kinds(argument_spec(precision))
                or not isinstance(fnty.return_type, ir.IntType)
                or fnty.return_type.width != 32
                or not all(isinstance(t, ir.PointerType) for t in fnty.args[:2])):
            return False
        if tuple(context.codegen().magic_tuple()) != machine_tuple():
            return False  # our reading of the machine would not match Numba's
        symbol = cres.fndesc.llvm_func_name
        obj = _object_code(dispatcher, cres, signature)
        table = _symbols(obj) if obj else None
        if table is None or symbol not in table[0]:
            return False
        entry = _compile_entry(fnty, argument_spec(precision))
        if _symbols(entry) != ({ENTRY}, set()):
            return False
        record = {"format": FORMAT, "symbol": symbol, "machine": machine_tuple(),
                  "precision": precision, "object": bytes(obj), "entry": entry,
                  "arity": 1 + _entry_arity(argument_spec(precision))}
        write_atomic(path, pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL))
        from .fast_call import prepare

        prepare(argument_spec(precision), WRITTEN, record["arity"])  # for the process loading it
        return True
    except Exception:  # a cache that cannot be written only costs speed later
        return False


def _object_code(dispatcher, cres, signature) -> Optional[bytes]:
    """The object code of the overload: still in memory right after Numba compiled it;
    after a load from Numba's cache the engine has consumed it, so it is read back from
    that cache (the very bytes Numba just loaded)."""
    obj = getattr(cres.library, "_compiled_object", None)
    if obj:
        return bytes(obj)
    cache = getattr(dispatcher, "_cache", None)
    if cache is None or not hasattr(cache, "_cache_file"):
        return None
    data = cache._cache_file.load(cache._index_key(signature, cres.target_context.codegen()))
    try:
        _, kind, (obj, _) = data[0]
    except (TypeError, ValueError, IndexError):
        return None
    return obj if kind == "object" and isinstance(obj, bytes) else None


_entries: Dict[str, bytes] = {}


def _compile_entry(fnty, spec) -> bytes:
    """Object code of `i32 ENTRY(i64 function, i64 n, i64 data0, i64 shape0..., i64 data1,
    ...)`, which calls `function`, a native function of type `fnty`, with every flattened
    argument. It depends only on the precision, so a process compiles it once."""
    key = str(fnty)
    if key in _entries:
        return _entries[key]
    import llvmlite.binding as ll
    from llvmlite import ir

    i64 = ir.IntType(64)
    module = ir.Module(name="faustdiff_native_entry")
    module.triple = ll.get_process_triple()
    entry = ir.Function(module, ir.FunctionType(ir.IntType(32),
                                                [i64] * (1 + _entry_arity(spec))), name=ENTRY)
    b = ir.IRBuilder(entry.append_basic_block())
    given = iter(entry.args)
    function = b.inttoptr(next(given), fnty.as_pointer())
    # the return slot (a None result is stored as a pointer) and the exception slot
    slots = [b.bitcast(b.alloca(ir.ArrayType(i64, 2)), t) for t in fnty.args[:2]]
    flat = [next(given)]  # n
    for dtype, ndim in spec:
        data = next(given)
        shape = [next(given) for _ in range(ndim)]
        itemsize = ir.Constant(i64, np.dtype(dtype).itemsize)
        count = ir.Constant(i64, 1)
        for extent in shape:
            count = b.mul(count, extent)
        strides = [itemsize]
        for extent in reversed(shape[1:]):
            strides.insert(0, b.mul(strides[0], extent))
        flat += [None, None, count, itemsize, data] + shape + strides
    args = []
    for value, t in zip(flat, fnty.args[2:]):
        if isinstance(t, ir.PointerType):
            args.append(ir.Constant(t, None) if value is None else b.inttoptr(value, t))
        else:
            args.append(value)
    b.ret(b.call(function, slots + args))
    _entries[key] = object_code(str(module))
    return _entries[key]


def object_code(ir_text: str) -> bytes:
    """Object code for this machine of a module of LLVM IR (its triple set here)."""
    import llvmlite.binding as ll

    machine = target_machine()
    module = ll.parse_assembly(ir_text)
    module.triple = ll.get_process_triple()
    module.data_layout = str(machine.target_data)
    module.verify()
    return bytes(machine.emit_object(module))


# ----------------------------------------------------------------------------- ELF symbols

def _symbols(obj: bytes) -> Optional[Tuple[Set[str], Set[str]]]:
    """(defined, undefined) global and weak symbols of an ELF64 little-endian object, or
    None for any other format (Mach-O, COFF: those platforms keep the Numba path). MCJIT
    aborts the whole process on a symbol it cannot resolve, so each is checked first."""
    try:
        if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
            return None
        shoff, = struct.unpack_from("<Q", obj, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
        if shnum == 0 or shentsize < 64:
            return None  # extended numbering: never produced for a kernel
        sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize)
                    for i in range(shnum)]
        defined: Set[str] = set()
        undefined: Set[str] = set()
        for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
            if sh_type != 2:  # SHT_SYMTAB
                continue
            str_offset = sections[link][4]
            for pos in range(offset + 24, offset + size, entsize or 24):  # entry 0 is null
                st_name, st_info, _, st_shndx = struct.unpack_from("<IBBH", obj, pos)
                if st_name and (st_info >> 4) in (1, 2):  # GLOBAL, WEAK
                    end = obj.index(b"\0", str_offset + st_name)
                    name = obj[str_offset + st_name:end].decode()
                    (undefined if st_shndx == 0 else defined).add(name)
        return defined, undefined
    except (struct.error, ValueError, IndexError, UnicodeDecodeError):
        return None


# ----------------------------------------------------------------------------- load

_lock = threading.Lock()
_loaded: Dict[str, "NativeKernel"] = {}
_numba_table: Optional[Dict[str, int]] = None


def _numba_symbols() -> Dict[str, int]:
    """The symbols Numba itself adds to LLVM's table before running any code (see
    numba.core.base._load_global_helpers, numba.core.runtime.nrt, numba.core.externals),
    and the C math functions the kernels call by names of their own (libm.py): binding
    the same names to the same addresses makes the loaded code call exactly the
    functions it calls under Numba."""
    global _numba_table
    if _numba_table is None:
        from numba import _dynfunc, _helperlib
        from numba.core.intrinsics import INTR_MATH
        from numba.core.runtime import _nrt_python

        table = {"_Py_NoneStruct": id(None)}
        for helpers in (_helperlib.c_helpers, _dynfunc.c_helpers):
            table.update(("numba_" + name, addr) for name, addr in helpers.items())
        for name, addr in _nrt_python.c_helpers.items():
            table[name if name.startswith("_") else "NRT_" + name] = addr
        for obj in builtins.__dict__.values():
            if isinstance(obj, type) and issubclass(obj, BaseException):
                table["PyExc_" + obj.__name__] = id(obj)
        table.update((name, _helperlib.c_helpers[name]) for name in INTR_MATH
                     if name in _helperlib.c_helpers)
        table.update(libm.addresses())
        _numba_table = table
    return _numba_table


def load(path: Path, digest: str, precision: str) -> Optional["NativeKernel"]:
    """The kernel saved at `path`, ready to call, or None (no file, another machine or
    format, a symbol that cannot be bound, any failure): the caller then uses Numba."""
    with _lock:
        kernel = _loaded.get(digest)
        if kernel is not None:
            return kernel
        try:
            record = load_builtins(path)
            if (not isinstance(record, dict) or record.get("format") != FORMAT
                    or tuple(record.get("machine", ())) != machine_tuple()
                    or record.get("precision") != precision
                    or record.get("arity") != 1 + _entry_arity(argument_spec(precision))):
                return None
            kernel = NativeKernel([record["object"], record["entry"]], record["symbol"],
                                  precision)
        except Exception:
            return None
        _loaded[digest] = kernel
        return kernel


_addressof = ctypes.addressof
_from_buffer = ctypes.c_char.from_buffer
# What an empty array is passed as: the kernel never reads it, and `from_buffer` refuses
# it with an exception (each render has empty tangents); aligned for any element type.
_EMPTY = ctypes.c_double()
_EMPTY_ADDRESS = ctypes.addressof(_EMPTY)


def data_address(a: np.ndarray) -> int:
    """The address of an array's first element (`from_buffer`, a third of the time of
    `a.ctypes.data`, takes only a non-empty, writable, C-contiguous array)."""
    try:
        return _addressof(_from_buffer(a))
    except (TypeError, ValueError):
        return a.__array_interface__["data"][0]


def _pointer_of_unusual(a: np.ndarray, is_input: bool) -> Optional[int]:
    """The data pointer of a non-empty array that `c_char.from_buffer` refused: usable
    when it is a C-contiguous read-only input (the kernel never writes its inputs); None
    otherwise."""
    flags = a.flags
    if flags.c_contiguous and (flags.writeable or is_input):
        return a.ctypes.data
    return None


class NativeKernel:
    """`compute(n, inputs, outputs, tangents, (fstate, istate), params)` on loaded
    machine code: `objects` are the kernel's and its entry function's. Arrays other than
    C-contiguous, aligned arrays of the kernel's dtypes go to the Numba kernel instead
    (`fallback`, set by the owner), which accepts any layout."""

    def __init__(self, objects: List[bytes], symbol: str, precision: str, entry: str = ENTRY,
                 arity: Optional[int] = None):
        import llvmlite.binding as ll
        from numba.core import config

        tables = [_symbols(obj) for obj in objects]
        if any(t is None for t in tables):
            raise RuntimeError("not an ELF64 object")
        defined = set().union(*(d for d, _ in tables))
        undefined = set().union(*(u for _, u in tables)) - defined
        module = ll.parse_assembly("")
        module.triple = ll.get_process_triple()
        lmm = config.USE_LLVMLITE_MEMORY_MANAGER  # as Numba chooses it (None: llvmlite's)
        # One engine per kernel: objects of different kernels define the same common
        # and weak symbols (Numba's environments, NRT_incref), which one engine would
        # have to reconcile.
        engine = ll.create_mcjit_compiler(module, target_machine(),
                                          **({} if lmm is None else {"use_lmm": lmm}))
        # (creating an engine makes the process's own symbols searchable)
        provided = _numba_symbols()
        for name in sorted(undefined):
            if name in provided:
                if ll.address_of_symbol(name) != provided[name]:
                    ll.add_symbol(name, provided[name])
            elif not ll.address_of_symbol(name):
                raise RuntimeError(f"unresolved symbol {name}")
        for obj in objects:
            engine.add_object_file(ll.ObjectFileRef.from_data(obj))
        engine.finalize_object()
        address = engine.get_function_address(entry)
        native = engine.get_function_address(symbol)
        if not (address and native):
            raise RuntimeError(f"no function {entry} or {symbol} in the objects")
        self._engine = engine  # owns the code: kept alive as long as the kernel
        self._native = native
        spec = argument_spec(precision)
        self._dtypes = tuple(dtype for dtype, _ in spec)
        self._ndims = tuple(ndim for _, ndim in spec)
        self._itemsizes = tuple(np.dtype(dtype).itemsize for dtype, _ in spec)
        self._arity = 1 + _entry_arity(spec) if arity is None else arity
        # CFUNCTYPE releases the GIL during the call, as the nogil Numba kernel does.
        prototype = ctypes.CFUNCTYPE(ctypes.c_int32, *[ctypes.c_int64] * self._arity)
        self._function = prototype(address)
        self.entry_address = address
        self.fallback = None
        from .fast_call import fast_call  # (it builds on this module)

        made = fast_call(spec, WRITTEN, self._arity, address, native, _EMPTY_ADDRESS)
        self._fast, self._fast_record = made if made else (None, None)

    def __call__(self, n, inputs, outputs, tangents, state, params):
        if self._fast is not None:
            status = self._fast(n, inputs, outputs, tangents, state, params)
            if status is None:
                return
            if status is not NotImplemented:
                check_status(status)
                return
        args = self.call_arguments(n, inputs, outputs, tangents, state, params)
        if args is None:
            return self._fallback()(n, inputs, outputs, tangents, state, params)
        check_status(self._function(*args))

    def call_arguments(self, n, inputs, outputs, tangents, state, params) -> Optional[List[int]]:
        """The integers the entry function (at `entry_address`) takes for this call, or
        None when an array is not one it can take (the Numba kernel must run it)."""
        # This runs for every call, and a training loop makes thousands of short ones:
        # each array costs a type check and a buffer request, which only succeeds for a
        # writable C-contiguous array; anything else is looked at more closely.
        fstate, istate = state
        args = [self._native, n]
        for a, dtype, ndim, itemsize in zip((inputs, outputs, tangents, fstate, istate, params),
                                            self._dtypes, self._ndims, self._itemsizes):
            if type(a) is not np.ndarray or a.dtype.type is not dtype:
                return None
            shape = a.shape
            if not a.size:
                pointer = _EMPTY_ADDRESS
            else:
                try:
                    pointer = _addressof(_from_buffer(a))
                except (TypeError, ValueError):  # read-only or not C-contiguous
                    pointer = _pointer_of_unusual(a, a is inputs)
            if pointer is None or len(shape) != ndim or pointer % itemsize:  # (misaligned)
                return None
            args.append(pointer)
            args += shape
        return args

    def batch_arguments(self, n, inputs, outputs, tangents, fstates, istates,
                        params) -> Optional[np.ndarray]:
        """The entry's arguments for a batch, one row an item: `outputs`, `tangents`,
        `fstates`, `istates` and `params` have the items along their first axis, and so
        has `inputs` unless it is one input for all (of the kernel's own dimensions). Made
        from each array's address and strides; None when an item's array is not one the
        entry can take."""
        # The first item's row and each column's step from one item to the next, then
        # every row in one array operation: a batch of short renders made its rows
        # column by column for 60 us, as long as two of its items.
        items = len(outputs)
        first, steps = [self._native, n], [0, 0]
        for a, dtype, ndim, itemsize in zip((inputs, outputs, tangents, fstates, istates, params),
                                            self._dtypes, self._ndims, self._itemsizes):
            if type(a) is not np.ndarray or a.dtype.type is not dtype:
                return None
            shared = a is inputs and a.ndim == ndim
            if a.ndim != ndim + (0 if shared else 1) or (not shared and len(a) != items):
                return None
            shape = a.shape[-ndim:]
            base, step = _EMPTY_ADDRESS, 0
            if a.size:
                expected = itemsize
                for extent, stride in zip(reversed(shape), reversed(a.strides[-ndim:])):
                    if extent > 1 and stride != expected:
                        return None     # an item's array is not C-contiguous
                    expected *= extent
                if not (a.flags.writeable or a is inputs):
                    return None
                base = data_address(a)
                step = 0 if shared else a.strides[0]
                if base % itemsize or step % itemsize:
                    return None
            first.append(base)
            first += shape
            steps += [step] + [0] * ndim
        return (np.array(first, dtype=np.int64)
                + np.arange(items, dtype=np.int64)[:, None] * np.array(steps, dtype=np.int64))

    def _fallback(self):
        if self.fallback is None:
            raise TypeError("arrays of an unexpected type, layout or dtype")
        return self.fallback()
