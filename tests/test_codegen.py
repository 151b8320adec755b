"""Generated kernels against the reference interpreter, on random signal graphs."""
import math
import re
from decimal import Decimal, localcontext

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit

import faustdiff
from faustdiff.codegen import python_source, runtime_helpers
from faustdiff.codegen.cache import load_numba_kernel
from faustdiff.codegen.plan import plan_kernel
from faustdiff.codegen.python_source import render_source
from faustdiff.codegen.runtime_helpers import fd_vlane, fd_vmake, fd_vselect_cmp
from faustdiff.diff.tangents import differentiate
from faustdiff.runtime.program import Program
from faustdiff.signals.interpret import interpret
from faustdiff.signals.nodes import (ParamSpec, RecGroup, const, delay, input_sig, param_sig,
                                     recref)
from faustdiff.signals.primitives import apply
from faustdiff.signals.propagate import Propagated

PARAMS = [ParamSpec("hslider", "a", "/a", 0.3, 0.0, 1.0, 0.01, (("diff", "1"),)),
          ParamSpec("hslider", "b", "/b", 2.0, 1.0, 4.0, 1.0, ())]

UNARY = ["sin", "cos", "abs", "int", "float", "floor"]
BINARY = ["+", "-", "*", "min", "max", "<", ">=", "%", "&", "<<"]


@st.composite
def graphs(draw, depth=4):
    group = RecGroup(1)
    leaves = [input_sig(0), input_sig(1), param_sig(PARAMS[0]), param_sig(PARAMS[1]),
              const(3), const(0.25), const(-7), recref(group, 0)]

    def expr(d):
        if d == 0 or draw(st.integers(0, 3)) == 0:
            return draw(st.sampled_from(leaves))
        choice = draw(st.integers(0, 5))
        if choice == 0:
            return apply(draw(st.sampled_from(UNARY)), expr(d - 1))
        if choice == 1:
            x = expr(d - 1)
            return delay(x, const(draw(st.integers(0, 9))))
        if choice == 2:
            # a delay whose amount is a parameter (bounded by the slider range)
            return delay(expr(d - 1), apply("int", param_sig(PARAMS[1])))
        if choice == 3:
            return apply("select2", apply("<", expr(d - 1), const(0.0)), expr(d - 1), expr(d - 1))
        if choice == 4:
            # safe division
            return apply("/", expr(d - 1), apply("+", const(1.5), apply("abs", expr(d - 1))))
        op = draw(st.sampled_from(BINARY))
        return apply(op, expr(d - 1), expr(d - 1))

    # the recursion stays bounded through sin
    group.bodies = (apply("sin", apply("+", expr(depth), apply("*", const(0.5), recref(group, 0)))),)
    outputs = (expr(depth), group.bodies[0], apply("*", expr(depth - 1), const(0.5)))
    return outputs


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# (no subnormal values: the kernels flush them to zero, as Faust's do, and the
# interpreter computes IEEE; log(2.2e-313) is -719 there and -inf in a kernel. Nor
# values whose products with the inputs are subnormal: at a = 2.2e-308, abs(a * x)
# flushes to 0 in a kernel, so its derivative sign(a * x) * x is 0 there and x here)
@given(outputs=graphs(), params=st.tuples(st.just(0.0) | st.floats(1e-30, 1),
                                          st.floats(1, 4)))
def test_kernel_matches_interpreter(outputs, params):
    n = 40
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, size=(2, n))
    prog = Program(Propagated(outputs, 2, tuple(PARAMS)))
    values = {"a": params[0], "b": params[1]}
    got = prog.render(x, params=values)
    want = interpret(outputs, n, x, {PARAMS[0]: params[0], PARAMS[1]: params[1]})
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)

    # the tangents the kernel computes are those the interpreter computes from the
    # same tangent graph, and match a central difference where the graph is smooth
    _, dy = prog.jvp(x, params=values)
    (tangents,) = differentiate(list(outputs), PARAMS[:1])
    want_t = interpret([t if t is not None else const(0.0) for t in tangents], n, x,
                       {PARAMS[0]: params[0], PARAMS[1]: params[1]})
    np.testing.assert_allclose(dy["a"], want_t, rtol=1e-9, atol=1e-9)


