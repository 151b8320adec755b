#!/usr/bin/env python3
"""Benchmark faustdiff against the real Faust compiler (libfaust) and JAX.

    python scripts/bench.py                      # full run, writes BENCHMARKS.md
    python scripts/bench.py --quick --no-jax --programs biquad --out b.md

Every program of ``scripts/bench_programs`` is measured in the same run:

* run time per second of audio, warm (best of several calls after a warm-up call):
  faustdiff ``render`` (float64 and float32) and ``jvp`` (all ``[diff:1]`` sliders in
  one pass, float64), libfaust's LLVM backend through DawDreamer (``RenderEngine.render``
  only), and, when JAX is installed, DawDreamer's Faust-to-JAX transpilation run as a
  jitted ``lax.scan`` and as ``jax.jacfwd`` over the diff sliders;
* compile time: faustdiff cold (a new process on an empty ``FAUSTDIFF_CACHE_DIR``) and
  warm (a second new process on the same cache), libfaust's ``compile()``, and JAX's
  ahead-of-time ``lower().compile()``.

JAX is optional: without it (or with ``--no-jax``) its columns read "—".
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import itertools
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, TypeVar

import numpy as np

# The JAX runner (DawDreamer's Faust-to-JAX transpilation run as a lax.scan) lives beside
# this script, which is run as a script rather than imported from a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from faustdiff.runtime.workers import usable_cores  # noqa: E402
from jax_reference import (JVP_STRATEGIES, JaxProgram, aot_compile, jax_module,  # noqa: E402
                           jax_version, jvp_disagreement, max_relative_error, model_arguments)

PROGRAM_DIR = Path(__file__).resolve().parent / "bench_programs"
SAMPLE_RATE = 44100
# Block size of DawDreamer's engine: a common host buffer size, large enough that the
# per-block overhead of the engine is small next to the DSP.
FAUST_BLOCK_SIZE = 512
# Length of the first render in the compile probes (time to first rendered block).
PROBE_SAMPLES = 64
MISSING = "—"
# Timed calls of one measurement: at least --repeats, more while they take less than
# MIN_TIMED_SECONDS in all, at most MAX_REPEATS.
MIN_TIMED_SECONDS = 0.5
MAX_REPEATS = 200
# A ratio of two calls timed in the same rounds is the median of its per-round ratios
# when they share at least this many rounds (else, and across rounds, of the best times).
MIN_PAIRED_ROUNDS = 5
_ROUND_NUMBERS = itertools.count()  # one numbering for every time_calls of a run
# Relative difference from JAX above which the notes flag a disagreement (both float64).
DISAGREEMENT = 1e-6


# ----------------------------------------------------------------------------- data

@dataclasses.dataclass(frozen=True)
class BenchProgram:
    name: str
    code: str


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds per call: the best and the median of the timed repeats, and each repeat's
    time by the round it was timed in (rounds are numbered across the whole run)."""

    best: float
    median: float
    by_round: Mapping[int, float] = dataclasses.field(default_factory=dict, compare=False)


@dataclasses.dataclass
class JaxResult:
    primal: Optional[Timing] = None
    jvp: Optional[Timing] = None
    compile_primal: Optional[float] = None
    compile_jvp: Optional[float] = None
    primal_error: Optional[float] = None  # max |faustdiff - JAX| / max |JAX|
    jvp_error: Optional[float] = None
    jvp_strategy: Optional[str] = None
    failure: Optional[str] = None


@dataclasses.dataclass
class ProgramResult:
    name: str
    num_inputs: int
    num_outputs: int
    num_diff: int
    seconds: float
    render: Timing
    jvp: Timing
    render_single: Timing
    cold: Dict[str, float]
    warm: Dict[str, float]
    libfaust: Optional[Timing] = None
    libfaust_compile: Optional[float] = None
    libfaust_failure: Optional[str] = None
    jax: Optional[JaxResult] = None
    batch: Dict[int, Timing] = dataclasses.field(default_factory=dict)  # by worker count


# ----------------------------------------------------------------------------- helpers

def load_programs(names: Optional[Sequence[str]]) -> List[BenchProgram]:
    """The benchmark set, or the named subset of it, in file-name order."""
    available = {p.stem: p for p in sorted(PROGRAM_DIR.glob("*.dsp"))}
    wanted = list(available) if not names else list(names)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise SystemExit(f"bench.py: unknown program(s) {', '.join(unknown)}; "
                         f"available: {', '.join(available)}")
    return [BenchProgram(n, available[n].read_text()) for n in wanted]


