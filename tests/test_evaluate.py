"""Tests of `faustdiff.evaluate`: Faust programs reduced to primitive block diagrams."""
from __future__ import annotations

import importlib.util
import os
import time

import pytest

from faustdiff import boxes as B
from faustdiff.errors import (FaustArityError, FaustEvaluationError, FaustImportError,
                              FaustNameError, FaustTypeError)
from faustdiff.evaluate import EvaluatedProgram, evaluate, evaluate_file, evaluate_string
from faustdiff.parse import ast, parse_string

HAS_DAWDREAMER = importlib.util.find_spec("dawdreamer") is not None
needs_libraries = pytest.mark.skipif(not HAS_DAWDREAMER,
                                     reason="the Faust libraries come with dawdreamer")


def ev(code: str, **kw) -> B.Box:
    return evaluate_string(code, **kw).process


def arity(code: str, **kw):
    return ev(code, **kw).arity()


def walk(box):
    """Every box inside `box` (depth first, shared boxes once)."""
    seen, stack = set(), [box]
    while stack:
        b = stack.pop()
        if id(b) in seen:
            continue
        seen.add(id(b))
        yield b
        for name in ("a", "b", "body"):
            child = getattr(b, name, None)
            if isinstance(child, B.Box):
                stack.append(child)


def widgets(box):
    return [b for b in walk(box) if isinstance(b, B.BWidget)]


def is_seq(box, a_type, b_type):
    return type(box) is B.BSeq and type(box.a) is a_type and type(box.b) is b_type


# ---------------------------------------------------------------------- primitives and sugar
def test_result_type_and_metadata():
    prog = evaluate_string('declare name "demo"; declare author "me"; process = _;', "demo.dsp")
    assert isinstance(prog, EvaluatedProgram)
    assert prog.metadata == (("name", "demo"), ("author", "me"))
    assert prog.file == "demo.dsp"
    assert type(prog.process) is B.BWire


@pytest.mark.parametrize("code, expected", [
    ("process = +;", (2, 1)), ("process = _;", (1, 1)), ("process = !;", (1, 0)),
    ("process = 3;", (0, 1)), ("process = 2.5;", (0, 1)), ("process = sin;", (1, 1)),
    ("process = select2;", (3, 1)), ("process = rdtable;", (3, 1)), ("process = mem;", (1, 1)),
    ("process = attach;", (2, 1)), ("process = _, _ : +;", (2, 1)), ("process = _ <: _, _;", (1, 2)),
    ("process = _, _, _, _ :> _, _;", (4, 2)), ("process = + ~ _;", (1, 1)),
])
def test_arities_of_primitives_and_compositions(code, expected):
    assert arity(code) == expected


def test_primitive_names_resolve_to_prims():
    box = ev("process = sin;")
    assert type(box) is B.BPrim and box.name == "sin"
    box = ev("process = ^;")
    assert type(box) is B.BPrim and box.name == "pow"


def test_infix_is_par_then_primitive():
    box = ev("process = _ + _;")
    assert is_seq(box, B.BPar, B.BPrim) and box.b.name == "+"
    assert type(box.a.a) is B.BWire and type(box.a.b) is B.BWire
    box = ev("process = _ ^ 2;")
    assert box.b.name == "pow" and box.arity() == (1, 1)


def test_prime_is_mem():
    box = ev("process = _';")
    assert is_seq(box, B.BWire, B.BPrim) and box.b.name == "mem"


def test_constant_arithmetic_is_folded():
    box = ev("process = 2 + 3 * 4;")
    assert type(box) is B.BInt and box.value == 14
    box = ev("process = 2.5 * 2;")
    assert type(box) is B.BReal and box.value == 5.0
    box = ev("process = 2, 3 : +;")
    assert type(box) is B.BInt and box.value == 5
    box = ev("process = 2147483647 + 1;")
    assert box.value == -2147483648  # int32 wrap-around, as Faust


def test_delay_of_constant_is_not_folded():
    box = ev("process = 1 : mem;")
    assert is_seq(box, B.BInt, B.BPrim)


