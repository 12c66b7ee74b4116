"""The hot path runs compiled: the modules ``ferryman.compiled`` lists come from mypyc's extensions, not from
their source (unless the install asked for none, FERRYMAN_PURE=1), so the suite and the benchmark run what
users install."""

from __future__ import annotations

import importlib
import os
import tomllib
from pathlib import Path

import pytest

from ferryman.compiled import COMPILED


@pytest.mark.skipif(os.environ.get("FERRYMAN_PURE") == "1", reason="installed interpreted on purpose (FERRYMAN_PURE=1)")
def test_the_hot_path_is_compiled() -> None:
    modules = ["ferryman." + path.removesuffix(".py").replace("/", ".") for path in COMPILED]
    interpreted = [name for name in modules if (importlib.import_module(name).__file__ or "").endswith(".py")]
    assert modules and not interpreted, f"interpreted, though setup.py compiles them: {interpreted}"


def test_the_build_sees_every_runtime_dependency() -> None:
    """mypyc type-checks the modules it compiles against the runtime dependencies' own types: pip's isolated
    build environment must hold every one of them, or a fresh install compiles different code than a venv."""
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert set(project["project"]["dependencies"]) <= set(project["build-system"]["requires"])
