import os
import sys

from hypothesis import settings

# the reference harness and the corpus helpers live beside the tests
sys.path.insert(0, os.path.dirname(__file__))

# Hypothesis draws fresh examples on every run: good for finding bugs, bad for a gate. CI
# loads the "ci" profile (HYPOTHESIS_PROFILE=ci): the same examples on every run.
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def draw_without_local_literals() -> None:
    """Keep the literals of loaded modules out of Hypothesis's draws.

    Hypothesis mixes into its draws the literals of every non-library module loaded at
    the time of the draw. Which ones are loaded depends on the tests run before (a
    single file or the whole suite) and on the kernel cache: a kernel Numba compiles is
    imported as a module, one loaded from the cache's machine code is not. Derandomized
    examples would then differ between a cold and a warm run of the same command. The
    pool is made empty (Hypothesis's own constants stay), where this Hypothesis keeps
    one; `test_hypothesis_draws.py` checks that draws no longer move."""
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:
        return
    if hasattr(providers, "_get_local_constants") and hasattr(providers, "Constants"):
        none = providers.Constants()
        providers._get_local_constants = lambda: none


draw_without_local_literals()
