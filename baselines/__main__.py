"""``python -m baselines [--method ...]`` trains a baseline; ``python -m baselines tune ...`` searches its settings.

The same program as ``admm-xp baseline`` / ``admm-xp baseline-tune``, with its
one-line errors and exit code 2 on bad input.
"""
import sys

from admm_xp.cli.main import main

argv = sys.argv[1:]
sys.argv[0] = "python -m baselines"  # how run records name the command (not .../__main__.py)
progs = {"baseline": "python -m baselines", "baseline-tune": "python -m baselines tune"}  # as --help's usage names it
sys.exit(main(["baseline-tune", *argv[1:]] if argv[:1] == ["tune"] else ["baseline", *argv], progs=progs))
