"""Every bad program gets one clear `FaustDiffError` that points at its source.

The corpus is `tests/programs/errors/*.dsp`. Each file starts with a header of `//` lines:

    // expect: <ErrorClass> [<file>:]<line>[:<column>]   the error and where it points
    // message: <regex>                                  the message must match it
    // hint: <regex>                                     so must the hint
    // isolate                                           compile in a child process with
                                                         memory and time limits
    // xfail <aspect>[,<aspect>...]: <reason>            a known bug (strict xfail)

`<file>` names the file the error points into when it is not the program itself (an
error in an imported library). The aspects a file is checked for:

- `api`: `faustdiff.compile_file` (then a first render, if it compiled) raises the class
  at the position, with the message;
- `eager`: `compile_file` itself raises, so nothing is rendered from a bad program;
- `cli`: `faustdiff render FILE -o OUT.wav` exits with status 2, prints `file:line:col`
  and no traceback.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

import faustdiff
from faustdiff import errors
from faustdiff.cli.main import cli
from reference import FaustCompileError, faust_available, faust_io

CORPUS = Path(__file__).resolve().parent / "programs" / "errors"
ASPECTS = ("api", "eager", "cli")

# An isolated program is compiled in a child process that may use this much memory and
# time: enough for any sane program, far too little to take the machine down.
CHILD_MEMORY_BYTES = 3 * 1024 ** 3
CHILD_SECONDS = 15

_EXPECT = re.compile(r"//\s*expect:\s*(?P<cls>\w+)\s+(?:(?P<file>[\w.-]*[A-Za-z_][\w.-]*):)?"
                     r"(?P<line>\d+)(?::(?P<column>\d+))?\s*$")
_XFAIL = re.compile(r"//\s*xfail\s+(?P<aspects>[\w,]+):\s*(?P<reason>.+)$")
_PATTERN = re.compile(r"//\s*(?P<part>message|hint):\s*(?P<regex>.+)$")


@dataclass(frozen=True)
class Case:
    path: Path
    error: str
    file: Path
    line: int
    column: Optional[int]
    message: Optional[str] = None
    hint: Optional[str] = None
    isolate: bool = False
    xfail: Dict[str, str] = field(default_factory=dict)

    @property
    def position(self) -> str:
        """`file:line[:col]` as the CLI prints it."""
        where = f"{self.file}:{self.line}"
        return f"{where}:{self.column}" if self.column is not None else where


def read_case(path: Path) -> Case:
    """The expectations in a corpus file's header (files may hold any bytes after it)."""
    header = []
    for raw in path.read_bytes().split(b"\n"):
        if not raw.startswith(b"//"):
            break
        header.append(raw.decode("latin-1").rstrip("\r"))
    found = _EXPECT.match(header[0]) if header else None
    if found is None:
        raise ValueError(f"{path.name}: the first line must be '// expect: <Class> <line>:<col>'")
    case = dict(path=path, error=found["cls"], line=int(found["line"]),
                column=int(found["column"]) if found["column"] else None,
                file=path.parent / found["file"] if found["file"] else path, xfail={})
    for line in header[1:]:
        if (m := _XFAIL.match(line)):
            case["xfail"].update({a: m["reason"] for a in m["aspects"].split(",")})
        elif (m := _PATTERN.match(line)):
            case[m["part"]] = m["regex"].strip()
        elif line.strip() == "// isolate":
            case["isolate"] = True
    return Case(**case)


CASES = [read_case(p) for p in sorted(CORPUS.glob("*.dsp"))]


def cases_for(aspect: str):
    """The corpus as pytest parameters, each known failure of `aspect` a strict xfail."""
    params = []
    for case in CASES:
        marks = []
        if aspect in case.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=case.xfail[aspect]))
        params.append(pytest.param(case, id=case.path.stem, marks=marks))
    return params