def white_noise(channels: int, n: int, seed: int = 0) -> np.ndarray:
    """Seeded uniform noise in [-1, 1], C-contiguous float64 of shape (channels, n)."""
    noise = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(channels, n))
    return np.ascontiguousarray(noise, dtype=np.float64)


Name = TypeVar("Name", bound=Hashable)


def time_calls(calls: Mapping[Name, Callable[[], object]], repeats: int) -> Dict[Name, Timing]:
    """Time several calls side by side: each is called once to warm up, then once per
    round, in an order that rotates from round to round. A call is timed at least
    ``repeats`` times, and more (up to ``MAX_REPEATS``) while its timed calls add up to
    less than ``MIN_TIMED_SECONDS``: fast calls get more chances at a quiet moment.

    The speed of a shared machine drifts, by as much as 1.6 times over seconds (another
    tenant on the same physical core). Calls timed in the same rounds see the same drift,
    so the ratios of their times in a round hold even when the times themselves move;
    timed one after the other, a call could get all the quiet moments and the next none."""
    names = list(calls)
    for name in names:
        calls[name]()
    # each call's times by the number of the round they were taken in
    by_round: Dict[Name, Dict[int, float]] = {name: {} for name in names}

    def wanted(name: Name) -> bool:
        done = by_round[name]
        return len(done) < max(1, repeats) or (sum(done.values()) < MIN_TIMED_SECONDS
                                               and len(done) < MAX_REPEATS)

    rounds = 0
    while any(map(wanted, names)):
        number = next(_ROUND_NUMBERS)
        for k in range(len(names)):
            name = names[(rounds + k) % len(names)]
            if wanted(name):
                start = time.perf_counter()
                calls[name]()
                by_round[name][number] = time.perf_counter() - start
        rounds += 1
    return {name: Timing(min(t.values()), statistics.median(t.values()), t)
            for name, t in by_round.items()}


def short_error(error: BaseException) -> str:
    """The first line of an exception's text, short enough for a table note."""
    text = str(error).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(error).__name__}: {first[:160]}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- faustdiff

def faustdiff_calls(prog, single, x: Optional[np.ndarray], n: int) -> Dict[str, Callable]:
    """The timed faustdiff calls over ``n`` samples: float64 render and jvp, and the
    float32 render of ``single``, the program compiled in the precision libfaust runs in."""
    return {"render": lambda: prog.render(x=x, n=n), "jvp": lambda: prog.jvp(x=x, n=n),
            "render_single": lambda: single.render(x=x, n=n)}


BATCH_ITEMS = 8


def batch_calls(prog, x, n: int) -> Dict[int, Callable[[], object]]:
    """`render_batch` of BATCH_ITEMS parameter settings (the sliders' initial values, nudged
    apart) on one worker and on every usable core, by worker count."""
    settings = []
    for k in range(BATCH_ITEMS):
        settings.append({p.path: p.init + (p.max - p.init) * 0.01 * k for p in prog.params
                         if p.max > p.init})
    counts = sorted({1, usable_cores()})
    return {w: (lambda w=w: prog.render_batch(x=x, n=n, params=settings, workers=w))
            for w in counts}


def measure_batches(results: List["ProgramResult"], calls: List[Dict[int, Callable]],
                    repeats: int) -> None:
    """The batches of every program, timed in the same rounds at the end of the run (into
    each result's `batch`). A batch on two cores needs the machine's second core free at
    the same time as the first: timed right after a program's other calls, a spell of
    another tenant on that core could take all of one program's rounds (a 1.0 for one
    program in one run, 1.9 for it alone a minute later); rounds that visit every program
    spread each one's calls over the whole time."""
    timed = time_calls({(k, w): call for k, by_count in enumerate(calls)
                        for w, call in by_count.items()}, repeats)
    for (k, w), timing in timed.items():
        results[k].batch[w] = timing


