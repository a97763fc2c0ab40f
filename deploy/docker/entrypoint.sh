#!/bin/sh
# Container entrypoint: name this replica in logs and dead letters, then run `tailor ARGS...`.
# TAILOR_WORKER_ID defaults to the container's host name (unique per replica in compose and Kubernetes).
set -eu
: "${TAILOR_WORKER_ID:=$(hostname)}"
export TAILOR_WORKER_ID
exec tailor "$@"
