"""Tests of the front end: grammar, syntax tree, spans and syntax errors."""
from __future__ import annotations

import importlib.util
import logging
import re
from importlib import resources
from pathlib import Path

import lark
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faustdiff.errors import FaustDiffError, FaustSyntaxError
from faustdiff.parse import parse_file, parse_string
from faustdiff.parse.ast import (
    Access, Apply, Case, CaseRule, ComponentExpr, Compose, Cut, Declare, Definition,
    EnvironmentExpr, FConstant, FFunction, ForeignSignature, FVariable, Ident, Import, InputsOf,
    Infix, Int, Iteration, Lambda, Letrec, LibraryExpr, Modulation, OutputsOf, Prime, Real,
    Redefine, Route, Soundfile, String, UIGroup, UIWidget, Waveform, Wire, With,
)


# ---------------------------------------------------------------- helpers
def body(expr: str):
    """The syntax tree of `process = <expr>;`."""
    module = parse_string(f"process = {expr};")
    (definition,) = module.statements
    return definition.body


def syntax_error(text: str) -> FaustSyntaxError:
    with pytest.raises(FaustSyntaxError) as info:
        parse_string(text, "test.dsp")
    return info.value


a, b, c, d, e, f, x, y, z = (Ident(n) for n in "abcdefxyz")


def C(op, left, right):
    return Compose(op, left, right)


def I(op, left, right):  # noqa: E743 - reads like the node it builds
    return Infix(op, left, right)


# ---------------------------------------------------------------- precedence
PRECEDENCE = [
    # block-diagram operators: <: :> (right) < : (right) < , (right) < ~ (left)
    ("a : b , c", C(":", a, C(",", b, c))),
    ("a , b : c", C(":", C(",", a, b), c)),
    ("a <: b : c", C("<:", a, C(":", b, c))),
    ("a : b <: c", C("<:", C(":", a, b), c)),
    ("a :> b <: c", C(":>", a, C("<:", b, c))),
    ("a +> b", C(":>", a, b)),
    ("a : b : c", C(":", a, C(":", b, c))),
    ("a , b , c", C(",", a, C(",", b, c))),
    ("x ~ y , z", C(",", C("~", x, y), z)),
    ("a , b ~ c", C(",", a, C("~", b, c))),
    ("x ~ y ~ z", C("~", C("~", x, y), z)),
    ("x ~ a + b", C("~", x, I("+", a, b))),
    ("a + b : c", C(":", I("+", a, b), c)),
    # infix arithmetic, all left associative
    ("1 + 2 * 3", I("+", Int(1), I("*", Int(2), Int(3)))),
    ("1 * 2 + 3", I("+", I("*", Int(1), Int(2)), Int(3))),
    ("10 - 2 - 3", I("-", I("-", Int(10), Int(2)), Int(3))),
    ("a < b + c", I("<", a, I("+", b, c))),
    ("a == b != c", I("!=", I("==", a, b), c)),
    ("a | b & c", I("|", a, I("&", b, c))),
    ("a xor b << c", I("<<", I("xor", a, b), c)),
    ("a % b >> c", I(">>", I("%", a, b), c)),
    ("a * b ^ c", I("*", a, I("^", b, c))),
    ("2 ^ 3 ^ 2", I("^", I("^", Int(2), Int(3)), Int(2))),
    ("a ^ b @ c", I("^", a, I("@", b, c))),
    ("x @ 2 '", I("@", x, Prime(Int(2)))),
    ("x ' @ 2", I("@", Prime(x), Int(2))),
    ("x @ 1 @ 2", I("@", I("@", x, Int(1)), Int(2))),
    ("x''", Prime(Prime(x))),
    # application and access bind tightest
    ("a + f(b)", I("+", a, Apply(f, (b,)))),
    ("f(a)(b)", Apply(Apply(f, (a,)), (b,))),
    ("f(a)'", Prime(Apply(f, (a,)))),
    ("a.b.c", Access(Access(a, "b"), "c")),
    ("a.b(1)", Apply(Access(a, "b"), (Int(1),))),
    ("x @ f(2)", I("@", x, Apply(f, (Int(2),)))),
    ("(a : b) , c", C(",", C(":", a, b), c)),
    # arguments hold every operator except a top-level ','
    ("f(a : b, c <: d ~ e)", Apply(f, (C(":", a, b), C("<:", c, C("~", d, e))))),
    ("f((a, b), c)", Apply(f, (C(",", a, b), c))),
    ("f(a + b * c)", Apply(f, (I("+", a, I("*", b, c)),))),
]