# ---------------------------------------------------------------------- partial application
def test_partial_application_of_binary_operator_fills_second_input():
    box = ev("process = *(2);")
    assert is_seq(box, B.BPar, B.BPrim) and box.b.name == "*"
    assert type(box.a.a) is B.BWire and box.a.b.value == 2
    box = ev("process = @(5);")
    assert box.b.name == "@" and type(box.a.a) is B.BWire and box.a.b.value == 5
    box = ev("process = pow(2);")  # pow behaves like an infix operator too
    assert type(box.a.a) is B.BWire and box.a.b.value == 2


def test_partial_application_of_other_primitives_fills_first_inputs():
    box = ev("process = min(0.5);")
    assert box.b.name == "min" and box.a.a.value == 0.5 and type(box.a.b) is B.BWire
    box = ev("process = prefix(7);")
    assert box.a.a.value == 7 and type(box.a.b) is B.BWire
    box = ev('process = select2(button("b"));')
    assert box.arity() == (2, 1)
    assert type(box.a.a) is B.BWidget


def test_full_application_of_box():
    box = ev("process = +(1, 2);")
    assert box.arity() == (0, 1)
    assert ev("process = _(3);").arity() == (0, 1)


def test_argument_with_several_outputs_goes_first():
    box = ev("process = select2((1, 2));")  # 2 outputs into 3 inputs: (1,2), _ : select2
    assert box.arity() == (1, 1)
    assert type(box.a.b) is B.BWire


def test_too_many_arguments_for_a_box():
    with pytest.raises(FaustArityError, match="too many arguments"):
        ev("process = +(1, 2, 3);")
    with pytest.raises(FaustArityError):
        ev("process = 3(1);")


# ---------------------------------------------------------------------- definitions, closures
def test_definition_with_arguments_and_currying():
    assert arity("f(x, y) = x - y; process = f(1);") == (1, 1)
    assert arity("f(x, y) = x - y; process = f;") == (2, 1)
    assert ev("f(x, y) = x - y; process = f(10, 4);").value == 6


def test_argument_denoting_a_number_is_bound_as_that_number():
    box = ev("f(n) = par(i, n, _); process = f(1 + 2);")
    assert box.arity() == (3, 3)


def test_lambda_applied_and_curried():
    assert ev(r"process = \(x, y).(x * y)(3, 4);").value == 12
    assert arity(r"f = \(x, y).(x - y); g = f(10); process = g;") == (1, 1)


def test_function_used_as_block_diagram():
    box = ev("sq(x) = x * x; process = sq;")
    assert box.arity() == (1, 1)
    box = ev("db2lin(x) = pow(10, x / 20); process = db2lin;")
    # a single use of the argument gives the natural diagram: 10, (_, 20 : /) : pow
    assert is_seq(box, B.BPar, B.BPrim) and box.b.name == "pow"
    assert box.a.a.value == 10 and is_seq(box.a.b, B.BPar, B.BPrim)
    assert not any(isinstance(b, B.BRoute) for b in walk(box))


def test_function_with_two_arguments_as_box_and_in_recursion():
    assert arity(r"process = \(x, y).(x - y);") == (2, 1)
    assert arity(r"process = \(c).(c + 1) ~ _;") == (0, 1)
    assert arity(r"step(a, b) = b, a + b; process = step ~ (_, _);") == (0, 2)
    assert arity(r"process = \(x, y).(x, y) ~ (_, _) : !, _;") == (0, 1)


def test_function_of_many_parameters_as_box_is_fast():
    # (physical-modelling programs route hundreds of signals through such functions)
    n = 300
    params = ", ".join(f"m{i}" for i in range(n))
    outs = ", ".join(f"m{(i * 7) % n} + m{i}" for i in range(n))
    start = time.time()
    box = ev(f"wiring({params}) = {outs}; process = wiring;")
    assert box.arity() == (n, n)
    assert time.time() - start < 10


def test_exact_integer_division_matches_int_pattern():
    code = "f(4) = 1; f(n) = f(n / 2) + 1; process = f(16);"
    assert ev(code).value == 3


def test_function_whose_argument_is_unused_as_box():
    assert arity("f(x) = 3; process = f;") == (1, 1)


def test_lambda_reading_an_outer_argument_inside_recursion():
    box = ev(r"f(g) = (+ : *(g)) ~ _; process = \(k).(f(k));")
    assert box.arity() == (2, 1)


def test_functions_in_compositions_are_matched_and_applied():
    code = r"apply2((f, g), x) = f(x), g(x); process = apply2((\(x).(x*2), \(x).(x+1)), _);"
    assert arity(code) == (2, 2)
    assert arity(r"process = (\(x).(x*2), \(x).(x+1));") == (2, 2)


