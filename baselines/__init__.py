"""Gradient baselines for admm_xp: the network ADMM trains, trained by SGD, Adam, CG and L-BFGS.

The same network (:mod:`baselines.mlp`), data, losses, backends (the array API:
NumPy, CuPy, and for the tests array-api-strict and PyTorch), MPI data
parallelism and run records as ``admm-xp train``. Command line:
``python -m baselines --method sgd|adam|cg|lbfgs ...`` or ``admm-xp baseline ...``;
``python -m baselines tune --method sgd|adam`` searches the learning rate on
validation rows carved from the training split. See README.md beside this file.
"""