@pytest.mark.parametrize("source, tree", PRECEDENCE, ids=[p[0] for p in PRECEDENCE])
def test_precedence(source, tree):
    assert body(source) == tree


# ---------------------------------------------------------------- with / letrec
def test_with_closes_over_the_whole_expression():
    assert body("a : b with { x = 1; }") == With(C(":", a, b), (Definition("x", None, Int(1)),))


def test_with_block_can_start_a_composition():
    assert body("a with { } : b") == C(":", With(a, ()), b)
    assert body("a , b with { } , c") == C(",", With(C(",", a, b), ()), c)
    assert body("a with { } ~ b") == C("~", With(a, ()), b)


def test_with_block_cannot_be_an_arithmetic_operand():
    # Faust rejects this too: after `with {...}` only block-diagram operators may follow.
    error = syntax_error("process = 1 + 1 with { x = 1; } * 2;")
    assert (error.span.line, error.span.column) == (1, 33)


def test_with_block_is_not_allowed_inside_arguments():
    syntax_error("process = f(x with { x = 1; });")


def test_letrec():
    tree = body("x letrec { 'x = x + y; 'y = 2; }")
    assert tree == Letrec(x, (Definition("x", None, I("+", x, y)), Definition("y", None, Int(2))))


def test_letrec_where_definitions_belong_to_each_equation():
    tree = body("x letrec { 'x = x + k; where k = 2; }")
    local = (Definition("k", None, Int(2)),)
    assert tree == Letrec(x, (Definition("x", None, With(I("+", x, Ident("k")), local)),))


def test_with_then_letrec():
    tree = body("x with { y = 1; } letrec { 'x = 1; }")
    local = (Definition("y", None, Int(1)),)
    assert tree == Letrec(With(x, local), (Definition("x", None, Int(1)),))


# ---------------------------------------------------------------- literals and signs
LITERALS = [
    ("1", Int(1)),
    ("1.", Real(1.0)),
    (".5", Real(0.5)),
    ("1e3", Real(1000.0)),
    ("1.5e-3", Real(0.0015)),
    (".5e+2", Real(50.0)),
    ("1.e3", Real(1000.0)),
    ("1.5f", Real(1.5)),
    ("1.f", Real(1.0)),
    ("2f", Real(2.0)),
    ("-1", Int(-1)),
    ("+1", Int(1)),
    ("-1.5", Real(-1.5)),
    # Faust reads integer literals into a 32-bit int
    ("2147483648", Int(-2147483648)),
    ("4294967297", Int(1)),
    ("-2147483648", Int(-2147483648)),
]


@pytest.mark.parametrize("source, tree", LITERALS, ids=[p[0] for p in LITERALS])
def test_literals(source, tree):
    result = body(source)
    assert result == tree and type(result.value) is type(tree.value)


SIGNS = [
    ("a - 1", I("-", a, Int(1))),
    ("a-1", I("-", a, Int(1))),
    ("_-1", I("-", Wire(), Int(1))),
    ("a * -1", I("*", a, Int(-1))),
    ("1 - +2", I("-", Int(1), Int(2))),
    ("-(1)", Apply(Ident("-"), (Int(1),))),
    ("-x", I("-", Int(0), x)),
    # `-x` is a primary, so postfix operators apply to the negation (as in Faust)
    ("-x'", Prime(I("-", Int(0), x))),
    ("-a.b", Access(I("-", Int(0), a), "b")),
    ("- - 1", I("-", Ident("-"), Int(1))),
]


@pytest.mark.parametrize("source, tree", SIGNS, ids=[p[0] for p in SIGNS])
def test_signs(source, tree):
    assert body(source) == tree


BOXES = ["+", "-", "*", "/", "%", "@", "^", "&", "|", "xor", "<<", ">>", "<", "<=", ">", ">=",
         "==", "!=", "sin", "mem", "prefix", "select2", "select3", "int", "float", "rdtable",
         "rwtable", "attach", "pow", "min", "max", "fmod", "floor", "enable", "control",
         "assertbounds", "lowest", "highest", "atan2", "log10", "remainder", "rint"]


