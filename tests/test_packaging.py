"""The package metadata as setuptools reads it."""
from __future__ import annotations

import os
import sys
import warnings

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPROJECT = os.path.join(ROOT, "pyproject.toml")


def test_the_license_is_an_spdx_string_that_setuptools_reads_without_a_warning():
    """project.license as a TOML table is deprecated (a warning on every install); an SPDX string is not."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        tomllib = pytest.importorskip("tomli")
    with open(PYPROJECT, "rb") as fh:
        meta = tomllib.load(fh)
    assert meta["project"]["license"] == "MIT"
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in meta["build-system"]["requires"])
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip("the installed setuptools predates SPDX license strings")
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = apply_configuration(Distribution(), PYPROJECT)
    license_warnings = [str(w.message) for w in caught if "license" in str(w.message).lower()]
    assert not license_warnings, license_warnings
    assert dist.metadata.license_expression == "MIT" or dist.metadata.get_license() == "MIT"