def test_with_block_sees_outer_scope_and_shadows():
    assert ev("x = 5; process = x * 2 with { x = 2; };").value == 4
    assert ev("y = 5; process = a with { a = b + y; b = 1; };").value == 6


def test_with_block_mutually_recursive_functions():
    code = """process = even(4), odd(3) with {
        even(0) = 1; even(n) = odd(n - 1);
        odd(0) = 0;  odd(n) = even(n - 1);
    };"""
    box = ev(code)
    assert (box.a.value, box.b.value) == (1, 1)


def test_definitions_evaluated_once_and_shared():
    box = ev("osc = hslider(\"f\", 1, 0, 2, 0.1) : sin; process = osc, osc;")
    assert box.a is box.b


# ---------------------------------------------------------------------- pattern matching
def test_numeric_patterns_and_compile_time_recursion():
    assert ev("fact(0) = 1; fact(n) = n * fact(n - 1); process = fact(5);").value == 120


def test_structural_patterns_on_parallel_compositions():
    code = "count((x, xs)) = 1 + count(xs); count(x) = 1; process = count((1, 2, 3, 4));"
    assert ev(code).value == 4
    code = ("take(1, (x, xs)) = x; take(1, x) = x; take(n, (x, xs)) = take(n - 1, xs);"
            "process = take(3, (10, 20, 30, 40));")
    assert ev(code).value == 30


def test_sequential_pattern():
    box = ev("first(x : y) = x; process = first(sin : cos);")
    assert type(box) is B.BPrim and box.name == "sin"


def test_pattern_with_box_constant():
    code = "f(_) = 1; f(x) = 2; process = f(_), f(!);"
    box = ev(code)
    assert (box.a.value, box.b.value) == (1, 2)


def test_nonlinear_pattern():
    box = ev("h(x, x) = 1; h(x, y) = 2; process = h(1, 1), h(1, 2), h(sin, sin);")
    assert (box.a.value, box.b.a.value, box.b.b.value) == (1, 2, 1)


def test_numeric_pattern_matches_computed_number():
    assert ev("f(3) = 1; f(n) = 2; process = f(1 + 2);").value == 1


def test_case_expression():
    code = "f = case { (0) => 10; (1) => 20; (n) => n * 100; }; process = f(0), f(1), f(2);"
    box = ev(code)
    assert (box.a.value, box.b.a.value, box.b.b.value) == (10, 20, 200)


def test_case_with_two_patterns_partially_applied():
    code = "f = case { (0, y) => y; (x, y) => x + y; }; g = f(0); process = g(7), f(2, 3);"
    box = ev(code)
    assert (box.a.value, box.b.value) == (7, 5)


def test_pattern_rules_used_as_box():
    box = ev("f(0) = 1; f(x) = x + 1; process = f;")
    assert box.arity() == (1, 1)


def test_pattern_matching_failure():
    with pytest.raises(FaustEvaluationError, match="pattern matching failed"):
        ev("f(0) = 1; f(1) = 2; process = f(3);")


# ---------------------------------------------------------------------- letrec
def test_letrec_single_and_coupled():
    box = ev("process = x letrec { 'x = x + 1; };")
    assert box.arity() == (0, 1)
    assert any(isinstance(b, B.BRec) for b in walk(box))
    box = ev("process = x, y letrec { 'x = y + 1; 'y = x * 0.5 + _; };")
    assert box.arity() == (2, 2)  # x and y each read the recursive body's input


# ---------------------------------------------------------------------- iterations and labels
@pytest.mark.parametrize("code, expected", [
    ("process = par(i, 3, *(i + 1));", (3, 3)),
    ("process = seq(i, 3, +(i));", (1, 1)),
    ("process = sum(i, 4, _ * (i + 1));", (4, 1)),
    ("process = prod(i, 3, _);", (3, 1)),
    ("process = par(i, 0, _);", (0, 0)),
    ("process = seq(i, 0, (_, _));", (2, 2)),
    ("N = 2 + 1; process = par(i, N, _);", (3, 3)),
])
def test_iterations(code, expected):
    assert arity(code) == expected


def test_par_binds_iteration_number():
    box = ev("process = par(i, 3, i * 10);")
    assert [box.a.value, box.b.a.value, box.b.b.value] == [0, 10, 20]


