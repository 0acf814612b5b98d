"""Test setup: import ``passer`` from this source tree, with fresh stubs.

The stubs are generated into ``sdk/python/passer/v1/`` (git-ignored) by the
same code ``setup.py`` runs at build time, whenever a ``.proto`` is newer.
Every test also runs under a watchdog, so a hang fails loudly instead of
stalling CI.
"""

from __future__ import annotations

import faulthandler
import importlib.util
import sys
from pathlib import Path
from typing import Iterator

import pytest

SDK_DIR = Path(__file__).resolve().parent.parent
TEST_WATCHDOG_SECONDS = 30


def _ensure_stubs() -> None:
    spec = importlib.util.spec_from_file_location("_passer_setup", SDK_DIR / "setup.py")
    assert spec is not None and spec.loader is not None
    setup_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup_module)
    generated = SDK_DIR / "passer" / "v1" / "scheduler_pb2_grpc.py"
    protos = list((setup_module.find_proto_root() / "passer" / "v1").glob("*.proto"))
    newest_proto = max(p.stat().st_mtime for p in protos)
    if not generated.exists() or generated.stat().st_mtime < newest_proto:
        setup_module.generate_stubs()


_ensure_stubs()
sys.path.insert(0, str(SDK_DIR))
for name in [m for m in sys.modules if m == "passer" or m.startswith("passer.")]:
    del sys.modules[name]


@pytest.fixture(autouse=True)
def _watchdog() -> Iterator[None]:
    faulthandler.dump_traceback_later(TEST_WATCHDOG_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
