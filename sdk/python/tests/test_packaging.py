"""``pip install ./sdk/python`` builds out of tree: the checkout is left as
it was (no ``build/``, ``*.egg-info`` or generated ``passer/v1/`` written
into it), and the installed package carries the generated stubs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Set

SDK_DIR = Path(__file__).resolve().parent.parent


def tree(root: Path) -> Set[str]:
    skipped = {"__pycache__", ".pytest_cache"}
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if not skipped.intersection(path.relative_to(root).parts)
    }


def test_pip_install_writes_nothing_into_the_checkout(tmp_path: Path) -> None:
    before = tree(SDK_DIR)
    target = tmp_path / "site"
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-build-isolation", "--no-deps", "--target", str(target), str(SDK_DIR)],
        capture_output=True, text=True, timeout=180,
    )
    assert completed.returncode == 0, completed.stderr
    assert tree(SDK_DIR) == before, f"pip wrote into the checkout: {sorted(tree(SDK_DIR) - before)}"
    for module in ["scheduler_pb2.py", "scheduler_pb2_grpc.py", "scheduler_pb2.pyi", "__init__.py"]:
        assert (target / "passer" / "v1" / module).is_file(), module
    assert (target / "passer" / "py.typed").is_file()
