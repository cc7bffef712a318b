"""Compile what a first start imports to bytecode, in the background of ``scripts/start.sh``.

A fresh install holds no ``.pyc`` files (uv does not compile, and compiling every package at
install time costs about 40 s), so the first ``python -m etl init`` compiles great-expectations
(≈ 3.5 s of its 7 s import) and the first page view compiles Streamlit, plotly and the app
(several seconds more). This script runs on the other core while the demo company is simulated
and loaded: it imports the modules those two steps need, the loader's first, and writes the
bytecode of every module that got imported, so both steps find it compiled. It writes the
files itself, so it works with ``PYTHONDONTWRITEBYTECODE`` too. Failures are ignored: the
only effect of this script is speed.
"""

from __future__ import annotations

import compileall
import contextlib
import importlib
import importlib.util
import logging
import os
import py_compile
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: What ``python -m etl init`` imports on a first run, then what the server and the first page import.
MODULES = (
    "etl.loader",
    "etl.demo",
    "streamlit.web.bootstrap",
    "streamlit.runtime.scriptrunner",
    "streamlit_authenticator",
    "plotly.express",
    "plotly.graph_objects",
    "plotly.subplots",
    "pages.access",
    "pages.cache",
    "pages.exports",
)


def _compile_loaded() -> int:
    """Write the bytecode of every imported module that has none yet; return how many were written."""
    written = 0
    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None)
        if not source or not source.endswith(".py"):
            continue
        with contextlib.suppress(Exception):
            cached = importlib.util.cache_from_source(source)
            if not os.path.exists(cached):
                py_compile.compile(source, cfile=cached, doraise=True)
                written += 1
    return written


def main() -> None:
    sys.path.insert(0, str(ROOT))
    logging.disable(logging.WARNING)  # Streamlit warns that it runs outside ``streamlit run``
    written = 0
    for name in MODULES:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
        written += _compile_loaded()
    for package in ("analytics", "data_access", "etl", "jobs", "pages"):
        compileall.compile_dir(ROOT / package, quiet=2)
    compileall.compile_file(ROOT / "app.py", quiet=2)
    print(f"precompiled {written} modules", file=sys.stderr)


if __name__ == "__main__":
    main()
