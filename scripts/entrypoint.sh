#!/bin/sh
# The container's entrypoint: `entrypoint.sh NAME` runs the Procfile's command for NAME
# (gateway, auth, user, mood, hug, notification, social, worker, relay), so the image, compose and
# k8s never carry a copy of a command that could drift from the Procfile. `entrypoint.sh migrate
# [service ...]` applies the database migrations (python -m shared.migrate upgrade).
set -eu

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
PROCFILE="$ROOT/Procfile"
EX_USAGE=64

names() {
    sed -n 's/^\([A-Za-z0-9_-]*\):.*/\1/p' "$PROCFILE" | paste -sd ' ' -
}

usage() {
    echo "usage: $0 NAME" >&2
    echo "  NAME: one of the Procfile's processes ($(names)) or migrate [service ...]" >&2
    exit "$EX_USAGE"
}

[ "$#" -ge 1 ] || usage
name=$1
shift
cd "$ROOT"

if [ "$name" = migrate ]; then
    exec python -m shared.migrate upgrade "$@"
fi

[ "$#" -eq 0 ] || usage
case "$name" in
    '' | *[!A-Za-z0-9_-]*) usage ;;
esac
command=$(sed -n "s/^$name:[[:space:]]*//p" "$PROCFILE")
[ -n "$command" ] || usage
# The Procfile's ${VAR:-default} expansions happen here, in the same shell syntax `make run` uses; the
# inner exec makes the process itself PID 1, so it gets SIGTERM directly from docker or the kubelet.
exec sh -c "exec $command"
