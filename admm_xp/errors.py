"""Errors that reach the user as one line and exit code 2."""


class UserError(Exception):
    """Bad input or configuration: the CLI prints ``admm-xp: error: <msg>`` and exits 2.

    The message names the problem and what to do about it. It never carries a
    traceback to the user.
    """

    exit_code = 2
    rank = None  # under MPI: the rank that found the problem, when every rank raises it (see data.datasets.agreed)


class ConfigError(UserError, ValueError):
    """An invalid solver or CLI setting (a width < 1, gamma <= 0, ...)."""


class DataError(UserError, ValueError):
    """A data set that cannot be used as given (NaN, wrong shape, bad labels, ...)."""


class DivergenceError(UserError, FloatingPointError):
    """The iterates became non-finite or the objective blew up."""

    exit_code = 3