def probe_compile(path: Path) -> Dict[str, float]:
    """Inside a fresh process: seconds from before ``compile`` to after the first render,
    then to after the first jvp (imports are done before the clock starts)."""
    import faustdiff

    code = path.read_text()
    start = time.perf_counter()
    prog = faustdiff.compile(code, sample_rate=SAMPLE_RATE)
    prog.render(n=PROBE_SAMPLES)
    rendered = time.perf_counter()
    prog.jvp(n=PROBE_SAMPLES)
    differentiated = time.perf_counter()
    return {"render": rendered - start, "jvp": differentiated - rendered}


def run_probe(path: Path, cache_dir: Path) -> Dict[str, float]:
    """Run :func:`probe_compile` in a new Python process using ``cache_dir``."""
    env = dict(os.environ, FAUSTDIFF_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--probe", str(path)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"compile probe failed for {path.name}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_compile(program: BenchProgram, cache_dir: Path):
    """(cold, warm) probe results; ``cache_dir`` must be empty and is left warm."""
    path = cache_dir / f"{program.name}.dsp"
    path.write_text(program.code)
    cold = run_probe(path, cache_dir)
    warm = run_probe(path, cache_dir)
    return cold, warm


# ----------------------------------------------------------------------------- libfaust

def dawdreamer_module():
    try:
        import dawdreamer
    except ImportError:
        return None
    return dawdreamer


def libfaust_engine(dawdreamer, code: str, x: Optional[np.ndarray]):
    """(engine, compile seconds): a DawDreamer graph of the compiled program, fed ``x``."""
    engine = dawdreamer.RenderEngine(SAMPLE_RATE, FAUST_BLOCK_SIZE)
    processor = engine.make_faust_processor("faust")
    processor.auto_import = ""  # the programs import stdfaust.lib themselves
    processor.set_dsp_string(code)
    start = time.perf_counter()
    processor.compile()
    compile_seconds = time.perf_counter() - start
    graph = [(processor, [])]
    if x is not None:
        # The processor works in place (output k aliases input k); harmless for timing.
        player = engine.make_playback_processor("noise", np.ascontiguousarray(x, dtype=np.float32))
        graph = [(player, []), (processor, ["noise"])]
    engine.load_graph(graph)
    return engine, compile_seconds


def libfaust_call(dawdreamer, program: BenchProgram, x, n: int):
    """(the call rendering ``n`` samples through libfaust, compile seconds)."""
    engine, compile_seconds = libfaust_engine(dawdreamer, program.code, x)
    # render() renders floor(seconds * rate) samples: half a sample more gives exactly n.
    seconds = (n + 0.5) / SAMPLE_RATE
    engine.render(seconds)
    rendered = np.asarray(engine.get_audio()).shape[1]
    if rendered != n:
        raise RuntimeError(f"DawDreamer rendered {rendered} samples, expected {n}")
    return (lambda: engine.render(seconds)), compile_seconds


def libfaust_version(dawdreamer) -> Optional[str]:
    """libfaust's version as written in the header of code it generates."""
    try:
        from dawdreamer.faust import FaustContext
        from dawdreamer.faust.box import boxFromDSP, boxToSource

        with FaustContext():
            source = boxToSource(boxFromDSP("process = _;"), "cpp", "V")
    except Exception:  # version reporting must never stop the benchmark
        return None
    found = re.search(r"Faust (?:version )?(\d+(?:\.\d+)+)", str(source))
    return found.group(1) if found else None


# ----------------------------------------------------------------------------- JAX
# The runner itself is scripts/jax_reference.py.

JAX_PRIMAL = "jax"
JAX_JVP = "jax-jvp:"  # + the strategy's name


@dataclasses.dataclass(frozen=True)
class JvpStrategy:
    """One way for JAX to get all the derivatives: its compile time and how far its
    derivatives are from faustdiff's."""

    compile_seconds: float
    error: float


def jax_calls(jax, program: BenchProgram, x: Optional[np.ndarray], n: int, reference):
    """(result with the primal's compile time and agreement with faustdiff, the strategies
    for the derivatives by name, the timed calls: the AOT-compiled primal and each
    strategy), or (result with the failure, {}, {})."""
    try:
        model = JaxProgram(program.code, n, jax)
        args = model_arguments(model, x)
        primal, primal_compile = aot_compile(jax, model.run, args)
        strategies = {name: aot_compile(jax, build(jax, model.run, len(model.init)), args)
                      for name, build in JVP_STRATEGIES.items()}
    except Exception as error:  # a program JAX cannot run is a result, not a crash
        return JaxResult(failure=short_error(error)), {}, {}
    y_ref, dy_ref = reference
    result = JaxResult(compile_primal=primal_compile,
                       primal_error=max_relative_error(y_ref, np.asarray(primal(*args))))
    described = {name: JvpStrategy(seconds, jvp_disagreement(model.labels,
                                                             np.asarray(jacobian(*args)), dy_ref))
                 for name, (jacobian, seconds) in strategies.items()}
    calls = {JAX_PRIMAL: lambda: primal(*args).block_until_ready()}
    for name, (jacobian, _) in strategies.items():
        calls[JAX_JVP + name] = lambda jacobian=jacobian: jacobian(*args).block_until_ready()
    return result, described, calls


def settle_jax(result: JaxResult, strategies: Mapping[str, JvpStrategy],
               timings: Mapping[str, Timing]) -> JaxResult:
    """JAX's result with its timings; its derivatives are those of the faster strategy."""
    if result.failure:
        return result
    fastest = min(strategies, key=lambda name: timings[JAX_JVP + name].best)
    return dataclasses.replace(result, primal=timings[JAX_PRIMAL],
                               jvp=timings[JAX_JVP + fastest], jvp_strategy=fastest,
                               compile_jvp=strategies[fastest].compile_seconds,
                               jvp_error=strategies[fastest].error)


# ----------------------------------------------------------------------------- one program

def bench_program(program: BenchProgram, args, dawdreamer,
                  jax) -> Tuple[ProgramResult, Dict[int, Callable]]:
    """Compile probes, then the run times of faustdiff and libfaust timed in the same
    rounds, and JAX's; and the program's batch calls, warmed up (timed later with every
    program's)."""
    import faustdiff

    n = int(round(args.seconds * SAMPLE_RATE))
    with tempfile.TemporaryDirectory(prefix="faustdiff-bench-") as cache:
        cold, warm = measure_compile(program, Path(cache))
        # The in-process measurements reuse the cache the probes just filled.
        os.environ["FAUSTDIFF_CACHE_DIR"] = cache
        prog = faustdiff.compile(program.code, sample_rate=SAMPLE_RATE)
        single = faustdiff.compile(program.code, sample_rate=SAMPLE_RATE, precision="single")
        x = white_noise(prog.num_inputs, n) if prog.num_inputs else None
        reference = prog.jvp(x=x, n=n)
        calls = faustdiff_calls(prog, single, x, n)
        libfaust_compile = libfaust_failure = None
        if dawdreamer is not None:
            try:
                calls["libfaust"], libfaust_compile = libfaust_call(dawdreamer, program, x, n)
            except Exception as error:  # reported in the notes, like JAX failures
                libfaust_failure = short_error(error)
        timings = time_calls(calls, args.repeats)
        jax_result = None
        if jax is not None:
            # In rounds of their own: a JAX call takes up to a thousand times as long as
            # the others and leaves the caches full of its own data.
            jax_result, strategies, jax_timed = jax_calls(jax, program, x, n, reference)
            timings.update(time_calls(jax_timed, args.repeats))  # none if JAX failed
            jax_result = settle_jax(jax_result, strategies, timings)
        batches = batch_calls(prog, x, n)
        for call in batches.values():   # (while the kernel cache is there)
            call()
    return ProgramResult(program.name, prog.num_inputs, prog.num_outputs, len(prog.diff_params),
                         n / SAMPLE_RATE, timings["render"], timings["jvp"],
                         timings["render_single"], cold, warm, libfaust=timings.get("libfaust"),
                         libfaust_compile=libfaust_compile, libfaust_failure=libfaust_failure,
                         jax=jax_result), batches


def describe(result: ProgramResult) -> str:
    """One progress line: warm times per second of audio (best / median)."""
    def part(name, timing):
        if timing is None:
            return f"{name} {MISSING}"
        return (f"{name} {per_second(timing.best, result):.2f}/"
                f"{per_second(timing.median, result):.2f}")
    jax = result.jax or JaxResult()
    parts = [part("faustdiff", result.render), part("jvp", result.jvp),
             part("libfaust", result.libfaust), part("jax", jax.primal), part("jax-jvp", jax.jvp)]
    return f"{result.name}: ms per s of audio (best/median): " + ", ".join(parts)


# ----------------------------------------------------------------------------- report

def per_second(seconds: float, result: ProgramResult) -> float:
    """Milliseconds of computation per second of audio."""
    return 1000.0 * seconds / result.seconds


def fmt(value: Optional[float], digits: int = 3) -> str:
    """About ``digits`` significant digits, never in exponent notation."""
    if value is None or not math.isfinite(value):
        return MISSING
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(value)))))
    return f"{value:.{decimals}f}"


