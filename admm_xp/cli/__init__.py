"""The ``admm-xp`` command line: ``main`` (the parser, dispatch, MPI relaunch, error handling),
``options`` (what every command shares: option groups, parsers, checks, the run's set-up) and the
ADMM commands ``train``, ``predict`` and ``data``. This package's ``__init__`` imports nothing, so
that the baselines can build their parsers from ``options`` without loading the commands."""