def test_state_continues_across_calls():
    group = RecGroup(1)
    group.bodies = (apply("+", input_sig(0), apply("*", const(0.9), recref(group, 0))),)
    outputs = (delay(group.bodies[0], const(37)),)
    prog = Program(Propagated(outputs, 1, ()))
    x = np.random.default_rng(1).normal(size=(1, 300))
    whole = prog.render(x)
    first = prog.render(x[:, :120])
    rest = prog.render(x[:, 120:], reset=False)
    np.testing.assert_array_equal(np.concatenate([first, rest], axis=1), whole)


def test_single_precision_is_float32_arithmetic():
    out = apply("*", input_sig(0), const(0.1))
    prog = Program(Propagated((out,), 1, ()), precision="single")
    x = np.full((1, 4), 3.0)
    y = prog.render(x)
    assert y[0, 0] == float(np.float32(3.0) * np.float32(0.1))
    assert "np.float32" in render_source(plan_kernel([out]), "single")


def _time_counter():
    """0, 1, 2, ... as an int recursion (Faust's ba.time)."""
    g = RecGroup(1)
    g.bodies = (apply("+", recref(g, 0), const(1)),)
    return apply("-", g.bodies[0], const(1))


def test_tables_match_interpreter():
    from faustdiff.signals.nodes import TableSpec, rdtable, rwtable

    size = 64
    init = apply("sin", apply("*", const(2 * np.pi / size), apply("float", _time_counter())))
    sine = TableSpec(size, "float", init=init)
    phase = apply("int", apply("*", input_sig(0), const(float(size))))
    read = rdtable(sine, phase)
    # a table written with the input at a moving index, read 5 slots behind
    w = apply("%", _time_counter(), const(16))
    rw = rwtable(TableSpec(16, "int", init=const(0)), w, apply("*", input_sig(0), param_sig(PARAMS[0])),
                 apply("%", apply("+", w, const(11)), const(16)))
    wave = TableSpec(3, "float", values=(1.0, -2.0, 0.5))
    outputs = (read, rw, rdtable(wave, apply("%", _time_counter(), const(3))))
    x = np.random.default_rng(2).uniform(0, 1, size=(1, 80))
    prog = Program(Propagated(outputs, 1, tuple(PARAMS)))
    want = interpret(outputs, 80, x)
    np.testing.assert_allclose(prog.render(x), want, rtol=1e-12, atol=1e-12)
    assert np.allclose(want[0], np.sin(2 * np.pi * np.floor(x[0] * size) / size))
    # the written values are a*x: their tangent goes through the parallel table
    _, dy = prog.jvp(x, params={"a": 0.3})
    y1 = prog.render(x, params={"a": 0.3 + 1e-6})
    y0 = prog.render(x, params={"a": 0.3 - 1e-6})
    np.testing.assert_allclose(dy["a"], (y1 - y0) / 2e-6, atol=1e-6)


def test_state_updates_are_simultaneous():
    # y0 = y1', y1 = y0' + y1' + impulse: Fibonacci, where body 0 is body 1's past value
    g = RecGroup(2)
    impulse = apply("-", const(1), delay(const(1), const(1)))
    g.bodies = (recref(g, 1), apply("+", apply("+", recref(g, 0), recref(g, 1)), impulse))
    # and a body that is a shift register's value
    h = RecGroup(1)
    h.bodies = (delay(apply("+", input_sig(0), recref(h, 0)), const(1)),)
    prog = Program(Propagated((g.bodies[0], h.bodies[0]), 1, ()))
    x = np.ones((1, 8))
    y = prog.render(x)
    assert list(y[0]) == [0, 1, 1, 2, 3, 5, 8, 13]
    np.testing.assert_array_equal(y, interpret((g.bodies[0], h.bodies[0]), 8, x))


def test_equal_tables_are_stored_once():
    """os.osci reads its sine table at i and i+1: two oscillators are four reads of one
    table, filled once and kept once in the state."""
    prog = faustdiff.compile('import("stdfaust.lib"); process = os.osci(440) + os.osci(300);')
    plan = plan_kernel(prog.output_signals, [], prog._specs)
    assert len(plan.table_inits) == 1
    assert plan.float_state_size < 2 * 65537
    y = prog.render(n=2000)[0]
    t = np.arange(2000) / 44100
    np.testing.assert_allclose(y, np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 300 * t),
                               atol=1e-6)