def ratio(numerator: Optional[Timing], denominator: Optional[Timing]) -> Optional[float]:
    """The median of the per-round ratios of two calls timed in the same rounds: each
    compares calls made a moment apart, where the best times may come from different
    moments of a shared machine (a slow spell over one call's rounds moved faustdiff's
    jvp / primal by 0.3 to 0.4 between runs). Calls timed in rounds of their own (JAX's)
    are compared by their best times."""
    if numerator is None or denominator is None or denominator.best <= 0:
        return None
    shared = numerator.by_round.keys() & denominator.by_round.keys()
    if len(shared) < MIN_PAIRED_ROUNDS:
        return numerator.best / denominator.best
    return statistics.median(numerator.by_round[r] / denominator.by_round[r] for r in shared)


def geometric_mean(values: Sequence[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v is not None and v > 0]
    if not present:
        return None
    return math.exp(sum(math.log(v) for v in present) / len(present))


RUN_COLUMNS = ["program", "in/out", "diff params", "libfaust", "faustdiff", "faustdiff f32",
               "faustdiff jvp", "JAX", "JAX jvp", "faustdiff / libfaust",
               "faustdiff f32 / libfaust", "jvp / primal", "faustdiff jvp / JAX jvp"]
BATCH_COLUMNS = ["program", "1 worker", "all workers", "workers", "speed-up"]
COMPILE_COLUMNS = ["program", "faustdiff cold", "faustdiff warm", "faustdiff cold +jvp",
                   "faustdiff warm +jvp", "libfaust", "JAX primal", "JAX jvp"]
CHECK_COLUMNS = ["program", "JAX jvp strategy", "primal difference", "derivative difference"]


def run_ratios(result: ProgramResult):
    jax = result.jax or JaxResult()
    return (ratio(result.render, result.libfaust), ratio(result.render_single, result.libfaust),
            ratio(result.jvp, result.render), ratio(result.jvp, jax.jvp))


def run_row(result: ProgramResult) -> List[str]:
    jax = result.jax or JaxResult()
    timed = [result.libfaust, result.render, result.render_single, result.jvp, jax.primal, jax.jvp]
    cells = [fmt(per_second(t.best, result)) if t is not None else MISSING for t in timed]
    return ([result.name, f"{result.num_inputs}/{result.num_outputs}", str(result.num_diff)]
            + cells + [fmt(r, 2) for r in run_ratios(result)])


def geomean_row(results: Sequence[ProgramResult]) -> List[str]:
    columns = list(zip(*(run_ratios(r) for r in results)))
    means = [fmt(geometric_mean(column), 2) for column in columns]
    return ["**geometric mean**"] + [""] * (len(RUN_COLUMNS) - 1 - len(means)) + means


def batch_row(result: ProgramResult) -> List[str]:
    """ms per second of audio per item, and the throughput gain of all workers over one."""
    one = result.batch.get(1)
    most = max(result.batch) if result.batch else 1
    every = result.batch.get(most)
    per_item = lambda t: fmt(per_second(t.best, result) / BATCH_ITEMS) if t else MISSING
    return [result.name, per_item(one), per_item(every), str(most),
            fmt(ratio(one, every), 2) if most > 1 else MISSING]


def compile_row(result: ProgramResult) -> List[str]:
    jax = result.jax or JaxResult()
    values = [result.cold["render"], result.warm["render"], result.cold["jvp"], result.warm["jvp"],
              result.libfaust_compile, jax.compile_primal, jax.compile_jvp]
    return [result.name] + [fmt(v) for v in values]


def check_row(result: ProgramResult) -> List[str]:
    jax = result.jax or JaxResult()
    return [result.name, jax.jvp_strategy or MISSING, sci(jax.primal_error), sci(jax.jvp_error)]


def sci(value: Optional[float]) -> str:
    return f"{value:.1e}" if value is not None and math.isfinite(value) else MISSING


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(columns))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def method_text(args) -> str:
    return (
        f"Each program renders {args.seconds:g} s of seeded white noise (uniform in [-1, 1], "
        f"one channel per input) at {SAMPLE_RATE} Hz with its sliders at their initial values, "
        f"and every run time is the best of at least {args.repeats} calls after one warm-up "
        f"call (more, up to {MAX_REPEATS}, until the timed calls add up to "
        f"{MIN_TIMED_SECONDS:g} s each); faustdiff's and libfaust's run times of a program are "
        "timed in the same rounds, one call of each per round in a rotating order, so that "
        "their ratios compare calls made under the same conditions of the machine (JAX's "
        "calls, up to a thousand times as long, in rounds of their own) "
        "(`time.perf_counter`, divided by the audio length): faustdiff in float64 "
        "(`Program.render`, and `Program.jvp` for all `[diff:1]` sliders in one fused pass; "
        "\"f32\" is `render` with `precision=\"single\"`), "
        "libfaust's LLVM backend in float32 through DawDreamer (`RenderEngine.render` only, "
        f"block size {FAUST_BLOCK_SIZE}), and JAX in float64 on DawDreamer's Faust-to-JAX "
        "transpilation (`boxToSource(box, \"jax\", ...)`, run as `jax.lax.scan`; the "
        "derivatives are the faster of `jax.jacfwd` over the diff sliders and one `jax.jvp` "
        "per slider, each AOT-compiled with `jax.jit(f).lower(...).compile()`). "
        "Compile times are separate: faustdiff cold runs in a new Python process on an empty "
        "`FAUSTDIFF_CACHE_DIR` and warm in a second new process on the same cache, each timed "
        f"from before `faustdiff.compile` to after the first `render(n={PROBE_SAMPLES})` "
        f"(\"+jvp\" is the extra time of the first `jvp(n={PROBE_SAMPLES})` after it, imports "
        "excluded); libfaust is `FaustProcessor.compile()` and JAX is tracing plus XLA "
        "compilation, both in the benchmark's process."
    )


