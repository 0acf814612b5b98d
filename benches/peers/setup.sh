#!/usr/bin/env bash
# Prepares the peers passer is benchmarked against: a virtual environment at
# benches/peers/.venv with Ray, Dask distributed and Celery (Redis broker)
# from PyPI, and redis-server from Debian's packages. Idempotent. Prints the
# venv's python path as the only line on stdout.
#
#   PY="$(bash benches/peers/setup.sh)"
#   bash benches/peers/redis.sh start 16379   # Redis for Celery, loopback only
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
base_python="${PYTHON:-python3}"

if ! command -v redis-server >/dev/null 2>&1; then
    echo "peers: installing redis-server from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    sudo_opt=""
    [ "$(id -u)" -ne 0 ] && sudo_opt="sudo"
    $sudo_opt apt-get install -y --no-install-recommends redis-server >&2 ||
        { $sudo_opt apt-get update >&2 && $sudo_opt apt-get install -y --no-install-recommends redis-server >&2; }
fi

if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "peers: creating $venv" >&2
    rm -rf "$venv"
    "$base_python" -m venv "$venv"
fi

if ! "$venv/bin/python" -c 'import ray, dask.distributed, celery, redis' >/dev/null 2>&1; then
    echo "peers: installing ray, dask[distributed], celery[redis]" >&2
    "$venv/bin/python" -m pip --disable-pip-version-check --quiet install \
        'ray' 'dask[distributed]' 'celery[redis]' 'psutil' >&2
fi

echo "$venv/bin/python"