def test_tables_differing_only_in_the_sign_of_a_zero_are_two_tables():
    prog = faustdiff.compile("process = 1 / rdtable(waveform{-0.0, 1.0}, 0), "
                             "1 / rdtable(waveform{0.0, 1.0}, 0);")
    y = prog.render(n=2)
    assert list(y[:, 0]) == [-np.inf, np.inf]


def _ulps(got: np.ndarray, exact) -> float:
    """The largest distance of `got` from the exact values (Decimals), in ulps of the
    exact value."""
    return max(float(abs(Decimal(float(g)) - e)) / math.ulp(float(e)) for g, e in zip(got, exact))


def test_exp_log_and_powers_are_within_an_ulp_and_exact_where_a_double_is():
    """exp, log, log10 and pow(constant, x) are the kernels' own straight-line code in
    float64 (exp_log.py): within 0.6 ulp of the exact value for exp and the powers, 0.75
    for log and 0.9 for log10 (glibc: 0.5); exact wherever the exact value is a double
    (10^k for k >= 0, 0.5^k, 2^int, log10 of a power of ten); C's values at the edges."""
    rng = np.random.default_rng(3)
    exponent = np.concatenate([rng.uniform(-6, 6, 1500), rng.uniform(-300, 300, 300),
                               np.arange(-22.0, 23.0)])
    positive = np.concatenate([np.exp(rng.uniform(-700, 700, 1800)), 10.0 ** np.arange(-22, 23)])
    x = np.stack([exponent, positive])
    outputs = (apply("pow", const(10), input_sig(0)), apply("pow", const(0.5), input_sig(0)),
               apply("log10", input_sig(1)), apply("pow", const(2), apply("int", input_sig(0))),
               apply("exp", input_sig(0)), apply("log", input_sig(1)))
    assert "fd_pow_base" in render_source(plan_kernel(list(outputs)), "double")
    y = Program(Propagated(outputs, 2, ())).render(x)
    with localcontext() as ctx:
        ctx.prec = 40
        for row, base in ((0, 10), (1, Decimal("0.5"))):
            exact = [(Decimal(float(e)) * Decimal(base).ln()).exp() for e in exponent]
            assert _ulps(y[row], exact) <= 0.6
        assert _ulps(y[4], [Decimal(float(e)).exp() for e in exponent]) <= 0.6
        assert _ulps(y[5], [Decimal(float(v)).ln() for v in positive]) <= 0.75
        assert _ulps(y[2], [Decimal(float(v)).log10() for v in positive]) <= 0.9
    integers = slice(1800, None)
    k = exponent[integers]
    assert list(y[0, integers][k >= 0]) == [10.0 ** e for e in k[k >= 0]]
    assert list(y[1, integers]) == [math.ldexp(1.0, -int(e)) for e in k]
    np.testing.assert_array_equal(y[2, integers], np.arange(-22.0, 23.0))
    assert list(y[3]) == [math.pow(2, math.trunc(e)) for e in exponent]  # an int exponent

    edges = np.array([[np.inf, -np.inf, np.nan, 400.0, -400.0, 0.0, 709.7, -746.0, 800.0],
                      [0.0, -1.0, np.inf, np.nan, 1.0, 1e-300, -0.0, -np.inf, 1e308]])
    with np.errstate(all="ignore"):
        want = np.stack([np.power(10.0, edges[0]), np.power(0.5, edges[0]), np.log10(edges[1]),
                         np.exp(edges[0]), np.log(edges[1])])
    got = Program(Propagated(outputs[:3] + outputs[4:], 2, ())).render(edges)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


def test_exp_and_log_loops_are_vectorized():
    """A loop of exp and log is compiled to SIMD instructions: they are straight-line code
    (exp_log.py), not library calls."""
    outputs = (apply("log10", apply("abs", input_sig(0))), apply("exp", input_sig(0)),
               apply("pow", const(10), input_sig(0)))
    source = render_source(plan_kernel(list(outputs)), "double").replace("cache=True", "cache=False")
    namespace: dict = {}
    exec(compile(source, "<kernel>", "exec"), namespace)
    prog = Program(Propagated(outputs, 1, ()))
    kernel = prog._kernel(False)
    x = np.linspace(-3, 3, 64)[None, :]
    out, tangents = kernel.arrays((), 0, 3, 64)
    namespace["compute"](64, x, out, tangents, kernel.fresh_state(), np.zeros(0))
    np.testing.assert_allclose(out, prog.render(x), rtol=0, atol=0)
    assembly = "".join(namespace["compute"].inspect_asm().values())
    assert re.search(r"\bvfmadd\w*pd\s[^\n]*%[yz]mm", assembly), "no packed multiply-add"


