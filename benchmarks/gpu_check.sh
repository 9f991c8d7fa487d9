#!/usr/bin/env bash
# The prepared GPU check in one command, for the minutes a GPU machine is lent (docs/BENCHMARKS.md, "GPU"):
#
#     bash benchmarks/gpu_check.sh --data data --out gpu-check.json     # on the device machine
#     bash benchmarks/gpu_check.sh --quick --device cpu --skip bench    # the CPU mode the test suite runs
#
# Every argument goes to `python -m benchmarks.gpu_check` (run from the repository root, wherever this is
# called from, so relative paths such as --data data and --out name files there). The interpreter is
# $PYTHON, else python3. `timeout` holds it to GPU_CHECK_SECONDS (default 470 s: under the device tool's 8
# minutes a command, with room for the kill and the transfer back); SIGTERM makes gpu_check.py stop the
# section that runs and print the figures so far, and a hard kill 5 s later is still reported. The last
# line of stdout is always one JSON object with a "status" (ok, failed, timed_out, killed, error); the
# exit status is gpu_check.py's (0: every section ran), 124 after the time limit.
set -u
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python3}
LIMIT=${GPU_CHECK_SECONDS:-470}

out=gpu-check.json  # where gpu_check.py writes (its --out), for the report after a hard kill
prev=
for arg in "$@"; do
    [ "$prev" = "--out" ] && out=$arg
    case "$arg" in --out=*) out=${arg#--out=} ;; esac
    prev=$arg
done

log=$(mktemp "${TMPDIR:-/tmp}/gpu-check.XXXXXX") || exit 2
trap 'rm -f "$log"' EXIT
start=$(date +%s)
# Into a file, shown as it grows: a straggling worker that keeps the output open cannot hold this script
# the way it would hold a pipe (tee waits for every writer).
timeout --kill-after=5 "$LIMIT" "$PY" -u -m benchmarks.gpu_check "$@" > "$log" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' INT TERM  # timeout passes it on: gpu_check.py prints its summary
tail -n +1 -f --pid="$pid" "$log"
wait "$pid"
rc=$?

last=$(tail -n 1 "$log")
case "$last" in
    '{"status"'*'}') exit "$rc" ;;  # gpu_check.py ended with its summary line
esac
# It ended without one (killed after SIGTERM, bad arguments, an interpreter that does not start): one JSON
# line all the same, with the figures it wrote to --out during this run, if any.
"$PY" - "$out" "$rc" "$start" "$LIMIT" <<'PYEOF' 2>/dev/null ||
import json, os, sys
path, rc, start, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
try:
    figures = json.load(open(path)) if os.path.getmtime(path) >= start else {}  # not an older run's file
except (OSError, ValueError):
    figures = {}
killed = rc in (124, 137)
why = f"was killed at the time limit ({limit} s)" if killed else f"ended with exit status {rc}"
print(json.dumps({**figures, "status": "killed" if killed else "error", "exit_code": rc,
                  "out": path if figures else None,
                  "message": f"gpu_check.py {why} before its summary line; the output above says more"}))
PYEOF
printf '{"status": "error", "exit_code": %d, "message": "%s could not run gpu_check.py"}\n' "$rc" "$PY"
exit "$rc"
