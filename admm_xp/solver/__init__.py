"""The ADMM solver (Taylor et al. 2016, Algorithm 1), written against the array API only.

``config`` (the settings), ``updates`` (the closed-form block updates), ``state`` (the explicit
state and its initialisation), ``passes`` (the fused per-layer passes over column blocks),
``iteration`` (one iteration: the listing of Algorithm 1), ``objective`` (the augmented Lagrangian
and accuracy), ``anderson`` and ``balancing`` (acceleration and penalty adaptation). Every function
takes the array namespace ``xp``, a communicator and the kernel set as arguments; nothing here
imports an array library, the kernels or anything above them.
"""
