"""Text from a Faust program is data, never code.

Labels, metadata, `declare` values, file names, folder names and the strings of foreign
declarations go into programs as hostile Python (quotes, newlines, `__import__`, triple
quotes, backslashes, format braces, the kernel template's `$` placeholders). None may
reach the generated kernel source, in memory or in the kernel cache folder, and none may
run: every payload would create the file `pwned` in the current folder (the test's own),
and that file must never appear.

Every payload carries a marker (`zqmark<k>`) that must survive as data (in the
parameters, the metadata or the file name: so the payload really went through the
compiler) and must be absent from every kernel.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import faustdiff
from faustdiff.cli.main import cli
from faustdiff.drivers.derivative import derivative_source

SENTINEL = "pwned"

# Python that creates the sentinel, wrapped to escape from the Python strings, comments,
# f-strings and format strings that a careless code generator might put a label in.
# A Faust string ends at the first '"' (no escape keeps it), so these use "'" only.
CODE = f"__import__('os').system('touch {SENTINEL}')"
LABEL_PAYLOADS = [
    f"'); {CODE}; ('",
    f"'''); {CODE} #",
    f"\n{CODE}\n",
    f"\\'); {CODE} #\\",
    f"{{{CODE}}} {{0}} {{__class__.__mro__}}",
    f"$main $tables ${{main}} {CODE}",
    f"\\n\\x00\\u2028 {CODE}",
    f"\u2028{CODE}\u2029",
    f"# {CODE}",
]
# Python-level text (file and folder names) may also hold '"'.
NAME_PAYLOADS = LABEL_PAYLOADS + [f'"""); {CODE} #', f'"); {CODE} #"']


def marked(payloads):
    """(marker, marker + payload) for each payload: a leak names the payload that leaked."""
    return [(f"zqmark{k}", f"zqmark{k} {text}") for k, text in enumerate(payloads)]


def name_params(payloads):
    """The payloads as pytest parameters. The ids do not hold the marker: pytest names the
    test's folder (where the kernel cache is, whose files record their path) after them."""
    return [pytest.param(m, p, id=f"payload{k}") for k, (m, p) in enumerate(marked(payloads))]


LABELS = marked(LABEL_PAYLOADS)
MARKERS = [m for m, _ in LABELS]

_serial = itertools.count(1)


def fresh() -> str:
    """A gain no other test uses: it makes each test's kernels new to the process, so
    they are written to the test's cache folder rather than found already loaded."""
    return f"*({1 + next(_serial) / 1024})"


def slider(label: str, init: float = 0.5) -> str:
    return f'hslider("{label}", {init}, 0, 1, 0.01)'


@pytest.fixture(autouse=True)
def sandbox(tmp_path, monkeypatch):
    """The test's folder is the current one (where a payload would create the sentinel)
    and holds the kernel cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FAUSTDIFF_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path
    assert not (tmp_path / SENTINEL).exists(), "a payload ran"


# ------------------------------------------------------------------ checks
def run_everything(prog):
    """Build and run both kernels, as a user would."""
    x = np.zeros((prog.num_inputs, 8)) if prog.num_inputs else None
    prog.render(x, n=8)
    prog.jvp(x, n=8)


def kernel_texts(prog, cache: Path) -> dict:
    """Every text a kernel was made from: the sources in memory and the cache's files."""
    texts = {"render kernel": prog.kernel_source(with_tangents=False),
             "jvp kernel": prog.kernel_source(with_tangents=True)}
    for path in sorted((cache / "kernels").rglob("*")):
        if path.is_file():
            texts[path.name] = path.read_bytes().decode("latin-1")
    return texts


def assert_no_leak(prog, cache: Path, markers, new_kernels: bool = True):
    run_everything(prog)
    assert not Path(SENTINEL).exists(), "a payload ran"
    texts = kernel_texts(prog, cache)
    if new_kernels:     # written to this test's cache, so the files were checked too
        assert sum(name.endswith(".py") for name in texts) == 2, sorted(texts)
    for name, text in texts.items():
        for marker in markers:
            assert marker not in text, f"{marker} leaked into {name}"


