"""Build script: generates the gRPC stubs from the repository's .proto files.

The stubs are never committed. Every build runs ``grpc_tools.protoc`` over
``<repo>/proto/passer/v1/*.proto`` and writes the modules into
``passer/v1/`` next to this file, so the proto package ``passer.v1`` becomes
the Python package ``passer.v1`` and the generated absolute imports
(``from passer.v1 import common_pb2``) resolve as they are, without rewriting.

Where the protos are found, first hit wins:

1. ``$PASSER_PROTO_DIR`` (a directory holding ``passer/v1/*.proto``);
2. ``../../proto`` relative to this file (a checkout of the repository);
3. ``./proto`` (a copy bundled into source distributions by ``sdist``).

The generated code checks at import time that the installed ``grpcio`` and
``protobuf`` are at least the versions of the compiler that produced it, so
the package's dependencies are computed here from the generated files.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import List, Optional

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
GENERATED_DIR = HERE / "passer" / "v1"
PROTO_PACKAGE = Path("passer") / "v1"

_generated = False


def find_proto_root() -> Path:
    """Returns the directory that holds ``passer/v1/*.proto``."""
    candidates: List[Path] = []
    env_dir = os.environ.get("PASSER_PROTO_DIR")
    if env_dir:
        candidates.append(Path(env_dir))
    candidates += [HERE.parent.parent / "proto", HERE / "proto"]
    for candidate in candidates:
        if sorted((candidate / PROTO_PACKAGE).glob("*.proto")):
            return candidate.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise SystemExit(
        f"passer: cannot find passer/v1/*.proto (tried {tried}); "
        "set PASSER_PROTO_DIR to the repository's proto/ directory"
    )


def generate_stubs() -> None:
    """Runs protoc once per process, writing stubs into ``passer/v1/``."""
    global _generated
    if _generated:
        return
    try:
        from grpc_tools import protoc
    except ImportError as error:  # pragma: no cover - build requirement
        raise SystemExit(f"passer: grpcio-tools is needed to build: {error}")
    proto_root = find_proto_root()
    protos = sorted(str(p) for p in (proto_root / PROTO_PACKAGE).glob("*.proto"))
    if GENERATED_DIR.exists():
        shutil.rmtree(GENERATED_DIR)
    GENERATED_DIR.mkdir(parents=True)
    include_dir = str(Path(protoc.__file__).resolve().parent / "_proto")
    out_dir = str(HERE)
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{include_dir}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit(f"passer: protoc failed on {proto_root}")
    (GENERATED_DIR / "__init__.py").write_text(
        '"""Generated from passer/v1/*.proto at build time; do not edit."""\n'
    )
    _generated = True


def _first_match(pattern: str, glob: str) -> Optional[str]:
    for path in sorted(GENERATED_DIR.glob(glob)):
        match = re.search(pattern, path.read_text())
        if match:
            return match.group(1)
    return None


def runtime_requirements() -> List[str]:
    """Lower bounds on grpcio and protobuf that the generated code demands."""
    generate_stubs()
    grpc_version = _first_match(r"GRPC_GENERATED_VERSION = '([^']+)'", "*_grpc.py")
    protobuf_version = _first_match(r"Protobuf Python Version: (\S+)", "*_pb2.py")
    grpc_req = f"grpcio>={grpc_version}" if grpc_version else "grpcio>=1.62"
    protobuf_req = f"protobuf>={protobuf_version}" if protobuf_version else "protobuf>=4.25"
    return [grpc_req, protobuf_req]


class BuildPyWithStubs(build_py):
    """``build_py`` that first generates the stubs into the source tree."""

    def run(self) -> None:
        generate_stubs()
        super().run()


class SdistWithProtos(sdist):
    """``sdist`` that bundles the .proto files so the sdist builds anywhere."""

    def make_release_tree(self, base_dir: str, files: List[str]) -> None:
        super().make_release_tree(base_dir, files)
        proto_root = find_proto_root()
        target = Path(base_dir) / "proto" / PROTO_PACKAGE
        target.mkdir(parents=True, exist_ok=True)
        for proto in (proto_root / PROTO_PACKAGE).glob("*.proto"):
            shutil.copy2(proto, target / proto.name)


# setuptools runs this file as __main__; tests import it to generate stubs.
if __name__ == "__main__":
    setup(
        install_requires=runtime_requirements(),
        cmdclass={"build_py": BuildPyWithStubs, "sdist": SdistWithProtos},
    )