# ------------------------------------------------------------------ observing an error
@dataclass(frozen=True)
class Observed:
    """What compiling (and, if that worked, rendering) a program raised."""

    error: str                 # class name; "" when nothing was raised
    file: str = ""
    line: int = 0
    column: int = 0
    message: str = ""
    hint: str = ""
    at_compile: bool = False   # raised by compile_file itself
    faustdiff_error: bool = False
    inputs: int = 0            # of the program, when it compiled


def observe_here(path: Path) -> Observed:
    try:
        prog = faustdiff.compile_file(str(path))
    except Exception as error:      # noqa: BLE001 - the class is what is tested
        return _observed(error, at_compile=True)
    try:
        prog.render(np.zeros((prog.num_inputs, 16)) if prog.num_inputs else None, n=16)
    except Exception as error:      # noqa: BLE001
        return _observed(error, at_compile=False, inputs=prog.num_inputs)
    return Observed("", inputs=prog.num_inputs)


def _observed(error: Exception, at_compile: bool, inputs: int = 0) -> Observed:
    span = getattr(error, "span", None)
    return Observed(type(error).__name__, span.file if span else "", span.line if span else 0,
                    span.column if span else 0, getattr(error, "message", str(error)),
                    getattr(error, "hint", ""), at_compile,
                    isinstance(error, faustdiff.FaustDiffError), inputs)


_CHILD = """
import dataclasses, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
sys.path.insert(0, {tests!r})
from test_errors import observe_here
from pathlib import Path
print(json.dumps(dataclasses.asdict(observe_here(Path(sys.argv[1])))))
"""


def child_limits() -> str:
    return _CHILD.format(memory=CHILD_MEMORY_BYTES, tests=str(Path(__file__).parent))


def observe_isolated(path: Path) -> Observed:
    """`observe_here` in a child process with memory and time limits."""
    try:
        done = subprocess.run([sys.executable, "-c", child_limits(), str(path)],
                              capture_output=True, text=True, timeout=CHILD_SECONDS)
    except subprocess.TimeoutExpired:
        return Observed("Timeout", message=f"no answer within {CHILD_SECONDS} s")
    if done.returncode != 0 or not done.stdout.strip():
        return Observed("ChildCrash", message=done.stderr[-2000:])
    return Observed(**json.loads(done.stdout.strip().splitlines()[-1]))


def observe(case: Case) -> Observed:
    return _observe(case.path, case.isolate)


@lru_cache(maxsize=None)
def _observe(path: Path, isolate: bool) -> Observed:
    # shared by the api and eager tests: compiling a corpus program can cost a kernel build
    return observe_isolated(path) if isolate else observe_here(path)


# ------------------------------------------------------------------ the corpus
def test_corpus_covers_every_kind_of_error():
    assert len(CASES) >= 30
    kinds = {c.error for c in CASES}
    assert {"FaustSyntaxError", "FaustNameError", "FaustArityError", "FaustImportError",
            "FaustEvaluationError", "FaustResourceError", "FaustTypeError"} <= kinds
    for case in CASES:
        assert hasattr(errors, case.error), f"{case.path.name}: no error class {case.error}"
        assert set(case.xfail) <= set(ASPECTS), f"{case.path.name}: unknown xfail aspect"


@pytest.mark.parametrize("case", cases_for("api"))
def test_error_class_and_position(case):
    seen = observe(case)
    assert seen.error == case.error, f"{case.path.name}: {seen}"
    assert seen.faustdiff_error
    assert Path(seen.file) == case.file, seen
    assert seen.line == case.line, seen
    if case.column is not None:
        assert seen.column == case.column, seen
    if case.message:
        assert re.search(case.message, seen.message), seen.message
    if case.hint:
        assert re.search(case.hint, seen.hint), seen.hint


@pytest.mark.parametrize("case", cases_for("eager"))
def test_error_is_raised_by_compile_file(case):
    # a bad program must be refused when it is compiled, not at its first render
    seen = observe(case)
    assert seen.faustdiff_error and seen.at_compile, seen