# ------------------------------------------------------------------ text inside programs
def test_widget_and_group_labels(sandbox):
    widgets = []
    for _, p in LABELS:
        widgets.append(f'hgroup("{p} g", vgroup("{p} v", _ * {slider(p + " a[diff:1]")}'
                       f' + {slider(p + " b", 0.25)} * button("{p} c") * checkbox("{p} d")'
                       f' + nentry("{p} e", 1, 0, 2, 1) : hbargraph("{p} h", -1, 1)))')
    prog = faustdiff.compile(f"process = {', '.join(widgets)} :> {fresh()};")
    assert len(prog.params) == 5 * len(LABELS) and len(prog.diff_params) == len(LABELS)
    for marker in MARKERS:  # the bargraphs are outputs, not parameters
        assert sum(marker in p.label and marker in p.path for p in prog.params) == 5
    assert_no_leak(prog, sandbox / "cache", MARKERS)


def test_label_metadata(sandbox):
    # a metadata value cannot hold '[' or ']', and a backslash takes the next character
    # literally (so it is doubled); everything else goes
    sliders = []
    for _, p in LABELS:
        value = p.replace("\\", "\\\\").replace("[", "(").replace("]", ")")
        sliders.append(slider(f"g{len(sliders)}[diff:1][tooltip:{value}][{value}]"))
    prog = faustdiff.compile(f"process = _ <: {', '.join(sliders)} :> {fresh()};")
    for marker, param in zip(MARKERS, prog.params):
        assert param.diff and marker in param.metadata["tooltip"]
    assert_no_leak(prog, sandbox / "cache", MARKERS)


def test_declare_values(sandbox):
    declares = "".join(f'declare key{k} "{p}";\ndeclare gain key{k} "{p}";\n'
                       for k, (_, p) in enumerate(LABELS))
    prog = faustdiff.compile(f'{declares}gain = *({slider("g[diff:1]")});\n'
                             f"process = gain : {fresh()};")
    kept = " ".join(value for _, value in prog.metadata)
    assert all(marker in kept for marker in MARKERS)
    assert_no_leak(prog, sandbox / "cache", MARKERS)


def test_foreign_declaration_strings(sandbox):
    # ffunction names are identifiers; the include file and library are free text
    chain = " : ".join(f'ffunction(float tanh(float), "{p}", "{p}") : '
                       f'*(fconstant(int fSamplingFreq, "{p}") / 44100)' for _, p in LABELS)
    prog = faustdiff.compile(f'process = *({slider("g[diff:1]")}) : {chain} : {fresh()};')
    assert_no_leak(prog, sandbox / "cache", MARKERS)


# ------------------------------------------------------------------ names around programs
NAMED_PROGRAM = 'process = gain * hslider("g[diff:1]", 0.5, 0, 1, 0.01) : *(0.75);\n'


def benign_kernels(tmp_path: Path):
    """The kernels of NAMED_PROGRAM under plain names: hostile names must not change them."""
    (tmp_path / "plain").mkdir(exist_ok=True)
    (tmp_path / "plain" / "gain.lib").write_text("gain = *(0.5);\n")
    path = tmp_path / "plain" / "main.dsp"
    path.write_text('import("gain.lib");\n' + NAMED_PROGRAM)
    prog = faustdiff.compile_file(str(path))
    return prog.kernel_source(False), prog.kernel_source(True)


@pytest.mark.parametrize("marker,payload", name_params(NAME_PAYLOADS))
def test_file_name_given_to_compile(marker, payload, sandbox):
    prog = faustdiff.compile("gain = *(0.5);\n" + NAMED_PROGRAM, filename=f"{payload}.dsp")
    assert marker in prog.filename
    assert (prog.kernel_source(False), prog.kernel_source(True)) == benign_kernels(sandbox)
    assert_no_leak(prog, sandbox / "cache", [marker], new_kernels=False)


@pytest.mark.parametrize("marker,payload", name_params(NAME_PAYLOADS))
def test_file_and_folder_names(marker, payload, sandbox):
    # the program, its folder of libraries and the library are named by the payload (the
    # library's name is written in a Faust string, so it has no '"', nor a line break,
    # which Faust reads as a space); a file name has no '/' and no NUL
    payload = payload.replace("/", "|").replace("\0", "0")
    library = payload.replace('"', "'").replace("\n", " ") + ".lib"
    folder = sandbox / f"{payload} libs"
    folder.mkdir()
    (folder / library).write_text("gain = *(0.5);\n")
    main = sandbox / f"{payload}.dsp"
    main.write_text(f'import("{library}");\n' + NAMED_PROGRAM)
    prog = faustdiff.compile_file(str(main), import_dirs=[str(folder)])
    assert marker in prog.filename
    assert (prog.kernel_source(False), prog.kernel_source(True)) == benign_kernels(sandbox)
    assert_no_leak(prog, sandbox / "cache", [marker], new_kernels=False)