def test_par_is_right_nested_and_sum_left_nested():
    box = ev("process = par(i, 3, _);")
    assert type(box) is B.BPar and type(box.b) is B.BPar
    box = ev("process = sum(i, 3, _);")
    assert is_seq(box, B.BPar, B.BPrim) and box.a.a.arity() == (2, 1)


@pytest.mark.parametrize("label, expected", [
    ("g%i", ["g0", "g1", "g2"]),
    ("g%2i", ["g 0", "g 1", "g 2"]),
    ("g%{i}x", ["g0x", "g1x", "g2x"]),
    ("100%", ["100%"] * 3),
    ("a%-b", ["a%-b"] * 3),
])
def test_label_substitution(label, expected):
    box = ev(f'process = par(i, 3, hslider("{label}", 0, 0, 1, 0.1));')
    assert sorted(w.label for w in widgets(box)) == sorted(expected)


def test_label_substitution_in_groups():
    box = ev('process = par(j, 2, hgroup("ch %j", hslider("gain", 0, 0, 1, 0.1)));')
    groups = [b for b in walk(box) if isinstance(b, B.BGroup)]
    assert sorted(g.label for g in groups) == ["ch 0", "ch 1"]


def test_label_with_undefined_variable():
    with pytest.raises(FaustNameError, match="'k'"):
        ev('process = hslider("g%k", 0, 0, 1, 0.1);')


# ---------------------------------------------------------------------- user interface
def test_widgets_and_groups():
    box = ev('process = hslider("freq[unit:Hz]", 440, 20, 20000, 1);')
    assert type(box) is B.BWidget
    assert (box.kind, box.label, box.init, box.min, box.max, box.step) == \
        ("hslider", "freq[unit:Hz]", 440.0, 20.0, 20000.0, 1.0)
    box = ev('process = button("gate"), checkbox("on");')
    assert (box.a.kind, box.a.init, box.a.max, box.b.kind) == ("button", 0.0, 1.0, "checkbox")
    box = ev('process = vgroup("v", nentry("n", 1, 0, 10, 1) : hbargraph("m", 0, 10));')
    assert type(box) is B.BGroup and box.kind == "vgroup" and box.arity() == (0, 1)
    assert type(box.body.b) is B.BBargraph and box.body.b.max == 10.0


def test_widget_arguments_are_compile_time_numbers():
    box = ev('N = 4; process = hslider("x", N / 2, 0, N * 2, 0.5);')
    assert (box.init, box.max) == (2.0, 8.0)
    with pytest.raises(FaustEvaluationError, match="compile-time number"):
        ev('process = hslider("x", hslider("y", 0, 0, 1, 0.1), 0, 1, 0.1);')


def test_soundfile_waveform_route():
    box = ev('process = soundfile("s", 2);')
    assert type(box) is B.BSoundfile and box.channels == 2 and box.arity() == (2, 4)
    box = ev("process = waveform{1, 2, 3};")
    assert type(box) is B.BWaveform and box.values == (1, 2, 3) and box.is_int
    box = ev("process = waveform{1, 2.5};")
    assert not box.is_int and box.values == (1.0, 2.5)
    box = ev("process = route(2, 2, (1, 2), (2, 1));")
    assert type(box) is B.BRoute and box.pairs == ((1, 2), (2, 1)) and box.arity() == (2, 2)
    box = ev("process = route(3, 2, par(i, 2, (i + 1, 2 - i)));")
    assert box.pairs == ((1, 2), (2, 1))
    box = ev("process = route(2, 1, (1, 1), (2, 1), (3, 1), (0, 1));")
    assert box.pairs == ((1, 1), (2, 1))  # pairs naming no input/output are ignored, as Faust
    assert ev("process = route(2, 2);").pairs == ()


def test_foreign_objects():
    box = ev('process = ffunction(float sinhf|sinh|sinhl(float), <math.h>, "");')
    assert type(box) is B.BForeignFunction
    assert box.name == "sinh" and box.names == ("sinhf", "sinh", "sinhl")
    assert box.arg_types == ("float",) and box.result_type == "float" and box.arity() == (1, 1)
    box = ev("process = fconstant(int fSamplingFreq, <math.h>);")
    assert type(box) is B.BForeignConstant and box.kind == "constant" and box.type == "int"
    box = ev("process = fvariable(int count, <math.h>);")
    assert box.kind == "variable" and box.name == "count"


