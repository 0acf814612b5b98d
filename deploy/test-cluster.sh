#!/usr/bin/env bash
# test-cluster.sh — passer's cluster test across Docker containers.
#
# Builds the images (deploy/build-images.sh; nothing is rebuilt when they are
# up to date), brings up deploy/compose.yaml (2 schedulers, 3 node monitors,
# one with a Python executor) under a project name of its own, checks the
# Python executor with a small job, then runs a job of 5,000 tasks from a
# client container that fails over between the two schedulers, and while it
# runs:
#   1. `docker kill`s node monitor nm1 (and later starts it again);
#   2. disconnects nm2 from the network, then reconnects it;
#   3. restarts scheduler1, then scheduler2, each after the other is healthy.
# It prints the job's result counts after each fault, and passes only if
# every task ended with exactly one result, all succeeded, the client failed
# over between the schedulers, and the job was still running when the last
# fault hit. The cluster is always torn down
# (trap), also on failure or timeout; the whole run is bounded.
#
# Usage: deploy/test-cluster.sh [--bin-dir DIR]
#   --bin-dir DIR   release binaries (default ${CARGO_TARGET_DIR:-target}/release)
# Environment:
#   PASSER_TEST_TASKS        tasks in the job            (default 5000)
#   PASSER_TEST_TASK_MS      each task sleeps this long  (default 350)
#   PASSER_TEST_TIMEOUT      seconds for the whole test  (default 900)
# Needs docker, and docker-compose (1.28+) or `docker compose`; root the
# first time (build-base.sh runs debootstrap).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --bin-dir) bin_args=(--bin-dir "${2:?--bin-dir needs a value}"); shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "test-cluster.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

tasks=${PASSER_TEST_TASKS:-5000}
task_ms=${PASSER_TEST_TASK_MS:-350}
test_timeout=${PASSER_TEST_TIMEOUT:-900}
project=passer-test-$$
started=$(date +%s)

say() { printf '[test-cluster %4ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }
fail() { say "FAIL: $*" >&2; exit 1; }

docker info >/dev/null 2>&1 || fail "no Docker engine answers (docker info failed)"
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null &&
   [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing docker-compose from Debian's packages"
    apt-get install -y -qq docker-compose >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; } || true
fi
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
else
    fail "neither 'docker compose' nor docker-compose is installed (Debian: apt-get install docker-compose)"
fi
compose+=(-p "$project" -f "$here/compose.yaml")

# --- teardown, always ----------------------------------------------------------
client=$project-client
watchdog=""
teardown() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$watchdog" ]; then
        # shellcheck disable=SC2046
        kill $(pgrep -P "$watchdog") "$watchdog" 2>/dev/null || true
    fi
    if [ "$rc" != 0 ] && docker inspect "$client" >/dev/null 2>&1; then
        say "client's last output:"
        docker logs --tail 5 "$client" 2>&1 | cut -c1-300 || true
        for service in scheduler1 scheduler2 nm1 nm2 nm3; do
            say "$service's last log lines:"
            "${compose[@]}" logs --no-color --tail 8 "$service" 2>&1 | cut -c1-300 || true
        done
    fi
    say "tearing down project $project"
    docker rm -f "$client" >/dev/null 2>&1 || true
    "${compose[@]}" down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 ||
        say "warning: '${compose[*]} down' failed"
    if [ "$rc" = 0 ]; then say "PASS in $(( $(date +%s) - started ))s"; else say "FAILED (exit $rc)"; fi
    exit "$rc"
}
trap teardown EXIT
trap 'fail "interrupted"' INT
trap 'fail "timed out after ${test_timeout}s (PASSER_TEST_TIMEOUT)"' TERM
( sleep "$test_timeout" && kill -TERM $$ ) 2>/dev/null &
watchdog=$!

# --- images ----------------------------------------------------------------------
say "images"
"$here/build-images.sh" "${bin_args[@]}"

# --- cluster -----------------------------------------------------------------------
say "starting the cluster (project $project)"
"${compose[@]}" up -d >/dev/null 2>&1 || { "${compose[@]}" up -d; fail "compose up failed"; }
# Container ids, looked up once (docker-compose v1 takes seconds per call);
# kill/start/restart/disconnect keep a container's id.
declare -A container_ids
for service in scheduler1 scheduler2 nm1 nm2 nm3; do
    container_ids[$service]=$("${compose[@]}" ps -q "$service")
    [ -n "${container_ids[$service]}" ] || fail "no container for $service"