def _select_on(op: str, precision, count: int):
    """A freshly compiled function: fd_vselect_cmp(a, b, op, ...) on packs of `count` lanes
    (1, 2, ...) against (10, 11, ...), as lane sums 0 + 1 + ... or 10 + 11 + ..."""
    first = tuple(precision(j) for j in range(count))
    second = tuple(precision(10 + j) for j in range(count))

    @njit(cache=False)
    def select(a, b):
        chosen = fd_vselect_cmp(a, b, op, fd_vmake(first), fd_vmake(second))
        total = precision(0.0)
        for j in range(count):
            total += fd_vlane(chosen, j)
        return total

    return select, float(sum(first)), float(sum(second))


def test_a_pack_select_on_a_comparison_chooses_as_the_comparison_does(monkeypatch):
    """The kernels choose a pack by a float comparison compared again in vector registers
    (runtime_helpers.fd_vselect_cmp): every operator, both precisions, packs of 1 to 5
    lanes, NaN, infinities and signed zeros, on x86 and in the portable form."""
    values = [0.0, -0.0, 1.0, -2.5, 1e-30, math.inf, -math.inf, math.nan]
    ops = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
           ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
    for x86 in sorted({False, runtime_helpers._X86}):
        monkeypatch.setattr(runtime_helpers, "_X86", x86)
        for precision in (np.float64, np.float32):
            for count, op in [(1, "<"), (2, "<="), (3, ">"), (4, ">="), (5, "=="), (2, "!="),
                              (4, "!="), (2, "<"), (4, ">")]:
                select, when_true, when_false = _select_on(op, precision, count)
                for a in values:
                    for b in values:
                        want = when_true if ops[op](a, b) else when_false
                        assert select(precision(a), precision(b)) == want, (x86, op, a, b)