# ------------------------------------------------------------------ where text is shown
def test_error_messages_show_the_payload_as_text():
    for marker, payload in LABELS:
        with pytest.raises(faustdiff.FaustDiffError) as info:
            faustdiff.compile(f'process = hslider("{payload}", _, 0, 1, 0.01);')
        assert marker in info.value.format()


def test_cli_render_with_hostile_label_and_parameter(sandbox):
    marker, payload = LABELS[0]
    path = sandbox / "gain.dsp"
    path.write_text(f'process = 0.5 * {slider(payload + " g[diff:1]")} : {fresh()};\n')
    label = faustdiff.compile_file(str(path)).params[0].label
    assert marker in label
    result = CliRunner().invoke(cli, ["render", str(path), "-o", "out.wav", "-n", "8",
                                      "--param", f"{label}=0.25", "--tangents", "d.wav"])
    assert result.exit_code == 0, result.output
    assert Path("out.wav").exists() and Path("d.wav").exists()


def test_derivative_program_keeps_labels_as_faust_strings():
    # `faustdiff diff` writes labels into Faust source, where each must stay one string
    sliders = ", ".join(slider(f"{p} g{k}[diff:1]") for k, (_, p) in enumerate(LABELS))
    prog = faustdiff.compile(f"process = _ <: {sliders} :> _;")
    again = faustdiff.compile(derivative_source(prog))
    assert [(p.label, p.metadata) for p in again.params] == \
        [(p.label, p.metadata) for p in prog.params]
    assert all(marker in p.label for marker, p in zip(MARKERS, again.params))


# Labels as the real compiler reads them (its extractMetadata): a backslash takes the next
# character literally, brackets nest in metadata, `%name` is substituted first.
LABEL_SYNTAX = [
    (r"a\b", "ab"), (r"a\\b", "a\\b"), (r"g\[x\]", "g[x]"), (r"g\[x:1\]", "g[x:1]"),
    ("a%-b", "a%-b"), (r"a%\x", "a%x"), (r"a%\5", "a%5"), (r"k[u\:v:w\]x]", "k"),
    ("n[a[b]:c[d]]", "n"), ("  sp  [ k : v ]", "sp"), ("x[unclosed", "x"),
]


@pytest.mark.parametrize("source,label", LABEL_SYNTAX)
def test_derivative_program_keeps_escaped_labels(source, label):
    prog = faustdiff.compile(f"process = _ * {slider(source + '[diff:1]')};")
    assert prog.params[0].label == label
    again = faustdiff.compile(derivative_source(prog))
    assert [(p.label, p.metadata) for p in again.params] == \
        [(p.label, p.metadata) for p in prog.params]


def test_label_metadata_follow_faust():
    from faustdiff.signals.labels import split_label

    assert split_label(r"k[u\:v:w\]x][diff:1]") == ("k", (("u:v", "w]x"), ("diff", "1")))
    assert split_label("n[a[b]:c[d]]") == ("n", (("a[b]", "c[d]"),))
    assert split_label("a\\[diff:1]") == ("a[diff:1]", ())   # an escaped '[' opens nothing
    assert split_label("x[unclosed:1") == ("x", ())


@pytest.mark.reference
def test_labels_are_read_as_faust_reads_them():
    from reference import faust_available, faust_parameters

    if not faust_available():
        pytest.skip("dawdreamer is not installed")
    for source, label in LABEL_SYNTAX:
        code = f"process = _ * {slider(source)};"
        assert [p.label for p in faust_parameters(code)] == [label], source


def test_kernel_body_has_no_string_literals():
    # beyond the markers: a kernel's body is names, numbers and operators only
    prog = faustdiff.compile(f"process = _ * {slider('zqmark gain[diff:1]')} : "
                             "+ ~ *(0.5) : @(3) : sin;")
    body = prog.kernel_source(with_tangents=True).split("def compute", 1)[1]
    strings = [m.group(0) for m in re.finditer(r"(['\"]).*?\1", body)]
    assert strings == []