def render_args(case: Case, tmp_path: Path) -> list:
    """`faustdiff render FILE -o OUT.wav -n 16`, with a silent input when FILE needs one
    (the CLI asks for an input before it renders)."""
    args = ["render", str(case.path), "-o", str(tmp_path / "out.wav"), "-n", "16"]
    inputs = observe(case).inputs      # (an isolated program is never compiled here)
    if inputs:
        wav = tmp_path / "in.wav"
        soundfile.write(str(wav), np.zeros((16, inputs)), 44100)
        args += ["-i", str(wav)]
    return args


def assert_cli_reports(case: Case, status: int, stderr: str) -> None:
    assert status == 2, stderr
    assert "Traceback" not in stderr
    assert case.position in stderr, stderr
    # one message: a first line `file:line:col: kind: message`, then at most the source
    # line, a caret and a hint
    first = stderr.strip().splitlines()[0]
    assert first.startswith(case.position), stderr


def run_cli_isolated(args: list):
    """(exit status, stderr) of `faustdiff ARGS` in a child with the memory limit."""
    limit = f"resource.setrlimit(resource.RLIMIT_AS, ({CHILD_MEMORY_BYTES},) * 2)"
    code = f"import resource\n{limit}\nfrom faustdiff.cli.main import main\nmain()"
    try:
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, timeout=CHILD_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"faustdiff {args[0]} did not finish within {CHILD_SECONDS} s")
    return done.returncode, done.stderr


@pytest.mark.parametrize("case", cases_for("cli"))
def test_cli_reports_the_error(case, tmp_path):
    if case.isolate:
        assert_cli_reports(case, *run_cli_isolated(render_args(case, tmp_path)))
        return
    result = CliRunner().invoke(cli, render_args(case, tmp_path))
    # CliRunner catches what would be a traceback: anything but an exit is one
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert_cli_reports(case, result.exit_code, result.stderr)


# A few programs through the real command, to see what a user sees (CliRunner shares
# the test's process; a real process also shows a crash of the interpreter).
END_TO_END = ["syntax_unclosed_string", "eval_endless_recursion", "hostile_nested_parentheses",
              "name_undefined_in_stdlib", "import_helper_with_error"]


