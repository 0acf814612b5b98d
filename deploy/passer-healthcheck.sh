#!/bin/sh
# passer-healthcheck — the Docker HEALTHCHECK of the passer images
# (installed as /usr/local/bin/passer-healthcheck).
#
# Asks the gRPC health service (grpc.health.v1.Health) of the server in this
# container through `passer health --scheduler HOST:PORT`, which exits 0 only when
# the answer is SERVING. The address is, in order:
#   1. $PASSER_HEALTH_ADDR, if set (e.g. 127.0.0.1:20501);
#   2. 127.0.0.1:<port of $PASSER_LISTEN> if PASSER_LISTEN is set to a
#      wildcard address (0.0.0.0, [::]), or $PASSER_LISTEN itself otherwise;
#   3. by role: 127.0.0.1:20501 if the container runs passer-node-monitor,
#      else 127.0.0.1:20503 (the scheduler).
# POSIX sh: it runs in the image, where /bin/sh is dash.
set -eu

addr=${PASSER_HEALTH_ADDR:-}
if [ -z "$addr" ] && [ -n "${PASSER_LISTEN:-}" ]; then
    host=${PASSER_LISTEN%:*}
    port=${PASSER_LISTEN##*:}
    case "$host" in
        ''|0.0.0.0|'[::]'|'::') addr=127.0.0.1:$port ;;
        *) addr=$PASSER_LISTEN ;;
    esac
fi
if [ -z "$addr" ]; then
    # PID 1 is the server itself, or docker-init/tini in front of it.
    cmdline=$(tr '\0' ' ' </proc/1/cmdline 2>/dev/null || true)
    case "$cmdline" in
        *passer-node-monitor*) addr=127.0.0.1:20501 ;;
        *) addr=127.0.0.1:20503 ;;
    esac
fi
exec passer health --scheduler "$addr"