def machine_text() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} logical cores ({usable_cores()} usable); "
            f"{platform.system()} {platform.machine()}; Python {platform.python_version()}")


def versions_text(dawdreamer, jax) -> str:
    import faustdiff
    import numba

    parts = [f"faustdiff {faustdiff.__version__}", f"numba {numba.__version__}",
             f"numpy {np.__version__}"]
    if dawdreamer is not None:
        faust = libfaust_version(dawdreamer)
        suffix = f" (libfaust {faust})" if faust else ""
        parts.append(f"dawdreamer {getattr(dawdreamer, '__version__', '?')}{suffix}")
    else:
        parts.append("dawdreamer not installed")
    parts.append(f"jax {jax_version(jax)}" if jax is not None else "jax not used")
    return ", ".join(parts)


def notes(results: Sequence[ProgramResult], jax_state: str) -> List[str]:
    lines = []
    if jax_state:
        lines.append(f"- JAX: {jax_state}.")
    else:
        lines.append("- The transpiled JAX code computes every slider-dependent expression "
                     "(filter coefficients, `tan`, `pow`...) again at each sample inside its "
                     "`tick`; faustdiff and libfaust compute them once per call or block.")
    for r in results:
        disagreement = max((e for e in (r.jax.primal_error, r.jax.jvp_error) if e is not None),
                           default=0.0) if r.jax is not None else 0.0
        if disagreement > DISAGREEMENT:
            lines.append(f"- faustdiff and the JAX transpilation of libfaust's code disagree on "
                         f"`{r.name}` ({sci(disagreement)}): the two compilers read the program "
                         "differently (a semantics bug to chase); the timings still compare "
                         "the same amount of work.")
        if r.jax is not None and r.jax.failure:
            lines.append(f"- JAX could not run `{r.name}`: {r.jax.failure}")
        if r.libfaust_failure:
            lines.append(f"- libfaust could not run `{r.name}`: {r.libfaust_failure}")
    return lines


