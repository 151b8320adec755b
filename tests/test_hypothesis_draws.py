"""The derandomized examples of the fuzz tests and of the CI profile are the same
whatever modules are loaded (conftest.draw_without_local_literals): a gate must not pass
or fail by which tests ran before or by what the kernel cache held."""
import importlib.util
import sys

from hypothesis import given, settings
from hypothesis import strategies as st


def derandomized_draws():
    drawn = []

    @settings(max_examples=300, derandomize=True, database=None)
    @given(st.floats(-10, 10), st.integers(-1000, 1000))
    def draw(x, n):
        drawn.append((x, n))

    draw()
    return drawn


def test_loading_a_module_does_not_change_the_draws(tmp_path):
    before = derandomized_draws()
    # a module with literals in the drawn ranges, as a generated kernel's source has
    source = tmp_path / "literals_module.py"
    source.write_text("".join(f"c{k} = {k * 0.0123456789 - 5:.10f} + {k * 7 - 900}\n"
                              for k in range(150)))
    spec = importlib.util.spec_from_file_location("faustdiff_draws_literals", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[spec.name] = module
    try:
        assert derandomized_draws() == before
    finally:
        del sys.modules[spec.name]
