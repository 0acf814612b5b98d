#!/usr/bin/env bash
# Installs Debian's `prometheus` package (the server and `promtool`) for the
# metrics tests (tests/tests/prometheus.rs), once: does nothing when both
# are already there. Prints promtool's path on its last line.
set -euo pipefail
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
command -v promtool
