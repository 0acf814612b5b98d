"""Lets the examples run under a bare ``python3``: if ``passer`` is not
importable, re-execute the script with the repository's ``.venv`` python
(created by ``.ci/python-env.sh``). ``exec`` keeps the process id, so a node
monitor that started ``python3 examples/python/executor.py`` still supervises
the same process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

try:
    import passer  # noqa: F401
except ImportError:
    _VENV = Path(__file__).resolve().parents[2] / ".venv"
    _PYTHON = _VENV / "bin" / "python"
    if _PYTHON.exists() and Path(sys.prefix).resolve() != _VENV.resolve() and not os.environ.get("PASSER_REEXEC"):
        os.environ["PASSER_REEXEC"] = "1"
        os.execv(str(_PYTHON), [str(_PYTHON), *sys.argv])
    raise SystemExit(
        "passer is not installed: run `bash .ci/python-env.sh` (or `pip install ./sdk/python`)"
    )
