"""Ferryman's build: the package as pyproject.toml describes it, with its hot path compiled by mypyc.

The modules ``src/ferryman/compiled.py`` lists are compiled to C by mypyc (the compiler mypy and black ship
with) from the same fully typed source; everything else stays interpreted. A machine without a C compiler
gets the interpreted package (the extensions are optional); ``FERRYMAN_PURE=1`` asks for it on purpose. An
edited module runs as compiled until the package is built again (``pip install -e .``): the test suite
refuses to start on a compiled module older than its source (``tests/conftest.py``).
"""

from __future__ import annotations

import os
import runpy

from setuptools import setup


def _extensions() -> list[object]:
    if os.environ.get("FERRYMAN_PURE") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:  # built without its build requirements (--no-build-isolation, no mypy): interpreted
        return []
    listed = runpy.run_path("src/ferryman/compiled.py")["COMPILED"]
    # mypyc type-checks what it compiles (strictly, as pyproject.toml says) against the runtime dependencies' own
    # types: pyproject.toml's build requirements hold them all, so pip's isolated build environment checks and
    # compiles what a developer's venv does (without them the strict check fails, and with it the install)
    extensions = mypycify([f"src/ferryman/{path}" for path in listed], opt_level="3")
    for extension in extensions:
        extension.optional = True  # no compiler: the interpreted modules, as they are
    return list(extensions)


setup(ext_modules=_extensions())