def load_text(loads: Sequence[float]) -> str:
    """The 1-minute load averages seen during the run (other work skews the timings)."""
    if not loads:
        return "unknown"
    return f"{min(loads):.1f} to {max(loads):.1f} (1-minute average, sampled per program)"


def load_average() -> Optional[float]:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def report(results: Sequence[ProgramResult], args, dawdreamer, jax, jax_state: str,
           loads: Sequence[float] = ()) -> str:
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    lines = [
        "# Benchmarks", "",
        f"Generated by `python scripts/bench.py{' --quick' if args.quick else ''}` on {today}.", "",
        f"- **Machine:** {machine_text()}",
        f"- **Versions:** {versions_text(dawdreamer, jax)}",
        f"- **System load during the run:** {load_text(loads)}", "",
        f"**Method.** {method_text(args)}", "",
        "## Run time (ms per second of audio, lower is better)", "",
        *markdown_table(RUN_COLUMNS, [run_row(r) for r in results] + [geomean_row(results)]), "",
        "Ratios of calls timed in the same rounds are the medians of their per-round ratios "
        "(JAX's, timed in rounds of their own, of the best times); \"jvp / primal\" is "
        "faustdiff's. libfaust renders "
        "in float32: \"faustdiff f32 / libfaust\" compares the same precision. "
        "The programs are in `scripts/bench_programs/`.", "",
        "## Batches", "",
        f"`Program.render_batch` over {BATCH_ITEMS} parameter settings, ms of computation per "
        "second of audio per item (best of the calls), on one worker thread and on every "
        "usable core; the speed-up is the throughput ratio (the median of the per-round "
        "ratios). Every program's batches are timed in the same rounds, at the end of the run.", "",
        *markdown_table(BATCH_COLUMNS, [batch_row(r) for r in results]), "",
        "## Compile time (s)", "",
        *markdown_table(COMPILE_COLUMNS, [compile_row(r) for r in results]), "",
        "## JAX details", "",
        "The faster derivative strategy, and how far faustdiff's outputs and derivatives are "
        "from JAX's (max |difference| / max |JAX|, both float64).", "",
        *markdown_table(CHECK_COLUMNS, [check_row(r) for r in results]), "",
    ]
    extra = notes(results, jax_state)
    if extra:
        lines += ["## Notes", "", *extra, ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Benchmark faustdiff against libfaust and JAX.")
    parser.add_argument("--quick", action="store_true",
                        help="short run: 0.25 s of audio and 2 repeats (unless given)")
    parser.add_argument("--out", type=Path, default=None,
                        help="Markdown file to write (default: BENCHMARKS.md at the repo root)")
    parser.add_argument("--no-jax", action="store_true", help="skip the JAX measurements")
    parser.add_argument("--programs", type=lambda s: [p for p in s.split(",") if p],
                        default=None, help="comma-separated program names (default: all)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of audio (default 2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed calls per measurement (default 7)")
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 0.25 if args.quick else 2.0
    if args.repeats is None:
        args.repeats = 2 if args.quick else 7
    if args.seconds <= 0 or args.repeats < 1:
        parser.error("--seconds must be positive and --repeats at least 1")
    if args.out is None:
        args.out = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
    return args


def select_jax(no_jax: bool):
    """(jax module or None, a note on why JAX is absent)."""
    if no_jax:
        return None, "skipped (`--no-jax`)"
    jax = jax_module()
    if jax is None:
        return None, "not installed; its columns are empty"
    return jax, ""


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.probe is not None:
        print(json.dumps(probe_compile(args.probe)))
        return 0
    programs = load_programs(args.programs)
    dawdreamer = dawdreamer_module()
    jax, jax_state = select_jax(args.no_jax)
    saved_cache = os.environ.get("FAUSTDIFF_CACHE_DIR")
    results, loads, batches = [], [], []
    try:
        for program in programs:
            loads.append(load_average())
            result, calls = bench_program(program, args, dawdreamer, jax)
            results.append(result)
            batches.append(calls)
            log(describe(results[-1]))
        log("batches of every program, in shared rounds")
        measure_batches(results, batches, args.repeats)
    finally:
        restore_env("FAUSTDIFF_CACHE_DIR", saved_cache)
    loads = [x for x in loads + [load_average()] if x is not None]
    text = report(results, args, dawdreamer, jax, jax_state, loads)
    args.out.write_text(text)
    print(text)
    log(f"wrote {args.out}")
    return 0


def restore_env(name: str, value: Optional[str]) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


if __name__ == "__main__":
    sys.exit(main())
