"""faustdiff: Faust programs compiled to Numba kernels with forward-mode derivatives."""
__version__ = "0.1.0"

from .errors import FaustDiffError  # noqa: E402
from .runtime.program import Param, Program  # noqa: E402
from .api import compile, compile_file  # noqa: E402

__all__ = ["compile", "compile_file", "Program", "Param", "FaustDiffError", "__version__"]