@pytest.mark.parametrize("name", BOXES)
def test_operators_and_primitives_are_identifiers(name):
    assert body(name) == Ident(name)
    assert body(f"{name}(2)") == Apply(Ident(name), (Int(2),))


def test_atoms():
    assert body("_") == Wire()
    assert body("!") == Cut()
    assert body('"abc"') == String("abc")
    assert body("(a)") == a
    assert body("_x") == Ident("_x")
    assert body("a::b") == Ident("a::b")
    assert body("sine") == Ident("sine")  # a keyword prefix is still a name


# ---------------------------------------------------------------- statements
def test_definitions():
    module = parse_string("f = 1; g(x, y) = x + y; h(0) = 1; h((u, v)) = u;")
    assert module.statements == (
        Definition("f", None, Int(1)),
        Definition("g", (x, y), I("+", x, y)),
        Definition("h", (Int(0),), Int(1)),
        Definition("h", (C(",", Ident("u"), Ident("v")),), Ident("u")),
    )


def test_precision_prefixes():
    module = parse_string(
        "singleprecision m = 1; doubleprecision quadprecision m = 2;"
        "process = m with { fixedpointprecision k = 3; };"
    )
    first, second, third = module.statements
    assert first.precision == "singleprecision"
    assert second.precision == "doubleprecision quadprecision"
    assert third.precision == "" and third.body.defs[0].precision == "fixedpointprecision"


def test_precision_prefix_before_an_import_is_reported():
    error = syntax_error('singleprecision import("stdfaust.lib");')
    assert "precision prefix" in error.message and error.span.column == 1


def test_import_and_declare():
    module = parse_string('import("stdfaust.lib"); declare name "Synth"; declare f author "Me";')
    assert module.statements == (
        Import("stdfaust.lib"), Declare("name", "Synth", ""), Declare("author", "Me", "f"),
    )


def test_comments_and_documentation_are_skipped():
    text = """// line comment
    /* block
       comment */ process = 1 /* inline */ + 2; // end
    <mdoc> Some <equation>process</equation> text </mdoc>
    """
    assert parse_string(text).statements == (Definition("process", None, I("+", Int(1), Int(2))),)


def test_unclosed_block_comment_runs_to_the_end_of_the_file():
    # As in Faust's lexer.
    assert parse_string("process = 1; /* never closed").statements == (
        Definition("process", None, Int(1)),
    )


# ---------------------------------------------------------------- constructs
def test_lambda_and_case():
    assert body(r"\(x, y).(x + y)") == Lambda(("x", "y"), I("+", x, y))
    assert body("case { (0, y) => y; (x) => x; }") == Case((
        CaseRule((Int(0), y), y), CaseRule((x,), x),
    ))


@pytest.mark.parametrize("kind", ["par", "seq", "sum", "prod"])
def test_iterations(kind):
    assert body(f"{kind}(i, 4, _ * (i + 1))") == Iteration(
        kind, "i", Int(4), I("*", Wire(), I("+", Ident("i"), Int(1)))
    )


def test_widgets():
    assert body('hslider("freq [unit:Hz] %i", 440, 20, 2000, 0.1)') == UIWidget(
        "hslider", "freq [unit:Hz] %i", (Int(440), Int(20), Int(2000), Real(0.1))
    )
    assert body('vslider("v", 0, -1, 1, 0.01)').args == (Int(0), Int(-1), Int(1), Real(0.01))
    assert body('nentry("n", 1, 0, a + b, 1)').args[2] == I("+", a, b)
    assert body('button("gate")') == UIWidget("button", "gate", ())
    assert body('checkbox("on")') == UIWidget("checkbox", "on", ())
    assert body('hbargraph("level", 0, 1)') == UIWidget("hbargraph", "level", (Int(0), Int(1)))
    assert body('vbargraph("level", 0, 1)').kind == "vbargraph"


def test_groups_and_soundfile():
    assert body('hgroup("h", _)') == UIGroup("hgroup", "h", Wire())
    assert body('vgroup("v", a, b)') == UIGroup("vgroup", "v", C(",", a, b))
    assert body('tgroup("t", a)').kind == "tgroup"
    assert body('soundfile("s [url:x.wav]", 2)') == Soundfile("s [url:x.wav]", Int(2))


