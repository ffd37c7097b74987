"""The run's surroundings, below the solver: array backends and devices, MPI communicators, threads
and the column-chunk pool, the counter-based generator, timers, signals, atomic files, host <-> device
copies, and the linear-algebra gap-fillers that dispatch to SciPy / CuPy / PyTorch."""