def test_an_envelope_followers_tangents_are_chosen_without_a_branch_on_the_signal():
    """In an attack/release follower the attack or release coefficient is chosen per
    sample by comparing the input with the envelope; the tangent pack is chosen by the
    same comparison, in vector registers (a branch would mispredict on noise). Its
    tangents are the bits of the pack chosen by a Python conditional."""
    prog = faustdiff.compile_file("tests/programs/diff/envelope.dsp")
    source = prog.kernel_source(with_tangents=True)
    loop = source[source.index("for _i_"):]
    selects = re.findall(r"(\w+) = fd_vselect_cmp\((\w+), (\w+), '([<>=!]+)', (\w+), (\w+)\)",
                         loop)
    assert any(b.startswith("r") for _, _, b, _, _, _ in selects), loop
    plain = source
    for target, a, b, op, if_true, if_false in selects:
        plain = plain.replace(f"{target} = fd_vselect_cmp({a}, {b}, '{op}', {if_true}, {if_false})",
                              f"{target} = ({if_true} if {a} {op} {b} else {if_false})")
    assert "fd_vselect_cmp" not in plain[plain.index("for _i_"):]
    kernel = prog._kernel(True)
    x = np.random.default_rng(3).uniform(-1, 1, (1, 3000))
    results = []
    for text in (source, plain):
        out, tangents = kernel.arrays((), 2, 2, 3000)
        load_numba_kernel(text)(3000, x, out, tangents, kernel.fresh_state(),
                                prog._param_values(None))
        results.append((out.copy(), tangents.copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert np.count_nonzero(results[0][1]) > 1000


def test_a_loop_without_state_computes_its_packs_lane_by_lane(monkeypatch, tmp_path):
    """A clipper has no state: its samples are independent, and its jvp loop holds each
    tangent pack as one scalar a lane, which LLVM vectorizes across samples (a loop
    holding an LLVM vector it does not). The tangents are the bits of the packs."""
    monkeypatch.setenv("FAUSTDIFF_CACHE_DIR", str(tmp_path / "lanes"))
    prog = faustdiff.compile_file("tests/programs/diff/clip.dsp")
    source = prog.kernel_source(with_tangents=True)
    loop = source[source.index("for _i_"):]
    # (packs computed before the loop are read lane by lane: fd_vlane)
    assert not re.search(r"fd_v(?!lane)", loop), loop
    assert re.search(r"tangents\[\d+, \d+, _i_t\] = v\d+_\d\n", loop), loop
    monkeypatch.setattr(python_source, "_lanes_loop", lambda block, statements: False)
    monkeypatch.setenv("FAUSTDIFF_CACHE_DIR", str(tmp_path / "packs"))
    packed = faustdiff.compile_file("tests/programs/diff/clip.dsp")
    assert "fd_vfma(" in packed.kernel_source(with_tangents=True)
    x = np.random.default_rng(5).uniform(-2, 2, (1, 4000))
    y, dy = prog.jvp(x)
    want_y, want_dy = packed.jvp(x)
    np.testing.assert_array_equal(y, want_y)
    assert dy.keys() == want_dy.keys() and all(np.any(dy[k] != 0) for k in dy)
    for key in dy:
        np.testing.assert_array_equal(dy[key], want_dy[key])
    kernel = load_numba_kernel(source.replace("cache=True", "cache=False"))
    out, tangents = prog._kernel(True).arrays((), 2, 2, 64)
    kernel(64, x[:, :64], out, tangents, prog._kernel(True).fresh_state(),
           prog._param_values(None))
    assembly = "".join(kernel.inspect_asm().values())
    assert re.search(r"\bvfmadd\w*pd\s[^\n]*%[yz]mm", assembly), "not vectorized"


def _scalar_double_instructions(dispatcher) -> int:
    """Instructions on one double (vmovsd, vmulsd, vfmadd231sd...) in a kernel's machine
    code."""
    assembly = "".join(dispatcher.inspect_asm().values())
    return len(re.findall(r"^\s+v\w+sd\s", assembly, re.M))


def test_parallel_combs_are_joined_into_vector_instructions(monkeypatch, tmp_path):
    """Freeverb's eight combs do the same operations on different data: its render kernel
    is compiled with LLVM's SLP vectorizer, which joins them into vector instructions,
    with the same bits as without it; Numba's own setting is left as it was."""
    import numba

    monkeypatch.setenv("FAUSTDIFF_CACHE_DIR", str(tmp_path))
    prog = faustdiff.compile_file("scripts/bench_programs/freeverb.dsp")
    source = prog.kernel_source(with_tangents=False)
    assert "SLP_VECTORIZE = True" in source
    setting = numba.core.config.SLP_VECTORIZE
    plain = source.replace("SLP_VECTORIZE = True", "SLP_VECTORIZE = False")
    kernel = prog._kernel(False)
    x = np.random.default_rng(7).uniform(-1, 1, (1, 6000))
    results, scalar = [], []
    for text in (source, plain):
        compute = load_numba_kernel(text)
        assert numba.core.config.SLP_VECTORIZE == setting
        out, _ = kernel.arrays((), 0, 1, 6000)
        compute(6000, x, out, np.zeros((0, 1, 0)), kernel.fresh_state(),
                prog._param_values(None))
        results.append(out.copy())
        scalar.append(_scalar_double_instructions(compute))
    np.testing.assert_array_equal(results[0], results[1])
    assert np.abs(results[0][0, 3000:]).max() > 0.1
    # (the combs' loads, stores and products two or four at a time)
    assert scalar[0] < 0.8 * scalar[1], scalar


def test_the_vectorizer_is_left_out_of_loops_bound_by_their_recursions():
    """It lengthens a recursion with shuffles (a crossover's biquads took twice the time):
    a biquad, an EQ chain and a crossover are compiled without it, reverbs with it."""
    def vectorized(code):
        return "SLP_VECTORIZE = True" in faustdiff.compile(code).kernel_source(False)

    assert not vectorized('import("stdfaust.lib"); process = fi.lowpass(2, 1000);')
    assert not vectorized('import("stdfaust.lib"); process = fi.crossover2LR4(1000);')
    assert not vectorized(open("scripts/bench_programs/peq_chain.dsp").read())
    assert vectorized('import("stdfaust.lib"); process = re.mono_freeverb(0.7, 0.5, 0.3, 23);')
    assert vectorized(open("scripts/bench_programs/ks_string.dsp").read())