@pytest.mark.parametrize("name", END_TO_END)
def test_faustdiff_command_reports_the_error(name, tmp_path):
    case = read_case(CORPUS / f"{name}.dsp")
    done = subprocess.run([sys.executable, "-m", "faustdiff.cli.main",
                           *render_args(case, tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert_cli_reports(case, done.returncode, done.stderr)
    assert done.stdout == ""
    assert not (tmp_path / "out.wav").exists()


# ------------------------------------------------------------------ files that are not programs
def test_empty_file_points_at_its_start(tmp_path):
    path = tmp_path / "empty.dsp"
    path.write_bytes(b"")
    with pytest.raises(faustdiff.FaustDiffError) as info:
        faustdiff.compile_file(str(path))
    assert info.value.span is not None and (info.value.span.line, info.value.span.column) == (1, 1)
    assert re.search("empty|process", info.value.message)


def test_unreadable_paths_are_user_errors(tmp_path):
    for path in (tmp_path / "missing.dsp", tmp_path):
        with pytest.raises(faustdiff.FaustDiffError) as info:
            faustdiff.compile_file(str(path))
        assert str(path) in info.value.message


def test_byte_order_mark_is_ignored(tmp_path):
    path = tmp_path / "bom.dsp"
    path.write_bytes(b"\xef\xbb\xbfprocess = _ * 0.5;\n")
    assert faustdiff.compile_file(str(path)).render(np.ones((1, 2)))[0, 0] == 0.5
    path.write_bytes(b"\xef\xbb\xbfprocess = _ * gian;\n")
    with pytest.raises(faustdiff.FaustDiffError) as info:
        faustdiff.compile_file(str(path))
    assert (info.value.span.line, info.value.span.column) == (1, 15)   # the BOM is no column


def test_latin1_comment_is_no_error(tmp_path):
    path = tmp_path / "latin1.dsp"
    path.write_bytes(b"// gain r\xe9glable\nprocess = _ * 0.5;\n")
    assert faustdiff.compile_file(str(path)).num_outputs == 1


def test_read_source_reads_files_as_faust_does(tmp_path):
    from faustdiff.parse import read_source

    path = tmp_path / "mixed.dsp"
    path.write_bytes(b"// r\xe9glable\nprocess = _ * \xe9;\n")
    assert read_source(path).splitlines()[1] == "process = _ * \xe9;"
    path.write_bytes(b"process = _;\n\n  \x00\x01binary")
    with pytest.raises(errors.FaustSyntaxError) as info:
        read_source(path)
    assert (info.value.span.line, info.value.span.column) == (3, 3)


# ------------------------------------------------------------------ how a message looks
def test_message_shows_no_control_characters(tmp_path):
    path = tmp_path / "escape.dsp"
    path.write_bytes(b"process = _ \x1b[2J \x07;\n")
    with pytest.raises(faustdiff.FaustDiffError) as info:
        faustdiff.compile_file(str(path))
    shown = info.value.format()
    assert "\x1b" not in shown and "\x07" not in shown
    source, caret = shown.splitlines()[1:3]
    # the caret stays under the character the error is about
    assert caret.index("^") == source.index("?")


def test_message_shows_the_line_the_parser_counted(tmp_path):
    # a form feed is a line break for str.splitlines but not for Faust
    path = tmp_path / "formfeed.dsp"
    path.write_bytes(b"// page one \x0c page two\nprocess = _ $ 1;\n")
    with pytest.raises(faustdiff.FaustDiffError) as info:
        faustdiff.compile_file(str(path))
    assert info.value.span.line == 2
    assert "process = _ $ 1;" in info.value.format().splitlines()[1]


# ------------------------------------------------------------------ big programs that are fine
def test_deeply_nested_parentheses_compile():
    code = "process = " + "(" * 5000 + "_ * 0.5" + ")" * 5000 + ";"
    assert faustdiff.compile(code).render(np.ones((1, 2)))[0, 1] == 0.5


def test_long_sequential_chain_compiles():
    code = "process = " + " : ".join(["_"] * 5000) + " : *(0.5);"
    assert faustdiff.compile(code).render(np.ones((1, 2)))[0, 1] == 0.5


# ------------------------------------------------------------------ syntax error hints
@pytest.mark.parametrize("code,position,hint", [
    ("process = (1 + 2 : sin;", (1, 23), r"the '\(' at line 1, column 11 is not closed"),
    ("process = x with {\n  x = (1 + 2;\n};", (2, 13), r"the '\(' at line 2, column 7"),
    ("process = (a,\n  b\nfoo = 1;", (3, 1), r"the '\(' at line 1, column 11"),
    ("process = _ * 0.5 ];", (1, 19), r"this '\]' closes nothing"),
    ("process = x with { x = 1 }", (1, 26), r"ends with ';'"),
    ('process = hslider("g", 1, 2, 3);', (1, 31), r'hslider\("label", init, min, max, step\)'),
    ('process = checkbox("c", 1);', (1, 23), r'checkbox\("label"\)'),
    ("process = par(i, 4);", (1, 19), r"par\(i, count, expression\)"),
    ("process = (1 + ;", (1, 16), r"^$"),     # a missing operand is not a bracket problem
])
def test_syntax_error_hints(code, position, hint):
    with pytest.raises(errors.FaustSyntaxError) as info:
        faustdiff.compile(code)
    span = info.value.span
    assert (span.line, span.column) == position
    assert re.search(hint, info.value.hint), info.value.hint


# ------------------------------------------------------------------ the Python API
def test_source_of_the_wrong_type_is_a_clear_type_error():
    for source, words in ((b"process = _;", "bytes.*decode"), (None, "NoneType")):
        with pytest.raises(TypeError, match=words):
            faustdiff.compile(source)


@pytest.fixture(scope="module")
def gain():
    return faustdiff.compile('process = _ * hslider("g[diff:1]", 0.5, 0, 1, 0.01);')


@pytest.mark.parametrize("call", [
    pytest.param(lambda p: p.render(np.ones((1, 4)), params={"g": "loud"}),
                 id="param-not-a-number"),
    pytest.param(lambda p: p.render(n=-5), id="negative-length"),
    pytest.param(lambda p: p.render(np.ones((1, 4)), n=2.5), id="fractional-length"),
    pytest.param(lambda p: p.render(np.array([["a", "b"]])), id="input-not-numbers"),
    pytest.param(lambda p: p.render_batch(np.array([["a", "b"]])), id="batch-input-not-numbers"),
    pytest.param(lambda p: p.render(np.ones((2, 4))), id="input-channels"),
    pytest.param(lambda p: p.render(np.ones((1, 4)), n=10), id="input-too-short"),
    pytest.param(lambda p: p.jvp(np.ones((1, 4)), params={"volume": 1}), id="unknown-param"),
])
def test_bad_render_arguments_are_user_errors(gain, call):
    with pytest.raises(errors.FaustRuntimeError):
        call(gain)


@pytest.mark.parametrize("rate", [0, -44100, 44100.5, "44100"])
def test_sample_rate_must_be_a_positive_whole_number(rate):
    with pytest.raises(faustdiff.FaustDiffError):
        faustdiff.compile("process = fconstant(int fSamplingFreq, <math.h>);", sample_rate=rate)


# ------------------------------------------------------------------ files that never end
@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.dsp"
    os.mkfifo(path)
    return path


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"),
                    reason="no named pipes or /dev/zero here")
def test_read_source_refuses_pipes_and_devices(fifo, tmp_path):
    from faustdiff.parse import read_source

    device = tmp_path / "zero.dsp"
    device.symlink_to("/dev/zero")
    for path in (fifo, device):     # reading either would block or never end
        with pytest.raises(faustdiff.FaustDiffError, match="not a regular file"):
            read_source(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_compile_file_on_a_pipe_returns(fifo):
    code = "import faustdiff, sys\ntry:\n    faustdiff.compile_file(sys.argv[1])\n" \
           "except faustdiff.FaustDiffError as e:\n    print(e)"
    try:
        done = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True,
                              text=True, timeout=CHILD_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail("compile_file blocked on a named pipe")
    assert "not a regular file" in done.stdout


# ------------------------------------------------------------------ what Faust refuses
# Programs the real compiler refuses (True) or accepts (False), as observed with libfaust
# 2.85; faustdiff must agree, and refuse with the position of the offending expression.
REFUSALS = [
    ("process = _ / 0;", True),
    ("process = _ / -0.0;", True),
    ("process = int(_) / 0;", True),             # '/' is a float division
    ("process = _ * (1 / 0);", True),
    ("process = _ % 0.0;", True),
    ("process = fmod(_, 0);", True),
    ("process = remainder(_, 0);", True),
    ("process = _ + remainder(1, 0);", True),
    ("process = sqrt(-1);", True),
    ("process = log(-1);", True),
    ("process = log10(-1);", True),
    ("process = asin(2);", True),
    ("process = acos(1.0000001);", True),
    ("process = (1 % 0, _) : !, _;", True),     # even where the result is not used
    ("process = (sqrt(-1), _) : !, _;", True),
    ("process = select2(1, 1 / 0, 2);", True),
    ("f(x) = _ * x;\nprocess = f(1 / 0);", True),
    ('process = _ @ int(hslider("d", 0, -5, 5, 1));', True),
    ("process = rdtable(8, 1 @ (-1), int(_));", True),
    ('process = control(_ @ hslider("d", 0, -3, 3, 1), checkbox("c"));', True),
    ("process = log(0), log10(0), log(-0.0), sqrt(-0.0), asin(-1), acos(1);", False),
    ("process = pow(-1, 0.5), pow(0, -1), atan2(0, 0), exp(1000);", False),
    ('process = _ / hslider("a", 0, 0, 1, 0.1), sqrt(_ - 2);', False),
    ("process = _ @ (-0.5);", False),            # int(-0.5) is 0
    ('process = _ @ hslider("d", 0, -0.5, 5, 1);', False),
    ("process = (_ @ _), _ : !, _;", False),      # only delays that reach an output count
    ("process = _ @ min(10, max(0, int(_ * 8)));", False),
]


@pytest.mark.parametrize("code,refused", REFUSALS, ids=[c for c, _ in REFUSALS])
def test_refuses_what_faust_refuses(code, refused):
    if not refused:
        faustdiff.compile(code)
        return
    with pytest.raises(errors.FaustEvaluationError) as info:
        faustdiff.compile(code)
    span = info.value.span
    assert span is not None and span.file == "<string>" and span.line == code.count("\n") + 1


@pytest.mark.reference
@pytest.mark.skipif(not faust_available(), reason="dawdreamer is not installed")
@pytest.mark.parametrize("code,refused", REFUSALS, ids=[c for c, _ in REFUSALS])
def test_faust_refuses_the_same(code, refused):
    try:
        faust_io(code)
    except FaustCompileError:
        assert refused
    else:
        assert not refused


def test_delay_in_a_library_points_at_its_at(tmp_path):
    (tmp_path / "lag.lib").write_text("lag(n) = _ @ n;\n")
    (tmp_path / "main.dsp").write_text('import("lag.lib");\nprocess = lag(-2);\n')
    with pytest.raises(errors.FaustEvaluationError) as info:
        faustdiff.compile_file(str(tmp_path / "main.dsp"))
    span = info.value.span
    assert (Path(span.file).name, span.line, span.column) == ("lag.lib", 1, 10)
    assert "-2" in info.value.message


def test_unbounded_delay_says_how_to_bound_it():
    with pytest.raises(errors.FaustResourceError) as info:
        faustdiff.compile("process = _ @ abs(+(1) ~ _);")   # >= 0, without a maximum
    assert (info.value.span.line, info.value.span.column) == (1, 11)
    assert "min(N" in info.value.hint


def test_delay_limit_is_configurable(monkeypatch):
    code = "process = _ @ 5000;"
    monkeypatch.setenv("FAUSTDIFF_MAX_DELAY", "4096")
    with pytest.raises(errors.FaustResourceError, match="4096"):
        faustdiff.compile(code)
    monkeypatch.setenv("FAUSTDIFF_MAX_DELAY", "8192")
    assert faustdiff.compile(code).render(np.ones((1, 5001)))[0, 5000] == 1.0


# ------------------------------------------------------------------ evaluations too large
def test_iterations_are_counted_over_the_whole_program(monkeypatch):
    monkeypatch.setenv("FAUSTDIFF_MAX_ITERATIONS", "1000")
    assert faustdiff.compile("process = par(i, 30, par(j, 30, _));").num_outputs == 900
    code = "process = par(i, 40,\n  par(j, 40, _));"
    with pytest.raises(errors.FaustResourceError) as info:
        faustdiff.compile(code)
    # the iteration that crosses the limit (an inner one: each copy of the outer par
    # makes its own) is named, with the total so far
    assert (info.value.span.line, info.value.span.column) == (2, 3)
    assert re.search(r"par\(j, 40, \.\.\.\).* 1\d\d\d, more than the limit of 1000",
                     info.value.message), info.value.message
    assert "FAUSTDIFF_MAX_ITERATIONS" in info.value.hint


def test_exponential_evaluation_is_refused(monkeypatch):
    monkeypatch.setenv("FAUSTDIFF_MAX_EVALUATION_STEPS", "20000")
    code = "f(0, x) = x;\nf(n, x) = f(n-1, 2*x) + f(n-1, 2*x+1);\nprocess = f(40, 0);"
    with pytest.raises(errors.FaustResourceError) as info:
        faustdiff.compile(code)
    assert info.value.span.line == 2 and "20000" in info.value.message
    assert "FAUSTDIFF_MAX_EVALUATION_STEPS" in info.value.hint


def test_iteration_count_must_be_finite():
    with pytest.raises(errors.FaustEvaluationError, match="finite") as info:
        faustdiff.compile("process = par(i, exp(1000), _);")
    assert (info.value.span.line, info.value.span.column) == (1, 18)
