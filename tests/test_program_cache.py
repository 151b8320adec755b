"""The program cache (a warm compile skips the front end) and native kernels (a warm
process runs saved machine code without Numba's compiler): both must give exactly what a
fresh compile gives, and an entry must never outlive a change to a file it came from."""
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import faustdiff
from faustdiff.codegen import cache, fast_call, native
from faustdiff.errors import FaustRuntimeError

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "scripts" / "bench_programs"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("FAUSTDIFF_CACHE_DIR", str(folder))
    return folder


def from_cache(prog) -> bool:
    """Whether `prog` was restored from the program cache (it has no signal graph yet)."""
    return prog._graph is None


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- program cache

def test_second_compile_skips_the_front_end(cache_dir, monkeypatch):
    code = ('import("stdfaust.lib"); process = fi.lowpass(2, hslider("fc[diff:1]", 800, 50, '
            '5000, 1)) : *(hslider("g[unit:dB]", 1, 0, 2, 0.1));')
    first = faustdiff.compile(code)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 500))
    y1, dy1 = first.jvp(x)
    r1 = first.render(x)

    def no_front_end(*args):
        raise AssertionError("the front end ran for a cached program")

    monkeypatch.setattr(faustdiff.api, "_front_end", no_front_end)
    second = faustdiff.compile(code)
    assert from_cache(second)
    assert second.params == first.params
    assert [p.metadata for p in second.params] == [p.metadata for p in first.params]
    assert (second.num_inputs, second.num_outputs) == (first.num_inputs, first.num_outputs)
    y2, dy2 = second.jvp(x)
    np.testing.assert_array_equal(y2, y1)
    np.testing.assert_array_equal(dy2["fc"], dy1["fc"])
    np.testing.assert_array_equal(second.render(x), r1)
    assert second.kernel_source(True) == first.kernel_source(True)
    assert from_cache(second)  # nothing needed the graph
    # Numba runs in this process already; its dispatcher is used only where the native
    # kernel would be called through ctypes (slower per call), not through a fast call
    expected = "NativeKernel" if fast_call.usable() else "CPUDispatcher"
    assert type(second._kernel(True).compute).__name__ == expected