def test_inputs_and_outputs():
    box = ev("process = inputs(+), outputs(_ <: _, _, _);")
    assert (box.a.value, box.b.value) == (2, 3)
    assert ev("f(x, y) = x + y; process = inputs(f);").value == 2


def test_widget_modulation():
    box = ev('process = ["gain": +(1) -> hslider("gain", 0.5, 0, 1, 0.1) * 2];')
    assert box.arity() == (0, 1)
    box = ev('process = ["gain" -> hslider("gain", 0.5, 0, 1, 0.1) * 2];')
    assert box.arity() == (1, 1)  # the default circuit * adds an input


# ---------------------------------------------------------------------- environments
def test_environment_access_and_redefinition():
    assert ev("e = environment { a = 1; b = a + 1; }; process = e.b;").value == 2
    assert ev("e = environment { a = 1; b = a + 1; }; process = e[a = 10;].b;").value == 11
    assert ev("k = 3; e = environment { b = k * 2; }; process = e.b;").value == 6


def test_environment_errors():
    with pytest.raises(FaustNameError, match="undefined symbol 'c'"):
        ev("e = environment { a = 1; }; process = e.c;")
    with pytest.raises(FaustTypeError, match="environment"):
        ev("e = environment { a = 1; }; process = e;")
    with pytest.raises(FaustTypeError, match="needs an environment"):
        ev("process = (3).x;")


def test_library_component_and_import(tmp_path):
    (tmp_path / "mylib.lib").write_text("gain = 2; amp(x) = x * gain;\n")
    (tmp_path / "comp.dsp").write_text("k = 3; process = *(k);\n")
    main = tmp_path / "main.dsp"
    main.write_text('l = library("mylib.lib"); process = l.amp(5), l[gain = 4;].amp(5),'
                    ' component("comp.dsp"), component("comp.dsp")[k = 5;];\n')
    box = evaluate_file(main).process
    assert box.arity() == (2, 4)
    assert (box.a.value, box.b.a.value) == (10, 20)
    assert box.b.b.b.a.b.value == 5
    main.write_text('import("mylib.lib"); process = amp(3);\n')
    assert evaluate_file(main).process.value == 6


# ---------------------------------------------------------------------- imports
def test_import_searches_import_dirs_and_env_path(tmp_path, monkeypatch):
    libdir = tmp_path / "libs"
    libdir.mkdir()
    (libdir / "one.lib").write_text("one = 1;\n")
    code = 'import("one.lib"); process = one;'
    with pytest.raises(FaustImportError):
        evaluate_string(code)
    assert evaluate_string(code, import_dirs=[str(libdir)]).process.value == 1
    monkeypatch.setenv("FAUST_LIB_PATH", os.pathsep.join(["/nonexistent", str(libdir)]))
    assert evaluate_string(code).process.value == 1


def test_import_relative_to_importing_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.lib").write_text('import("b.lib"); a = b + 1;\n')
    (tmp_path / "sub" / "b.lib").write_text("b = 41;\n")
    (tmp_path / "main.dsp").write_text('import("sub/a.lib"); process = a;\n')
    assert evaluate_file(tmp_path / "main.dsp").process.value == 42


def test_import_once_and_identical_redefinitions(tmp_path):
    (tmp_path / "base.lib").write_text("base = 1;\n")
    (tmp_path / "l1.lib").write_text('import("base.lib"); one = base;\n')
    (tmp_path / "l2.lib").write_text('import("base.lib"); two = base + 1;\n')
    (tmp_path / "main.dsp").write_text(
        'import("l1.lib"); import("l2.lib"); import("l1.lib"); process = one, two;\n')
    assert evaluate_file(tmp_path / "main.dsp").process.arity() == (0, 2)


def test_redefinition_of_an_imported_symbol(tmp_path):
    (tmp_path / "a.lib").write_text("x = 1;\n")
    main = tmp_path / "main.dsp"
    main.write_text('import("a.lib");\nx = 2;\nprocess = x;\n')
    with pytest.raises(FaustNameError, match="redefinition of symbol 'x'") as info:
        evaluate_file(main)
    assert info.value.span.line == 2
    main.write_text('import("a.lib");\nx = 1;\nprocess = x;\n')  # the same definition: fine
    assert evaluate_file(main).process.value == 1