done
cid() { echo "${container_ids[$1]}"; }
network=$(docker network ls --quiet --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.network=passer" --format '{{.Name}}')
[ -n "$network" ] || fail "cannot find the compose network of $project"

ip_of() { docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(cid "$1")"; }

# wait_healthy SERVICE SECONDS: until Docker's health check (gRPC health) passes.
wait_healthy() {
    local service=$1 deadline=$(( $(date +%s) + $2 )) id status
    id=$(cid "$service")
    while :; do
        status=$(docker inspect --format '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
        [ "$status" = running/healthy ] && return 0
        [ "$(date +%s)" -lt "$deadline" ] || fail "$service not healthy after $2s ($status)"
        sleep 0.5
    done
}
for service in scheduler1 scheduler2 nm1 nm2 nm3; do wait_healthy "$service" 60; done
say "all five servers healthy"
# scheduler1's status page and /metrics are published on the host's loopback.
page=$(curl -sf --max-time 5 http://127.0.0.1:20580/) || fail "no status page on 127.0.0.1:20580"
grep -q 'chart-throughput' <<<"$page" || fail "127.0.0.1:20580 does not serve the status page"
nodes_up=$(curl -sf --max-time 5 http://127.0.0.1:20580/metrics | awk '$1 == "passer_scheduler_nodes_up" { print $2 }')
[ -n "$nodes_up" ] || fail "no passer_scheduler_nodes_up in http://127.0.0.1:20580/metrics"
say "status page and /metrics published on 127.0.0.1:20580 (nodes up: $nodes_up)"
# The shared alias DNS discovery uses: one A record per node monitor.
alias_ips=$(docker run --rm --no-healthcheck --network "$network" passer:latest \
    getent ahostsv4 node-monitors | awk '{ print $1 }' | sort -u | tr '\n' ' ')
[ "$(wc -w <<<"$alias_ips")" = 3 ] || fail "node-monitors resolves to '$alias_ips', expected 3 addresses"
say "node-monitors resolves to $alias_ips"

# run_client ARGS...: a client container on the cluster network.
run_client() {
    docker run --rm --no-healthcheck --network "$network" -e PASSER_SCHEDULERS=scheduler1:20503,scheduler2:20503 \
        passer:latest timeout 120 passer submit --json "$@"
}

# --- the Python executor (and that executors attached) ---------------------------------
say "python job: 20 tasks on nm3's Python executor"
py_out=$(run_client --executor python --payload 'hello {i}' --count 20) ||
    fail "the python job failed: $py_out"
py_ok=$(grep '"output":"[0-9]* OLLEH pid=[0-9]*"' <<<"$py_out" | grep -c '"status":"succeeded"' || true)
[ "$py_ok" = 20 ] || fail "python job: $py_ok of 20 tasks returned the reversed payload: $(head -3 <<<"$py_out")"
say "python job: 20/20 succeeded with reversed payloads"
warm=$(run_client --executor sleep --payload 1 --count 60) || fail "warm-up job failed: $warm"
say "warm-up: 60 sleep tasks on nodes $(grep -o '"node":"[^"]*"' <<<"$warm" | sort -u | cut -d'"' -f4 | tr '\n' ' ')"

# --- the job under faults -------------------------------------------------------------
say "job: $tasks tasks of sleep ${task_ms}ms from container $client"
docker run -d --name "$client" --no-healthcheck --network "$network" passer:latest \
    passer submit --scheduler scheduler1:20503,scheduler2:20503 --json \
    --executor sleep --payload "$task_ms" --count "$tasks" --max-attempts 10 >/dev/null

results() { docker logs "$client" 2>/dev/null | grep '"task_id"' || true; }
client_running() { [ "$(docker inspect --format '{{.State.Running}}' "$client")" = true ]; }
# counts WHEN: the results the client has printed so far (its stdout is
# block-buffered, so up to a few dozen lag behind).
counts() {
    local lines total distinct by_status by_node state
    lines=$(results)
    total=$(grep -c . <<<"$lines" || true)
    distinct=$(grep -o '"task_id":"[^"]*"' <<<"$lines" | sort -u | grep -c . || true)
    by_status=$(grep -o '"status":"[a-z]*"' <<<"$lines" | cut -d'"' -f4 | sort | uniq -c |
        awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')
    by_node=$(grep -o '"node":"[^":]*' <<<"$lines" | cut -d'"' -f4 | sort | uniq -c |
        awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')
    if client_running; then state="job running"; else state="job finished"; fi
    say "counts after $1: $total results, $distinct distinct tasks; ${by_status:-none}; by node: ${by_node:-none}; $state"
}
# wait_results N SECONDS: until the client has printed N results.
wait_results() {
    local deadline=$(( $(date +%s) + $2 ))
    while [ "$(results | grep -c . || true)" -lt "$1" ]; do
        client_running || fail "the job ended before $1 results"
        [ "$(date +%s)" -lt "$deadline" ] || fail "fewer than $1 results after $2s"
        sleep 0.5
    done
}
still_running() { client_running || fail "the job finished before '$1': raise PASSER_TEST_TASK_MS so that the faults hit a running job"; }

wait_results 300 120
counts "start"

say "addresses: nm1 $(ip_of nm1), nm2 $(ip_of nm2), nm3 $(ip_of nm3)"
still_running "kill nm1"
docker kill "$(cid nm1)" >/dev/null
say "fault 1: docker kill nm1"
sleep 4
counts "kill nm1"

still_running "disconnect nm2"
nm2=$(cid nm2)
docker network disconnect "$network" "$nm2"
say "fault 2: nm2 disconnected from $network"
sleep 6
counts "disconnect nm2"
docker network connect --alias nm2 --alias node-monitors "$network" "$nm2"
say "nm2 reconnected, now at $(ip_of nm2)"
sleep 4
counts "reconnect nm2"

docker start "$(cid nm1)" >/dev/null
wait_healthy nm1 60
say "nm1 started again and healthy, now at $(ip_of nm1)"
counts "nm1 back"

for scheduler in scheduler1 scheduler2; do
    still_running "restart $scheduler"
    docker restart --time 2 "$(cid "$scheduler")" >/dev/null
    say "fault: $scheduler restarted"
    wait_healthy "$scheduler" 60
    sleep 2
    counts "restart $scheduler"
done

# --- the verdict ------------------------------------------------------------------------
say "waiting for the job to finish"
deadline=$(( $(date +%s) + 600 ))
while client_running; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "the job did not finish within 600s"
    sleep 1
done
counts "the end"
exit_code=$(docker inspect --format '{{.State.ExitCode}}' "$client")
summary=$(docker logs "$client" 2>/dev/null | grep '"summary"' || true)
say "client summary: ${summary:-none}"
lines=$(results)
total=$(grep -c . <<<"$lines" || true)
ids=$(grep -o '"task_id":"[^"]*"' <<<"$lines" | cut -d'"' -f4 | sort)
distinct=$(uniq <<<"$ids" | grep -c . || true)
duplicates=$(uniq -d <<<"$ids" | head -5 | tr '\n' ' ')
expected=$(seq 0 $((tasks - 1)) | sed 's/^/t/' | sort)
missing=$(comm -23 <(echo "$expected") <(uniq <<<"$ids") | head -5 | tr '\n' ' ')
succeeded=$(grep -c '"status":"succeeded"' <<<"$lines" || true)
[ -z "$duplicates" ] || fail "tasks with more than one result: $duplicates"
[ -z "$missing" ] || fail "tasks without a result: $missing"
[ "$total" = "$tasks" ] && [ "$distinct" = "$tasks" ] ||
    fail "$total results for $distinct distinct tasks, expected $tasks"
[ "$succeeded" = "$tasks" ] || fail "only $succeeded of $tasks tasks succeeded"
[ "$exit_code" = 0 ] || fail "the client exited with $exit_code"
failovers=$(grep -o '"failovers":[0-9]*' <<<"$summary" | cut -d: -f2)
[ "${failovers:-0}" -ge 1 ] ||
    fail "the client never failed over although both schedulers were restarted during the job"
say "every one of $tasks tasks ended with exactly one result, all succeeded; the client failed over $failovers time(s)"
