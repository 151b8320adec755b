import os
import sys

from hypothesis import settings

# the reference harness and the corpus helpers live beside the tests
sys.path.insert(0, os.path.dirname(__file__))

# Hypothesis draws fresh examples on every run, and some of them from the literals of the
# modules loaded at the time (so a full run tries values a single file does not): good
# for finding bugs, bad for a gate. CI loads the "ci" profile (HYPOTHESIS_PROFILE=ci):
# the same examples on every run of the same command.
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
