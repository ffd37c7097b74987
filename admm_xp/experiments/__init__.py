"""Measurements and the paper's experiments, above the library: the benchmark of one iteration
(``bench``, with ``naive``, the transcription of Algorithm 1 it compares against, and ``mpibench``,
the allreduce's latency and bandwidth), strong scaling and its model (``scaling``), the paper's
figures (``reproduce``, drawn by ``figures``), the sweeps and ablation of ADMM's settings
(``ablation``) and the comparison of every method on one data set (``compare``); ``curves`` holds the
accuracy-against-time curves that ``compare`` and ``reproduce`` both draw. Each module that is a command
registers its parser with ``register(sub)``."""
