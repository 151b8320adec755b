"""scripts/bench.py runs end to end and writes well-formed tables (no timing assertions)."""
import importlib.util
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("dawdreamer")

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"

RUN_COLUMNS = ["program", "in/out", "diff params", "libfaust", "faustdiff", "faustdiff f32",
               "faustdiff jvp", "JAX", "JAX jvp", "faustdiff / libfaust",
               "faustdiff f32 / libfaust", "jvp / primal", "faustdiff jvp / JAX jvp"]
COMPILE_COLUMNS = ["program", "faustdiff cold", "faustdiff warm", "faustdiff cold +jvp",
                   "faustdiff warm +jvp", "libfaust", "JAX primal", "JAX jvp"]


def tables(markdown: str):
    """Each Markdown table of the text as a list of rows (lists of cell strings)."""
    found, current = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def row_by_name(table, name):
    rows = [row for row in table[2:] if row[0] == name]
    assert len(rows) == 1, f"no single row {name!r} in {table}"
    return dict(zip(table[0], rows[0]))


def finite(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "BENCH.md"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--programs", "biquad", "--no-jax",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    assert text.strip() in done.stdout  # the table is printed too
    return text


@pytest.mark.slow
def test_run_time_table(report):
    run = tables(report)[0]
    assert run[0] == RUN_COLUMNS
    biquad = row_by_name(run, "biquad")
    assert biquad["in/out"] == "1/1" and biquad["diff params"] == "2"
    timed = ["libfaust", "faustdiff", "faustdiff f32", "faustdiff jvp"]
    for column in timed + ["faustdiff / libfaust", "faustdiff f32 / libfaust", "jvp / primal"]:
        assert finite(biquad[column]) and float(biquad[column]) > 0, column
    # --no-jax leaves the JAX columns empty rather than inventing numbers
    for column in ["JAX", "JAX jvp", "faustdiff jvp / JAX jvp"]:
        assert biquad[column] == "—", column
    mean = row_by_name(run, "**geometric mean**")
    assert finite(mean["faustdiff / libfaust"]) and finite(mean["jvp / primal"])


@pytest.mark.slow
def test_batch_table(report):
    batches = tables(report)[1]
    assert batches[0] == ["program", "1 worker", "all workers", "workers", "speed-up"]
    biquad = row_by_name(batches, "biquad")
    assert finite(biquad["1 worker"]) and float(biquad["1 worker"]) > 0
    assert int(biquad["workers"]) >= 1


@pytest.mark.slow
def test_compile_table(report):
    compile_times = tables(report)[2]
    assert compile_times[0] == COMPILE_COLUMNS
    biquad = row_by_name(compile_times, "biquad")
    for column in COMPILE_COLUMNS[1:6]:
        assert finite(biquad[column]) and float(biquad[column]) > 0, column


@pytest.mark.slow
def test_header_names_machine_and_versions(report):
    assert "**Machine:**" in report and "**Versions:**" in report
    for name in ["faustdiff", "numba", "dawdreamer"]:
        assert name in report
    assert "skipped (`--no-jax`)" in report


def bench_module():
    """scripts/bench.py imported as a module (it is run as a script)."""
    spec = importlib.util.spec_from_file_location("faustdiff_bench_script", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_calls_timed_side_by_side_share_the_slow_spells_of_the_machine(monkeypatch):
    """A program's run times are timed in the same rounds, so a slow spell of the machine
    does not land on one of them alone: here every call is slow for a while, then fast, and
    both calls' best times come from the fast part. Timed one after the other (the first
    call all through the slow spell), their ratio would have been 4."""
    bench = bench_module()
    monkeypatch.setattr(bench, "MIN_TIMED_SECONDS", 0.0)
    made = []

    def call(name):
        def run():
            made.append(name)
            time.sleep(0.008 if len(made) <= 6 else 0.002)
        return run

    timings = bench.time_calls({"a": call("a"), "b": call("b")}, repeats=4)
    assert made[:2] == ["a", "b"]  # the warm-ups
    assert made[2:] == ["a", "b", "b", "a", "a", "b", "b", "a"]  # each round in a new order
    assert timings["a"].best < 0.005 and timings["b"].best < 0.005
    assert 0.5 < timings["a"].best / timings["b"].best < 2


def test_ratios_of_calls_timed_in_the_same_rounds_are_medians_of_per_round_ratios():
    """A call's lucky moment alone does not decide a ratio: `a` took twice as long as `b`
    in every round but the first, where a quiet moment came to it alone. Calls timed in
    rounds of their own are compared by their best times."""
    bench = bench_module()

    def timing(times, first_round=0):
        by_round = {first_round + r: t for r, t in enumerate(times)}
        return bench.Timing(min(times), sorted(times)[len(times) // 2], by_round)

    a = timing([1.0] + [2.0] * 6)
    b = timing([1.0] * 7)
    assert bench.ratio(a, b) == 2.0
    assert a.best / b.best == 1.0
    assert bench.ratio(a, timing([1.0] * 7, first_round=100)) == 1.0
    assert bench.ratio(a, None) is None


def test_time_calls_numbers_rounds_across_calls(monkeypatch):
    bench = bench_module()
    monkeypatch.setattr(bench, "MIN_TIMED_SECONDS", 0.0)
    first = bench.time_calls({"a": lambda: None, "b": lambda: None}, repeats=6)
    second = bench.time_calls({"c": lambda: None}, repeats=6)
    assert first["a"].by_round.keys() == first["b"].by_round.keys()
    assert len(first["a"].by_round) == 6
    assert not first["a"].by_round.keys() & second["c"].by_round.keys()