def test_pkg_url_maps_to_local_library(tmp_path):
    (tmp_path / "mine.lib").write_text("v = 7;\n")
    code = 'import("pkg:faust/someone/mine.lib@1.2.3"); process = v;'
    assert evaluate_string(code, import_dirs=[str(tmp_path)]).process.value == 7


def test_missing_import_error_names_file_folders_and_span(tmp_path):
    with pytest.raises(FaustImportError) as info:
        evaluate_string('\n  import("nowhere.lib");\nprocess = _;', "prog.dsp",
                        import_dirs=[str(tmp_path)])
    err = info.value
    assert "nowhere.lib" in err.message and str(tmp_path) in err.message
    assert (err.span.line, err.span.column) == (2, 3)
    with pytest.raises(FaustImportError, match="missing.lib"):
        evaluate_string('l = library("missing.lib"); process = l.x;')


def test_changed_library_is_read_again(tmp_path):
    lib = tmp_path / "v.lib"
    lib.write_text("v = 1;\n")
    code = 'import("v.lib"); process = v;'
    assert evaluate_string(code, import_dirs=[str(tmp_path)]).process.value == 1
    lib.write_text("v = 2;\n")
    assert evaluate_string(code, import_dirs=[str(tmp_path)]).process.value == 2


# ---------------------------------------------------------------------- precision
def test_precision_prefixed_definitions():
    code = ("singleprecision eps = 1; doubleprecision eps = 2; quadprecision eps = 3;"
            "process = eps;")
    assert ev(code, precision="single").value == 1
    assert ev(code, precision="double").value == 2
    with pytest.raises(ValueError):
        ev(code, precision="quad-ish")


# ---------------------------------------------------------------------- errors
def test_undefined_symbol_at_use_site():
    with pytest.raises(FaustNameError, match="undefined symbol 'foo'") as info:
        evaluate_string("process = _ +\n   foo;", "x.dsp")
    assert (info.value.span.file, info.value.span.line, info.value.span.column) == ("x.dsp", 2, 4)


def test_undefined_symbol_suggests_close_names():
    with pytest.raises(FaustNameError) as info:
        ev("gain = 1; process = _ * gian;")
    assert "'gain'" in info.value.hint


def test_arity_error_names_both_counts_and_points_at_composition():
    with pytest.raises(FaustArityError) as info:
        evaluate_string("a = _, _;\nprocess = a : (_, _, _);")
    err = info.value
    assert "(2)" in err.message and "(3)" in err.message
    assert err.span.line == 2
    with pytest.raises(FaustArityError, match="multiple"):
        ev("process = (_, _, _) <: (_, _);")


def test_endless_recursion_is_too_deep_not_recursion_error():
    start = time.time()
    with pytest.raises(FaustEvaluationError, match="too deep"):
        ev("f(x) = f(x + 1); process = f(1);")
    assert time.time() - start < 30


def test_endless_evaluation_with_same_arguments():
    with pytest.raises(FaustEvaluationError, match="endless"):
        ev("f(x) = f(x); process = f(1);")


def test_recursive_definition_without_recursion_operator():
    with pytest.raises(FaustEvaluationError, match="recursive definition of 'x'"):
        ev("x = x + 1; process = x;")


def test_non_constant_par_count():
    with pytest.raises(FaustEvaluationError, match="iterations of par") as info:
        evaluate_string('process = par(i, hslider("n", 2, 1, 4, 1), _);')
    assert "widget" in info.value.message
    with pytest.raises(FaustEvaluationError, match="sample rate"):
        ev("process = par(i, fconstant(int fSamplingFreq, <math.h>), _);")
    with pytest.raises(FaustTypeError, match="1 input and 1 output"):
        ev("process = par(i, _, _);")


def test_no_process():
    with pytest.raises(FaustNameError, match="no 'process'"):
        ev("foo = 1;")


def test_applying_a_number_to_arguments():
    with pytest.raises(FaustArityError):
        ev("x = 3; process = x(1, 2);")


def test_multiple_definitions_without_parameters():
    with pytest.raises(FaustNameError, match="multiple definitions of symbol 'x'"):
        ev("x = 1; x = 2; process = x;")


def test_hand_built_module():
    span = ast.NOWHERE
    module = ast.Module((ast.Definition("process", None, ast.Infix("+", ast.Int(1), ast.Int(2))),),
                        "<hand>")
    prog = evaluate(module)
    assert prog.process.value == 3 and prog.file == "<hand>"
    assert span.line == 0