def test_labels_are_taken_verbatim():
    # Faust has no escapes in strings; a newline in a label becomes a space.
    assert body('button("a\\tb")').label == "a\\tb"
    assert body('button("two\nlines")').label == "two lines"
    assert body('button("[midi:ctrl 7][style:knob]")').label == "[midi:ctrl 7][style:knob]"


def test_waveform_and_route():
    assert body("waveform {1, 2.5, -3, +4}") == Waveform((Int(1), Real(2.5), Int(-3), Int(4)))
    assert body("route(2, 2, (1, 2), (2, 1))") == Route(
        Int(2), Int(2), C(",", C(",", Int(1), Int(2)), C(",", Int(2), Int(1)))
    )
    assert body("route(a, b)") == Route(a, b, None)


def test_foreign_functions():
    assert body('ffunction(float sinh(float), <math.h>, "")') == FFunction(
        ForeignSignature("float", ("sinh",), ("float",)), "<math.h>", ""
    )
    assert body('ffunction(float sinhf|sinh|sinhl(float), <math.h>, "m")') == FFunction(
        ForeignSignature("float", ("sinhf", "sinh", "sinhl"), ("float",)), "<math.h>", "m"
    )
    assert body('ffunction(int f|g|h|k(int, float, any), "my.h", "")').signature == (
        ForeignSignature("int", ("f", "g", "h", "k"), ("int", "float", "any"))
    )
    assert body('ffunction(int arc4random(), <stdlib.h>, "")').signature.arg_types == ()


def test_foreign_constants_and_variables():
    assert body("fconstant(int fSamplingFreq, <math.h>)") == FConstant(
        "int", "fSamplingFreq", "<math.h>"
    )
    assert body('fvariable(float level, "state.h")') == FVariable("float", "level", '"state.h"')


def test_environments_and_files():
    assert body('environment { declare k "v"; x = 1; }.x') == Access(
        EnvironmentExpr((Declare("k", "v"), Definition("x", None, Int(1)))), "x"
    )
    assert body('library("maths.lib").PI') == Access(LibraryExpr("maths.lib"), "PI")
    assert body('component("osc.dsp")') == ComponentExpr("osc.dsp")
    assert body("e[a = 1; f(x) = x;]") == Redefine(
        e, (Definition("a", None, Int(1)), Definition("f", (x,), x))
    )
    assert body("inputs(a), outputs(b)") == C(",", InputsOf(a), OutputsOf(b))


def test_widget_modulation():
    assert body('["freq": +(1), "gain" -> f]') == Modulation(
        (("freq", Apply(Ident("+"), (Int(1),))), ("gain", None)), f
    )


# ---------------------------------------------------------------- spans
def test_spans_of_nodes():
    module = parse_string("f = 1;\nprocess = a +\n   foo(2);", "prog.dsp")
    definition = module.statements[1]
    span = definition.span
    assert (span.file, span.line, span.column) == ("prog.dsp", 2, 1)
    infix = definition.body
    assert (infix.span.line, infix.span.column, infix.span.end_line) == (2, 11, 3)
    call = infix.right
    assert (call.span.line, call.span.column, call.span.end_column) == (3, 4, 10)
    assert (call.fn.span.line, call.fn.span.column, call.fn.span.end_column) == (3, 4, 7)
    assert (call.args[0].span.line, call.args[0].span.column) == (3, 8)


def test_spans_after_multiline_strings_and_comments():
    module = parse_string('x = button("a\nb"); /* c\nc */ y = 1;')
    assert (module.statements[1].span.line, module.statements[1].span.column) == (3, 6)


def test_spans_with_precision_cover_the_prefix():
    definition = parse_string("\n  doubleprecision m = 2;").statements[0]
    assert (definition.span.line, definition.span.column) == (2, 3)


