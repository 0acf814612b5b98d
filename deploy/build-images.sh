#!/usr/bin/env bash
# build-images.sh — build the passer Docker images from prebuilt release
# binaries, without any container registry:
#   passer-base:<suite>  the debootstrap base (deploy/build-base.sh; skipped
#                        when it exists, or when --base names another image)
#   passer:latest        deploy/Dockerfile: scheduler, node monitor, CLI
#   passer-python:latest deploy/Dockerfile.python: the above + grpcio,
#                        protobuf and the Python SDK (sdk/python) for
#                        Python executors, and examples/python in
#                        /opt/passer/examples
#
# It does not compile: run `cargo build --release --workspace --bins` first.
# The binaries (and the health-check script) are copied into a temporary
# build context of just those files, so the context sent to Docker is a few
# MB rather than the repository and target/. The Python packages are
# installed by pip ON THE HOST into another temporary context, for the
# image's Python version and glibc, so the image build downloads nothing.
#
# Usage: deploy/build-images.sh [options]
#   --base IMAGE     base image (default passer-base:<host suite>; e.g.
#                    debian:bookworm-slim where a registry is reachable)
#   --force-base     rebuild the debootstrap base image
#   --tag TAG        tag of passer and passer-python (default latest)
#   --bin-dir DIR    where the binaries are (default
#                    ${CARGO_TARGET_DIR:-target}/release)
#   --no-python      skip passer-python
#   --no-strip       keep debug info (default: strip --strip-debug, which
#                    keeps symbol names for panic backtraces)
#   --rebuild        build even when the images are up to date
#
# Up to date: each image carries a label `passer.inputs` with a hash of what
# it is made of (binaries, base image id, deploy/ files, examples/python,
# sdk/python, proto/, the flags); when every wanted image exists with the
# current hash, nothing is built (a few seconds, for deploy/test-cluster.sh
# and CI).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$repo/target}

base=""
force_base=0
tag=latest
bin_dir=$target_dir/release
python=1
strip_bins=1
rebuild=0
while [ $# -gt 0 ]; do
    case "$1" in
        --base) base=${2:?--base needs a value}; shift ;;
        --force-base) force_base=1 ;;
        --tag) tag=${2:?--tag needs a value}; shift ;;
        --bin-dir) bin_dir=${2:?--bin-dir needs a value}; shift ;;
        --no-python) python=0 ;;
        --no-strip) strip_bins=0 ;;
        --rebuild) rebuild=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-images.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

die() { echo "build-images.sh: $*" >&2; exit 1; }
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
mb() { echo "$(( $(docker image inspect --format '{{.Size}}' "$1") / 1000000 )) MB"; }

binaries="passer-scheduler passer-node-monitor passer"
command -v docker >/dev/null || die "docker not found"

# --- 1. the binaries must exist (checked first: fail before any long step) --
for b in $binaries; do
    if [ ! -x "$bin_dir/$b" ]; then
        die "missing $bin_dir/$b
  build the release binaries first:  cargo build --release --workspace --bins
  (or point --bin-dir at the directory that holds $binaries)"
    fi
done

start=$(date +%s)

# --- 2. the base image --------------------------------------------------------
if [ -z "$base" ]; then
    # shellcheck disable=SC1091
    suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    base=passer-base:$suite
fi
case "$base" in
    passer-base:*)
        flags=(--tag "$base")
        [ "$force_base" = 1 ] && flags+=(--force)
        "$here/build-base.sh" "${flags[@]}"
        ;;
    *)
        docker image inspect "$base" >/dev/null 2>&1 || echo "build-images.sh: $base is not local; docker will try to pull it"
        ;;
esac

# --- 2b. up to date? ------------------------------------------------------------
inputs=$(
    {
        echo "$base $(docker image inspect --format '{{.Id}}' "$base" 2>/dev/null)"
        echo "python=$python strip=$strip_bins"
        for b in $binaries; do sha256sum <"$bin_dir/$b"; done
        cd "$repo"
        find deploy/Dockerfile deploy/Dockerfile.python deploy/build-images.sh \
            deploy/passer-healthcheck.sh examples/python proto sdk/python \
            -type f \( -name '*.py' -o -name '*.proto' -o -name '*.toml' \
                      -o -name '*.sh' -o -name 'Dockerfile*' \) \
            -not -path '*/build/*' -not -path '*/passer/v1/*' -print0 |
            sort -z | xargs -0 sha256sum
    } | sha256sum | cut -c1-16
)
label() { docker image inspect --format '{{index .Config.Labels "passer.inputs"}}' "$1" 2>/dev/null || true; }
wanted="passer:$tag"
[ "$python" = 1 ] && wanted="$wanted passer-python:$tag"
if [ "$rebuild" = 0 ]; then
    current=1
    for image in $wanted; do
        [ "$(label "$image")" = "$inputs" ] || current=0
    done
    if [ "$current" = 1 ]; then
        echo "build-images.sh: $wanted up to date (inputs $inputs); --rebuild to build anyway"
        exit 0
    fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/passer-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- 3. stage the runtime build context --------------------------------------
ctx=$work/runtime
mkdir -p "$ctx/bin"
for b in $binaries; do
    cp "$bin_dir/$b" "$ctx/bin/$b"
    # Only ELF files are stripped (a stand-in script is left alone).
    if [ "$strip_bins" = 1 ] && command -v strip >/dev/null &&
       [ "$(head -c 4 "$ctx/bin/$b" | od -An -c | tr -d ' ')" = '177ELF' ]; then
        strip --strip-debug "$ctx/bin/$b"
    fi
