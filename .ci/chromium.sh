#!/usr/bin/env bash
# Installs Debian's headless-capable `chromium` for the status page test
# (tests/tests/status_page.rs), once: does nothing when it is already there.
# Prints the browser's path on its last line.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
command -v chromium