# ---------------------------------------------------------------- syntax errors
ERRORS = [
    # (source, line, column, words in the message)
    ("process = (1 + );", 1, 16, "unexpected ')'; expected an expression"),
    ("process = a b;", 1, 13, "unexpected name 'b'; expected an operator or ';'"),
    ("process = _", 1, 12, "unexpected end of file"),
    ("process = _\nfoo = 1;", 2, 1, "unexpected name 'foo'"),
    ("process = f(a;", 1, 14, "unexpected ';'"),
    ("process = 1 $ 2;", 1, 13, "unexpected character '$'"),
    ('process = button("abc);', 1, 18, "never closed"),
    ("process = \\(x).x;", 1, 16, "expected '('"),
    ("sin = 3;", 1, 1, "unexpected 'sin'"),
    ("process = ma.sin;", 1, 14, "unexpected 'sin'; expected a name"),
    ("minput = 1;", 1, 1, "unexpected 'minput'"),
    ("process = waveform {};", 1, 21, "unexpected '}'"),
    ('process = hslider(1, 2, 3, 4, 5);', 1, 19, "expected a string"),
    ('process = hslider("a", 1, 2, 3);', 1, 31, "expected ','"),
    ('process = ffunction(int rand(void), <stdlib.h>, "");', 1, 30, "unexpected name 'void'"),
    ("process = case { (x) => x };", 1, 27, "unexpected '}'"),
    ("process = 1; ;", 1, 14, "expected a definition, 'import' or 'declare'"),
    ("f() = 1;", 1, 3, "unexpected ')'"),
    ("process = f(a,);", 1, 15, "unexpected ')'"),
    ("process = __;", 1, 12, "unexpected '_'"),
    ("process = -_;", 1, 12, "unexpected '_'"),
    ("process = 1E3;", 1, 12, "unexpected name 'E3'"),
    ("process = 0x10;", 1, 12, "unexpected name 'x10'"),
    ("process = x with { 1 };", 1, 20, "expected a definition or '}'"),
    ("<mdoc> never closed", 1, 1, "<mdoc> block is never closed"),
    ("process = a<b>c;", 1, 12, "unexpected include file <b>"),
]


@pytest.mark.parametrize("source, line, column, words", ERRORS, ids=[e[0] for e in ERRORS])
def test_syntax_errors(source, line, column, words):
    error = syntax_error(source)
    assert isinstance(error, FaustDiffError)
    assert (error.span.file, error.span.line, error.span.column) == ("test.dsp", line, column)
    assert words in error.message
    # No Lark vocabulary: terminal names such as RPAR, __ANON_3 or $END.
    assert not re.search(r"\$END|__ANON|\b[A-Z][A-Z_]{2,}\b(?<!E3)", error.message), error.message


def test_error_hints():
    assert "';' missing" in syntax_error("process = _\nfoo = 1;").hint
    assert "reserved word" in syntax_error("sin = 3;").hint
    assert "()" in syntax_error('process = ffunction(int r(void), <stdlib.h>, "");').hint
    assert "line 2" in syntax_error("process = _\n/* never closed").hint


def test_error_format_shows_the_line_and_a_caret():
    text = "process = 1;\nfoo = (1 + );"
    with pytest.raises(FaustSyntaxError) as info:
        parse_string(text, "bad.dsp")
    shown = info.value.format(text)
    assert shown.startswith("bad.dsp:2:12: syntax error: unexpected ')'")
    assert shown.splitlines()[1:3] == ["    foo = (1 + );", "               ^"]


# ---------------------------------------------------------------- files
def test_parse_file(tmp_path):
    path = tmp_path / "ok.dsp"
    path.write_text('import("stdfaust.lib");\nprocess = _;\n', encoding="utf-8")
    module = parse_file(path)
    assert module.file == str(path)
    assert module.statements[1].span.file == str(path)


def test_parse_file_error_names_the_file(tmp_path):
    path = tmp_path / "bad.dsp"
    path.write_text("process = ;\n", encoding="utf-8")
    with pytest.raises(FaustSyntaxError) as info:
        parse_file(path)
    assert info.value.span.file == str(path) and str(path) in str(info.value)