done
cp "$here/passer-healthcheck.sh" "$ctx/bin/passer-healthcheck"
chmod 755 "$ctx/bin/"*
echo "build-images.sh: build context $(du -sh "$ctx" | cut -f1): $(cd "$ctx/bin" && echo *)"

# --- 4. passer:TAG ----------------------------------------------------------
t0=$(date +%s)
docker build --quiet -f "$here/Dockerfile" --build-arg BASE="$base" \
    --label passer.inputs="$inputs" -t "passer:$tag" "$ctx" >/dev/null
echo "build-images.sh: built passer:$tag in $(( $(date +%s) - t0 ))s, $(mb "passer:$tag")"

# Smoke test: non-root, every binary loads its shared libraries and starts.
docker run --rm --entrypoint /bin/sh "passer:$tag" -c '
    set -eu
    [ "$(id -u)" != 0 ] || { echo "runs as root" >&2; exit 1; }
    for b in passer-scheduler passer-node-monitor passer; do
        if ldd "/usr/local/bin/$b" 2>/dev/null | grep "not found" >&2; then
            echo "$b: missing shared libraries in the image" >&2; exit 1
        fi
        "$b" --help >/dev/null || { echo "$b --help failed" >&2; exit 1; }
    done' ||
    die "passer:$tag failed its smoke test (binaries built for a newer glibc than the base?)"

# --- 5. passer-python:TAG -----------------------------------------------------
if [ "$python" = 1 ]; then
    t0=$(date +%s)
    # The image's Python version, site directory and glibc decide the wheels.
    read -r py_ver py_site glibc < <(docker run --rm --entrypoint python3 "passer:$tag" -c '
import os, sys, sysconfig
print("%d.%d" % sys.version_info[:2], sysconfig.get_path("purelib"),
      os.confstr("CS_GNU_LIBC_VERSION").split()[1])')
    case "$(docker image inspect --format '{{.Architecture}}' "passer:$tag")" in
        amd64) parch=x86_64 ;;
        arm64) parch=aarch64 ;;
        *) parch=$(uname -m) ;;
    esac
    platforms=(--platform "manylinux2014_$parch")
    minor=${glibc#2.}
    while [ "$minor" -ge 17 ]; do
        platforms+=(--platform "manylinux_2_${minor}_$parch")
        minor=$((minor - 1))
    done

    pyctx=$work/python
    mkdir -p "$pyctx/site-packages" "$pyctx/bin" "$pyctx/examples" "$work/wheels"
    # The example executor (examples/python), for compose.yaml's Python node.
    cp "$repo"/examples/python/*.py "$pyctx/examples/"
    pkgs=(grpcio protobuf)
    sdk=$repo/sdk/python
    if [ -f "$sdk/pyproject.toml" ] || [ -f "$sdk/setup.py" ]; then
        # Built from a copy: setup.py writes build/, *.egg-info and the
        # generated stubs next to itself, and sdk/python is not ours to touch.
        mkdir -p "$work/sdk-src"
        tar -C "$sdk" --exclude=./build --exclude=./dist --exclude='./*.egg-info' \
            --exclude=./passer/v1 --exclude=__pycache__ -c . | tar -C "$work/sdk-src" -x
        PASSER_PROTO_DIR=$repo/proto \
            python3 -m pip wheel --quiet --no-deps --wheel-dir "$work/wheels" "$work/sdk-src"
        pkgs+=("$work"/wheels/*.whl)
        sdk_note="with the SDK $(basename "$work"/wheels/*.whl)"
    else
        sdk_note="WITHOUT the Python SDK: $sdk has no pyproject.toml yet"
    fi
    python3 -m pip install --quiet --no-compile --no-warn-script-location \
        --target "$pyctx/site-packages" --only-binary=:all: \
        --implementation cp --python-version "$py_ver" "${platforms[@]}" \
        "${pkgs[@]}"
    # Console scripts: to /usr/local/bin, with the image's interpreter.
    if [ -d "$pyctx/site-packages/bin" ]; then
        for f in "$pyctx/site-packages/bin/"*; do
            [ -f "$f" ] || continue
            sed '1s|^#!.*python.*$|#!/usr/bin/python3|' "$f" >"$pyctx/bin/$(basename "$f")"
            chmod 755 "$pyctx/bin/$(basename "$f")"
        done
        rm -rf "$pyctx/site-packages/bin"
    fi
    docker build --quiet -f "$here/Dockerfile.python" \
        --build-arg BASE="passer:$tag" --build-arg PYTHON_SITE="$py_site" \
        --label passer.inputs="$inputs" \
        -t "passer-python:$tag" "$pyctx" >/dev/null
    docker run --rm --entrypoint python3 "passer-python:$tag" -c \
        'import grpc, google.protobuf' || die "passer-python:$tag cannot import grpc"
    echo "build-images.sh: built passer-python:$tag in $(( $(date +%s) - t0 ))s, $(mb "passer-python:$tag") ($sdk_note; Python $py_ver, glibc $glibc)"
fi

echo "build-images.sh: done in $(( $(date +%s) - start ))s; images:"
for image in "$base" "passer:$tag" "passer-python:$tag"; do
    if docker image inspect "$image" >/dev/null 2>&1; then
        echo "  $image  $(mb "$image")"
    fi
done
