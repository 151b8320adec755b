"""The size limits of a compile, in one place. Each is read from its environment variable
when it is checked (so a test or a user can change it between compiles), else its default.

- `FAUSTDIFF_MAX_DELAY`: samples per delay line (2^24);
- `FAUSTDIFF_MAX_TABLE`: values per table (2^24);
- `FAUSTDIFF_MAX_ITERATIONS`: bodies made by par/seq/sum/prod in a whole program (2^18).
  The test corpora need at most 132; an.rfft_analyzer_magsq(256), about the largest
  program of the standard libraries that still compiles in a few GB, 68,000 (at 512
  points, 267,000 would take 15 GB);
- `FAUSTDIFF_MAX_EVALUATION_STEPS`: expressions evaluated (2,000,000); a definition that
  makes exponentially many different copies of itself reaches it (the test corpora need
  4,000 steps, an.rfft_analyzer_magsq(256) 390,000);
- `FAUSTDIFF_FISSION_BLOCK`: samples per block when a sample loop runs as stages
  (`codegen/fission.py`; 64, 0 for one loop always).
"""
from __future__ import annotations

import os

from .errors import FaustRuntimeError

DEFAULTS = {
    "FAUSTDIFF_MAX_DELAY": 1 << 24,
    "FAUSTDIFF_MAX_TABLE": 1 << 24,
    "FAUSTDIFF_MAX_ITERATIONS": 1 << 18,
    "FAUSTDIFF_MAX_EVALUATION_STEPS": 2_000_000,
    "FAUSTDIFF_FISSION_BLOCK": 64,
}


def limit(variable: str) -> int:
    """The limit named by `variable` (one of DEFAULTS)."""
    value = os.environ.get(variable)
    if not value:
        return DEFAULTS[variable]
    try:
        return int(value)
    except ValueError:
        raise FaustRuntimeError(f"the environment variable {variable} must be a whole number, "
                                f"not {value!r}") from None


def max_delay_samples() -> int:
    return limit("FAUSTDIFF_MAX_DELAY")


def max_table_size() -> int:
    return limit("FAUSTDIFF_MAX_TABLE")