def test_parse_file_tolerates_a_bom_and_latin1_comments(tmp_path):
    path = tmp_path / "bom.dsp"
    path.write_bytes(b"\xef\xbb\xbfprocess = 1;")
    assert parse_file(path).statements[0].name == "process"
    latin = tmp_path / "latin.dsp"
    latin.write_bytes(b"// caf\xe9\nprocess = 1;")
    assert parse_file(latin).statements[0].name == "process"


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"  \n\t\n", "empty"),
    (b"\x7fELF\x00\x01\x02", "binary"),
])
def test_parse_file_rejects_files_without_faust_code(tmp_path, content, words):
    path = tmp_path / "x.dsp"
    path.write_bytes(content)
    with pytest.raises(FaustSyntaxError) as info:
        parse_file(path)
    assert words in info.value.message and str(path) in info.value.message


def test_parse_file_reports_unreadable_paths(tmp_path):
    for path in (tmp_path / "missing.dsp", tmp_path):
        with pytest.raises(FaustDiffError) as info:
            parse_file(path)
        assert str(path) in info.value.message


# ---------------------------------------------------------------- the grammar itself
def test_grammar_ships_as_package_data():
    assert (resources.files("faustdiff.grammar") / "faust.lark").is_file()


def test_grammar_has_no_lalr_conflicts():
    text = (resources.files("faustdiff.grammar") / "faust.lark").read_text(encoding="utf-8")
    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler, level = Collect(), lark.logger.level
    lark.logger.addHandler(handler)
    lark.logger.setLevel(logging.DEBUG)
    try:
        lark.Lark(text, start="module", parser="lalr", lexer="basic", debug=True)
    finally:
        lark.logger.removeHandler(handler)
        lark.logger.setLevel(level)
    assert not [m for m in messages if "conflict" in m.lower()], messages


# ---------------------------------------------------------------- property: precedence
# An independent statement of Faust's precedence table: (level, right associative).
LEVELS = {
    "<:": (1, True), ":>": (1, True), ":": (2, True), ",": (3, True), "~": (4, False),
    "<": (5, False), "==": (5, False), "+": (6, False), "-": (6, False), "|": (6, False),
    "*": (7, False), "xor": (7, False), ">>": (7, False), "^": (8, False), "@": (9, False),
}
PRIME_LEVEL = 10


def _level(node):
    if isinstance(node, (Compose, Infix)):
        return LEVELS[node.op][0]
    return PRIME_LEVEL + 1 if not isinstance(node, Prime) else PRIME_LEVEL


def show(node) -> str:
    """Print with as few parentheses as the precedence table allows."""
    if isinstance(node, Prime):
        inner = show(node.expr)
        return (f"({inner})" if _level(node.expr) < PRIME_LEVEL else inner) + "'"
    if isinstance(node, (Compose, Infix)):
        level, right_assoc = LEVELS[node.op]
        left, right = show(node.left), show(node.right)
        if _level(node.left) < level or (_level(node.left) == level and right_assoc):
            left = f"({left})"
        if _level(node.right) < level or (_level(node.right) == level and not right_assoc):
            right = f"({right})"
        return f"{left} {node.op} {right}"
    if isinstance(node, Wire):
        return "_"
    return node.name if isinstance(node, Ident) else str(node.value)


def _combine(children):
    binary = st.builds(_node, st.sampled_from(sorted(LEVELS)), children, children)
    return binary | st.builds(Prime, children)


def _node(op, left, right):
    return Compose(op, left, right) if LEVELS[op][0] <= 4 else Infix(op, left, right)


@pytest.mark.parametrize("outer", sorted(LEVELS))
def test_every_pair_of_operators_nests_as_faust_says(outer):
    for inner in sorted(LEVELS):
        for tree in (_node(outer, _node(inner, a, b), c), _node(outer, a, _node(inner, b, c))):
            assert body(show(tree)) == tree, show(tree)