def test_evaluate_accepts_parsed_module():
    module = parse_string("process = _ * 2;", "p.dsp")
    assert evaluate(module).process.arity() == (1, 1)


# ---------------------------------------------------------------------- standard libraries
STDFAUST = 'import("stdfaust.lib");\n'


@needs_libraries
@pytest.mark.parametrize("expr, expected", [
    ("os.osc(440)", (0, 1)),
    ("fi.lowpass(2, 1000)", (1, 1)),
    ("fi.lowpass(5, hslider(\"fc[diff:1]\", 1000, 20, 10000, 1))", (1, 1)),
    ("no.noise", (0, 1)),
    ("re.mono_freeverb(0.5, 0.5, 0.5, 23)", (1, 1)),
    ("ve.moog_vcf(0.5, 1000)", (1, 1)),
    ("en.adsr(0.1, 0.1, 0.5, 0.2, button(\"gate\"))", (0, 1)),
    ("de.fdelay(1024, 10.5)", (1, 1)),
    ("re.stereo_freeverb(0.5, 0.5, 0.5, 23)", (2, 2)),
    ("ba.db2linear", (1, 1)),
    ("si.bus(3) : ro.cross(3)", (3, 3)),
    ("ba.selectn(4, 2)", (4, 1)),
    ("ro.interleave(2, 3)", (6, 6)),
    ("fi.iir((1, 0.5), (0.2, 0.1))", (1, 1)),
    ("dm.freeverb_demo", (2, 2)),
    ("pm.ks(1, 0.5)", (1, 1)),
    ("an.mth_octave_analyzer(3, 3, 10000, 4)", (1, 4)),
    ("re.zita_rev1_stereo(0, 200, 6000, 3, 2, 44100)", (2, 2)),
    ("dm.zita_light", (2, 2)),
])
def test_stdfaust_programs(expr, expected):
    assert arity(STDFAUST + f"process = {expr};") == expected


@needs_libraries
def test_stdfaust_compile_time_helpers():
    box = ev(STDFAUST + "process = ba.take(3, (1, 2, 3, 4)), ba.count((1, 2, 3));")
    assert (box.a.value, box.b.value) == (3, 3)


@needs_libraries
def test_stdfaust_pkg_url():
    code = 'import("pkg:faust/faust/stdfaust.lib@1.0.0"); process = os.osc(440);'
    assert arity(code) == (0, 1)


@needs_libraries
def test_stdfaust_evaluates_quickly():
    code = STDFAUST + "process = fi.lowpass(2, 1000);"
    ev(code)  # reads and parses the libraries
    start = time.time()
    ev(code)
    assert time.time() - start < 1.0


@needs_libraries
def test_stdfaust_precision_dependent_constants():
    single = ev(STDFAUST + "process = ma.EPSILON;", precision="single")
    double = ev(STDFAUST + "process = ma.EPSILON;", precision="double")
    assert single.value == pytest.approx(1.1920929e-07)
    assert double.value == pytest.approx(2.220446049250313e-16)


# ---------------------------------------------------------------------- against the real Faust
@pytest.mark.reference
@needs_libraries
@pytest.mark.parametrize("code", [
    r"apply2((f, g), x) = f(x), g(x); process = apply2((*(2), +(1)), _);",
    r"process = _, _ : (\(a).(\(b).(a - b)));",
    r"step(a, b) = b, a + b; process = step ~ (_, _) : _, !;",
    r"f = \(x, y).(x - y); g = f(10); process = g;",
    "process = select2((1, 2));",
    "process = seq(i, 0, (_, _));",
    "process = x, y letrec { 'x = y + 1; 'y = x * 0.5 + _; };",
    'process = ["gain" -> hslider("gain", 0.5, 0, 1, 0.1) * 2];',
    STDFAUST + "process = ef.echo(1, 0.3, 0.5);",
    STDFAUST + "process = co.compressor_mono(4, -20, 0.01, 0.1);",
    STDFAUST + "process = sp.panner(0.3);",
    STDFAUST + "process = ho.encoder(3, _, 0.5);",
])
def test_arity_agrees_with_faust(code):
    from reference import faust_io

    assert arity(code) == tuple(faust_io(code))
