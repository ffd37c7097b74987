"""admm_xp: gradient-free training of neural networks by ADMM (Taylor et al., ICML 2016).

One solver, written against the Python array API, runs on NumPy (over MPI
ranks with mpi4py) and on CuPy GPUs. See :class:`ADMMClassifier` for the
Python API and ``admm-xp --help`` for the command line.
"""
__version__ = "0.1.0"

from .solver.config import ADMMConfig  # noqa: E402
from .errors import ConfigError, DataError, DivergenceError, UserError  # noqa: E402

__all__ = ["ADMMConfig", "ADMMClassifier", "load_model", "UserError", "ConfigError", "DataError", "DivergenceError", "__version__"]


def __getattr__(name):  # lazy: keep `import admm_xp` light
    if name == "ADMMClassifier":
        from .estimator import ADMMClassifier

        return ADMMClassifier
    if name == "load_model":
        from .estimator import load_model

        return load_model
    raise AttributeError(name)