LEAVES = st.sampled_from([a, b, c, Wire()]) | st.integers(0, 99).map(Int)
EXPRESSIONS = st.recursive(LEAVES, _combine, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(EXPRESSIONS)
def test_printing_with_minimal_parentheses_parses_back(tree):
    assert body(show(tree)) == tree


# ---------------------------------------------------------------- real-world sources
def _faust_libraries():
    spec = importlib.util.find_spec("dawdreamer")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "faustlibraries"
    return folder if folder.is_dir() else None


def _parse_all(files):
    failures = []
    for path in files:
        try:
            parse_file(path)
        except FaustDiffError as error:
            failures.append(f"{path}: {error}")
    return failures


def test_every_standard_library_parses():
    folder = _faust_libraries()
    if folder is None:
        pytest.skip("dawdreamer (which ships the Faust libraries) is not installed")
    files = sorted(folder.rglob("*.lib"))
    assert files
    assert _parse_all(files) == []


def test_every_library_example_parses():
    folder = _faust_libraries()
    if folder is None:
        pytest.skip("dawdreamer (which ships the Faust libraries) is not installed")
    files = sorted((folder / "examples").rglob("*.dsp")) if (folder / "examples").is_dir() else []
    if not files:
        pytest.skip("this copy of the Faust libraries has no examples")
    assert _parse_all(files) == []


def test_debian_faust_libraries_parse():
    folder = Path("/usr/share/faust")
    if not folder.is_dir():
        pytest.skip("the faust-common package is not installed")
    files = sorted(folder.rglob("*.lib"))
    if not files:
        pytest.skip("no .lib files in /usr/share/faust")
    assert _parse_all(files) == []


# ---------------------------------------------------------------- agreement with Faust
# What the real Faust parser accepts (checked with libfaust). `test_agrees_with_faust`
# re-checks the table against the compiler embedded in dawdreamer when it is installed.
ACCEPTANCE = [
    ("process = 1.5f + 5f + 1.f;", True),
    ("process = 1E3;", False),
    ("process = 0x10;", False),
    ("process = -_;", False),
    ("process = - - 1;", True),
    ("process = 1 - +2;", True),
    ("process = 1 ^ -2;", True),
    ("process = +x with { x = 1; };", False),
    ("process = 1 with { x = 1; } : _;", True),
    ("process = 1 + 1 with { x = 1; } * 2;", False),
    ("process = f(x with { x = 1; }) with { f(y) = y; };", False),
    ("sin = 3; process = 1;", False),
    ("minput = 1; process = 1;", False),
    ('process = ffunction(int rand(void), <stdlib.h>, "");', False),
    ('process = ffunction(int rand(), <stdlib.h>, "");', True),
    ("process = waveform {};", False),
    ("process = waveform {1, -2.5, +3};", True),
    ("process = a<b>c with { a = 1; b = 2; c = 3; };", False),
    ("process = 2147483648;", True),
    ("process = 1 +> _;", True),
    ("process = x letrec { 'x = x + 1; where y = 2; };", True),
    ("process = x with { y = 1; } letrec { 'x = 1; };", True),
    ("process = 1; ;", False),
    ("f() = 1; process = 1;", False),
    ("process = f(a,);", False),
    ("process = (1 ,);", False),
    ("process = __;", False),
    ("process = _x with { _x = 1; };", True),
    ("process = environment { x = 1; }.x;", True),
    ("process = 2 : @(1);", True),
    ("process = 1'';", True),
    ("process = \\(x).x;", False),
    ("process = \\(x).(x);", True),
    ("process = case { (x) => x };", False),
    ("process = case { (x) => x; };", True),
    ('process = hslider("a\nb [style:knob]", 0, 0, 1, 0.1);', True),
    ("process = 1; <mdoc> text <equation>process</equation> </mdoc>", True),
    ("process = x with { singleprecision doubleprecision x = 1; };", True),
    ('import("stdfaust.lib"); process = ["freq": +(1) -> os.osc(hslider("freq", 4, 2, 9, 1))];',
     True),
]


def _accepted_here(source):
    try:
        parse_string(source)
    except FaustSyntaxError:
        return False
    return True


@pytest.mark.parametrize("source, accepted", ACCEPTANCE, ids=[s for s, _ in ACCEPTANCE])
def test_accepts_what_faust_accepts(source, accepted):
    assert _accepted_here(source) == accepted


@pytest.mark.reference
def test_agrees_with_faust():
    daw = pytest.importorskip("dawdreamer")
    engine = daw.RenderEngine(44100, 64)
    disagreements = []
    for number, (source, accepted) in enumerate(ACCEPTANCE):
        processor = engine.make_faust_processor(f"syntax{number}")
        try:
            processor.set_dsp_string(source)
            processor.compile()
            faust_says = True
        except RuntimeError as error:
            faust_says = "syntax error" not in str(error)  # other errors are not the parser's
        if faust_says != accepted:
            disagreements.append(source)
    assert disagreements == []
