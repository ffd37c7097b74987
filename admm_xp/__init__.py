"""admm_xp: gradient-free training of neural networks by ADMM (Taylor et al., ICML 2016).

One solver, written against the Python array API, runs on NumPy (over MPI
ranks with mpi4py) and on CuPy GPUs. See :class:`ADMMClassifier` for the
Python API and ``admm-xp --help`` for the command line.

The package, from the bottom up: ``errors``, ``paper`` (the paper's facts)
and ``costmodel``; ``nn`` (the network: forward pass and losses); ``runtime``
(backends, communicators, threads, ...); ``solver`` (Algorithm 1, array API
only); ``kernels`` (the fused block operations of each backend); ``data``;
``train``, ``model``, ``checkpoint``, ``runrecord``, ``progress`` and
``estimator``; ``cli`` and ``experiments`` at the top. The gradient baselines
(package ``baselines``) sit between ``cli.options`` and the commands and never
load the solver. pyproject.toml's import-linter contract keeps that order.
"""
from .errors import ConfigError, DataError, DivergenceError, UserError
from .version import __version__

__all__ = ["ADMMConfig", "ADMMClassifier", "load_model", "UserError", "ConfigError", "DataError", "DivergenceError", "__version__"]


def __getattr__(name):  # lazy: keep `import admm_xp` light (the baselines import the package without its solver)
    if name == "ADMMConfig":
        from .solver.config import ADMMConfig

        return ADMMConfig
    if name == "ADMMClassifier":
        from .estimator import ADMMClassifier

        return ADMMClassifier
    if name == "load_model":
        from .estimator import load_model

        return load_model
    raise AttributeError(name)
