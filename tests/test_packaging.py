"""Packaging metadata that installs quietly: the first `make demo` must not print walls of
setuptools deprecation warnings (a license table is deprecated since setuptools 77)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_string_and_setuptools_understands_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], str)  # SPDX expression, PEP 639
    requires = project["build-system"]["requires"]
    assert "setuptools>=77" in requires  # the first release reading an SPDX string


def test_make_installs_quietly():
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line]
    assert installs and all("-qq" in line for line in installs)
