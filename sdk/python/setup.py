"""Build script: generates the gRPC stubs from the repository's .proto files.

The stubs are never committed. Every build runs ``grpc_tools.protoc`` over
``<repo>/proto/passer/v1/*.proto`` and writes the modules into the build
directory's ``passer/v1/``, so the proto package ``passer.v1`` becomes the
Python package ``passer.v1`` and the generated absolute imports
(``from passer.v1 import common_pb2``) resolve as they are, without rewriting.

Builds happen out of tree: ``pip install ./sdk/python`` writes nothing into
the checkout (build and egg-info directories go to a temporary directory).
Only the tests (``tests/conftest.py``) generate stubs next to the sources,
to import the SDK from the source tree.

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
import atexit
import re
import shutil
import tempfile
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


def generate_stubs(out_root: Path = HERE) -> None:
    """Runs protoc, writing stubs into ``<out_root>/passer/v1/`` (by default
    next to the sources, once per process)."""
    global _generated
    in_source = out_root == HERE
    if in_source and _generated:
        return
    generated_dir = out_root / PROTO_PACKAGE
    try:
        from grpc_tools import protoc
    except ImportError as error:  # pragma: no cover - build requirement
        raise SystemExit(f"passer: grpcio-tools is needed to build: {error}")
    proto_root = find_proto_root()
    protos = sorted(str(p) for p in (proto_root / PROTO_PACKAGE).glob("*.proto"))
    if generated_dir.exists():
        shutil.rmtree(generated_dir)
    generated_dir.mkdir(parents=True)
    include_dir = str(Path(protoc.__file__).resolve().parent / "_proto")
    out_dir = str(out_root)
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
    (generated_dir / "__init__.py").write_text(
        '"""Generated from passer/v1/*.proto at build time; do not edit."""\n'
    )
    if in_source:
        _generated = True


def _first_match(pattern: str, glob: str, directory: Path) -> Optional[str]:
    for path in sorted(directory.glob(glob)):
        match = re.search(pattern, path.read_text())
        if match:
            return match.group(1)
    return None


def runtime_requirements(scratch: Path) -> List[str]:
    """Lower bounds on grpcio and protobuf that the generated code demands
    (stubs generated into ``scratch`` to read them)."""
    generate_stubs(scratch)
    directory = scratch / PROTO_PACKAGE
    grpc_version = _first_match(r"GRPC_GENERATED_VERSION = '([^']+)'", "*_grpc.py", directory)
    protobuf_version = _first_match(r"Protobuf Python Version: (\S+)", "*_pb2.py", directory)
    grpc_req = f"grpcio>={grpc_version}" if grpc_version else "grpcio>=1.62"
    protobuf_req = f"protobuf>={protobuf_version}" if protobuf_version else "protobuf>=4.25"
    return [grpc_req, protobuf_req]


class BuildPyWithStubs(build_py):
    """``build_py`` that generates the stubs into the build directory."""

    def run(self) -> None:
        super().run()
        generate_stubs(Path(self.build_lib))

    def get_outputs(self, include_bytecode: bool = True) -> List[str]:
        generated = Path(self.build_lib) / PROTO_PACKAGE
        extra = [str(p) for p in generated.iterdir() if p.is_file()] if generated.is_dir() else []
        return list(super().get_outputs(include_bytecode)) + extra


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
    scratch = Path(tempfile.mkdtemp(prefix="passer-build-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    setup(
        install_requires=runtime_requirements(scratch / "requirements"),
        cmdclass={"build_py": BuildPyWithStubs, "sdist": SdistWithProtos},
        # Out of tree: nothing is written into the checkout.
        options={"build": {"build_base": str(scratch / "build")}, "egg_info": {"egg_base": str(scratch)}},
    )