def test_changed_library_is_noticed(cache_dir, tmp_path):
    lib = write(tmp_path / "src" / "gain.lib", "gain = 0.5;\n")
    dsp = write(tmp_path / "src" / "prog.dsp", 'import("gain.lib");\nprocess = *(gain);\n')
    x = np.ones((1, 4))
    np.testing.assert_array_equal(faustdiff.compile_file(dsp).render(x), 0.5 * x)
    again = faustdiff.compile_file(dsp)
    assert from_cache(again)
    np.testing.assert_array_equal(again.render(x), 0.5 * x)
    # same length, and written within the same second: only the contents tell
    stat = lib.stat()
    lib.write_text("gain = 0.7;\n")
    os.utime(lib, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = faustdiff.compile_file(dsp)
    assert not from_cache(changed)
    np.testing.assert_array_equal(changed.render(x), 0.7 * x)
    assert from_cache(faustdiff.compile_file(dsp))


def test_changed_nested_import_is_noticed(cache_dir, tmp_path):
    inner = write(tmp_path / "lib" / "inner.lib", "k = 2;\n")
    write(tmp_path / "lib" / "outer.lib", 'import("inner.lib");\nscale = *(k);\n')
    code = 'o = library("outer.lib");\nprocess = o.scale;\n'
    dirs = [str(tmp_path / "lib")]
    x = np.ones((1, 3))
    np.testing.assert_array_equal(faustdiff.compile(code, import_dirs=dirs).render(x), 2 * x)
    assert from_cache(faustdiff.compile(code, import_dirs=dirs))
    inner.write_text("k = 3;\n")
    changed = faustdiff.compile(code, import_dirs=dirs)
    assert not from_cache(changed)
    np.testing.assert_array_equal(changed.render(x), 3 * x)


def test_a_new_file_that_shadows_an_import_is_noticed(cache_dir, tmp_path):
    write(tmp_path / "libs" / "gain.lib", "gain = 0.5;\n")
    dsp = write(tmp_path / "prog" / "prog.dsp", 'import("gain.lib");\nprocess = *(gain);\n')
    dirs = [str(tmp_path / "libs")]
    x = np.ones((1, 2))
    np.testing.assert_array_equal(faustdiff.compile_file(dsp, import_dirs=dirs).render(x), 0.5 * x)
    assert from_cache(faustdiff.compile_file(dsp, import_dirs=dirs))
    # the program's own folder is searched first
    write(tmp_path / "prog" / "gain.lib", "gain = 0.25;\n")
    changed = faustdiff.compile_file(dsp, import_dirs=dirs)
    assert not from_cache(changed)
    np.testing.assert_array_equal(changed.render(x), 0.25 * x)


def test_faust_lib_path_is_resolved_again(cache_dir, tmp_path, monkeypatch):
    write(tmp_path / "a" / "gain.lib", "gain = 2;\n")
    write(tmp_path / "b" / "gain.lib", "gain = 3;\n")
    monkeypatch.chdir(tmp_path)  # a program given as text searches the working folder first
    code = 'import("gain.lib");\nprocess = *(gain);\n'
    x = np.ones((1, 2))
    monkeypatch.setenv("FAUST_LIB_PATH", str(tmp_path / "a"))
    np.testing.assert_array_equal(faustdiff.compile(code).render(x), 2 * x)
    assert from_cache(faustdiff.compile(code))
    monkeypatch.setenv("FAUST_LIB_PATH", str(tmp_path / "b"))
    changed = faustdiff.compile(code)
    assert not from_cache(changed)
    np.testing.assert_array_equal(changed.render(x), 3 * x)


def test_arguments_and_settings_are_part_of_the_key(cache_dir, monkeypatch):
    code = 'import("stdfaust.lib"); process = ma.SR : @(3);'
    assert faustdiff.compile(code, sample_rate=44100).render(n=4)[0, 3] == 44100
    assert faustdiff.compile(code, sample_rate=48000).render(n=4)[0, 3] == 48000
    single = faustdiff.compile(code, precision="single")
    assert not from_cache(single) and single.precision == "single"
    single.render(n=1)  # (an entry is written with its first kernel)
    assert from_cache(faustdiff.compile(code, precision="single"))
    monkeypatch.setenv("FAUSTDIFF_MAX_DELAY", "2")
    with pytest.raises(faustdiff.FaustDiffError):
        faustdiff.compile(code).render(n=4)  # the limit is checked again, not cached around


def test_a_restored_program_builds_missing_kernels_and_graphs(cache_dir):
    code = ('import("stdfaust.lib"); process = os.osc(hslider("f[diff:1]", 440, 50, 2000, 1)) '
            '* hslider("a[diff:1]", 0.5, 0, 1, 0.01);')
    fresh = faustdiff.compile(code)
    fresh.render(n=300)
    restored = faustdiff.compile(code)
    assert from_cache(restored)
    y, dy = restored.jvp(n=300, smooth=True)  # not in the entry: the graph is rebuilt
    assert not from_cache(restored)
    y0, dy0 = fresh.jvp(n=300, smooth=True)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(dy["f"], dy0["f"])
    assert len(restored.output_signals) == 1 and len(restored.tangent_signals) == 2
    third = faustdiff.compile(code)
    np.testing.assert_array_equal(third.jvp(n=300, smooth=True)[1]["a"], dy0["a"])
    assert from_cache(third)


def test_files_changed_after_a_restore_stop_the_rebuild(cache_dir, tmp_path):
    lib = write(tmp_path / "gain.lib", "gain = 0.5;\n")
    dsp = write(tmp_path / "prog.dsp",
                'import("gain.lib");\nprocess = *(gain * hslider("g[diff:1]", 1, 0, 2, 0.1));\n')
    faustdiff.compile_file(dsp).render(n=2, x=np.ones((1, 2)))
    restored = faustdiff.compile_file(dsp)
    assert from_cache(restored)
    lib.write_text("gain = 0.25;\n")
    with pytest.raises(FaustRuntimeError, match="changed after it was compiled"):
        restored.jvp(np.ones((1, 2)))  # its render kernel came from the old file
    fresh = faustdiff.compile_file(dsp)
    np.testing.assert_array_equal(fresh.jvp(np.ones((1, 2)))[1]["g"], 0.25)


def test_an_unreadable_entry_is_replaced(cache_dir):
    code = "process = _ * 3;"
    faustdiff.compile(code).render(n=1, x=np.ones((1, 1)))
    (entry,) = (cache_dir / "programs").glob("*.pickle")
    entry.write_bytes(b"\x80\x05not a pickle")
    prog = faustdiff.compile(code)
    assert not from_cache(prog)
    np.testing.assert_array_equal(prog.render(np.ones((1, 2))), 3.0)
    assert from_cache(faustdiff.compile(code))
    # an entry naming a class (which unpickling would import and call) is refused
    entry.write_bytes(pickle.dumps({"format": 1, "x": Path("/")}))
    assert not from_cache(faustdiff.compile(code))


def test_failed_compiles_are_not_cached(cache_dir):
    for _ in range(2):
        with pytest.raises(faustdiff.FaustDiffError):
            faustdiff.compile("process = nonexistent;")
    assert not list((cache_dir / "programs").glob("*.pickle"))


# ----------------------------------------------------------------------------- native kernels

def _state(layout, dtype):
    fstate = np.zeros(max(layout.float_state_size, 1), dtype=dtype)
    istate = np.zeros(max(layout.int_state_size, 2), dtype=np.int64)
    for kind, offset, size, values in layout.constant_tables:
        (fstate if kind == "float" else istate)[offset:offset + size] = values
    return fstate, istate


def _run_twice(compute, kernel, prog, with_tangents, seed):
    """Two consecutive blocks from a cleared state (tables filled by `compute` itself):
    the outputs, tangents and final state, for a bitwise comparison."""
    rng = np.random.default_rng(seed)
    dtype = kernel.float_dtype
    state = _state(kernel.layout, dtype)
    params = np.array([p.init + (p.max - p.min) * 0.1 * rng.uniform() for p in prog.params],
                      dtype=dtype)
    if kernel.layout.fills_tables:
        compute(0, np.zeros((0, 0)), np.zeros((0, 0)), np.zeros((0, 0, 0)), state,
                np.zeros(len(prog.params), dtype=dtype))
    m = len(prog.diff_params) if with_tangents else 0
    results = []
    for n in (700, 333):
        x = np.ascontiguousarray(rng.uniform(-1, 1, (prog.num_inputs, n)))
        y = np.zeros((prog.num_outputs, n))
        t = np.zeros((m, prog.num_outputs, n if m else 0))
        compute(n, x, y, t, state, params)
        results += [y, t]
    return results + [state[0].copy(), state[1].copy()]


def test_a_changed_runtime_helper_changes_every_kernel_hash(monkeypatch):
    """Kernels inline the runtime helpers: machine code compiled with an older helper
    must not be loaded for the same kernel source."""
    source = faustdiff.compile("process = pow(10, _);").kernel_source(False)
    before = cache.source_hash(source)
    monkeypatch.setattr(cache, "_HELPERS_TEXT", cache._helpers_text() + "\n# changed\n")
    assert cache.source_hash(source) != before


@pytest.mark.parametrize("name, precision", [
    ("fm", "double"), ("ks_string", "double"), ("compressor", "double"),
    ("freeverb", "single"), ("moog", "single"), ("compressor", "single"),
])
def test_native_kernels_match_numba_bit_for_bit(cache_dir, name, precision):
    prog = faustdiff.compile((BENCH / f"{name}.dsp").read_text(), precision=precision)
    for with_tangents in (False, True):
        kernel = prog._kernel(with_tangents)
        numba_compute = kernel.compute
        assert isinstance(numba_compute, cache._NumbaKernel)  # a fresh cache: Numba compiles
        expected = _run_twice(numba_compute, kernel, prog, with_tangents, seed=1)
        digest = cache.source_hash(kernel.source)
        artifact = native.artifact_path(cache_dir / "kernels", digest)
        assert artifact.exists()  # written after Numba's first call
        loaded = native.load(artifact, digest, precision)
        assert isinstance(loaded, native.NativeKernel)
        got = _run_twice(loaded, kernel, prog, with_tangents, seed=1)
        for a, b in zip(got, expected):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
        assert np.isfinite(expected[0]).all()


def test_native_kernel_hands_unusual_arrays_to_numba(cache_dir):
    prog = faustdiff.compile('process = _ <: _, @(2) : *(hslider("g", 0.5, 0, 1, 0.1)), _;')
    prog.render(n=4)
    kernel = prog._kernel(False)
    digest = cache.source_hash(kernel.source)
    loaded = native.load(native.artifact_path(cache_dir / "kernels", digest), digest, "double")
    calls = []
    loaded.fallback = lambda: calls.append(1) or kernel.compute.dispatcher
    x = np.asfortranarray(np.random.default_rng(2).uniform(-1, 1, (1, 9)))
    strided = np.zeros((2, 18))[:, ::2]  # outputs that are not contiguous
    loaded(9, x, strided, np.zeros((0, 2, 0)), kernel.fresh_state(), np.array([0.5]))
    assert calls
    expected = np.zeros((2, 9))
    loaded(9, np.ascontiguousarray(x), expected, np.zeros((0, 2, 0)), kernel.fresh_state(),
           np.array([0.5]))
    assert len(calls) == 1
    np.testing.assert_array_equal(strided, expected)


def test_artifacts_of_another_machine_or_format_are_ignored(cache_dir):
    prog = faustdiff.compile("process = _ * 2;")
    prog.render(n=1, x=np.ones((1, 1)))
    digest = cache.source_hash(prog.kernel_source(False))
    artifact = native.artifact_path(cache_dir / "kernels", digest)
    with open(artifact, "rb") as f:
        record = pickle.load(f)
    for change in ({"machine": ("other-triple", "cpu", "")}, {"format": -1},
                   {"precision": "single"}):
        other = cache_dir / "other.native"
        other.write_bytes(pickle.dumps({**record, **change}))
        assert native.load(other, "not-" + digest, "double") is None
    other.write_bytes(b"garbage")
    assert native.load(other, "garbage-" + digest, "double") is None


def test_an_object_with_an_unknown_symbol_is_refused_not_loaded():
    """MCJIT would abort the process on a symbol it cannot resolve: the loader checks
    every undefined symbol first."""
    import llvmlite.binding as ll

    ll.initialize_native_target()
    ll.initialize_native_asmprinter()
    module = ll.parse_assembly(textwrap.dedent("""
        declare i32 @faustdiff_test_no_such_function(i32)
        define i32 @entry(i32 %x) {
          %y = call i32 @faustdiff_test_no_such_function(i32 %x)
          ret i32 %y
        }
    """))
    module.triple = ll.get_process_triple()
    target = ll.Target.from_triple(ll.get_process_triple())
    tm = target.create_target_machine(codemodel="jitdefault")
    obj = tm.emit_object(module)
    if native._symbols(obj) is None:
        pytest.skip("not an ELF platform: native kernels are not used here")
    assert native._symbols(obj) == ({"entry"}, {"faustdiff_test_no_such_function"})
    with pytest.raises(RuntimeError, match="unresolved symbol"):
        native.NativeKernel([obj], "entry", "double", entry="entry", arity=1)
    assert native._symbols(b"\xcf\xfa\xed\xfe" + bytes(60)) is None  # Mach-O


PROBE = """
import json, sys
import numpy as np
import numba.core.registry
import faustdiff

prog = faustdiff.compile(open(sys.argv[1]).read())
x = np.random.default_rng(3).uniform(-1, 1, (prog.num_inputs, 2000))
y = prog.render(x)
yj, dy = prog.jvp(x)
yb, dyb = prog.jvp_batch(x, params=[{}, {"fc": 300.0}], workers=2)
np.savez(sys.argv[2], y=y, yj=yj, yb=yb, **{"d_" + k: v for k, v in dy.items()},
         **{"db_" + k: v for k, v in dyb.items()})
print(json.dumps({
    "restored": prog._graph is None,
    "kernels": sorted(type(k.compute).__name__ for k in prog._kernels.values()),
    # Numba's target context is created on its first compile or cache load
    "numba_initialised": "_toplevel_target_context" in vars(numba.core.registry.cpu_target),
}))
"""


def test_a_warm_process_uses_neither_front_end_nor_numba(tmp_path):
    dsp = write(tmp_path / "prog.dsp",
                'import("stdfaust.lib");\nprocess = fi.resonlp(hslider("fc[diff:1]", 900, 50, '
                '5000, 1), hslider("q[diff:1]", 2, 0.5, 10, 0.01), 1) : '
                'ef.cubicnl(0.3, 0) : *(os.osc(3));\n')
    probe = write(tmp_path / "probe.py", PROBE)
    env = dict(os.environ, FAUSTDIFF_CACHE_DIR=str(tmp_path / "cache"))
    runs = []
    for i in range(2):
        done = subprocess.run([sys.executable, str(probe), str(dsp), str(tmp_path / f"r{i}.npz")],
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert runs[0] == {"restored": False, "kernels": ["_NumbaKernel"] * 2,
                       "numba_initialised": True}
    assert runs[1] == {"restored": True, "kernels": ["NativeKernel"] * 2,
                       "numba_initialised": False}
    cold, warm = np.load(tmp_path / "r0.npz"), np.load(tmp_path / "r1.npz")
    assert sorted(cold.files) == sorted(warm.files)
    for key in cold.files:
        np.testing.assert_array_equal(warm[key], cold[key])
