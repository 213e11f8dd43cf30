#!/usr/bin/env bash
# Instructions per request of the chaos layer, counted by callgrind (deterministic: the
# same binary and inputs give the same count, whatever else the machine does).
#
# For each server mode of `bench-harness serve` (a hello-world axum server, one tokio
# worker thread, loopback): start it under callgrind, send 500 keep-alive GETs to warm it
# up, zero the counters, send 5,000 more on the same connection, dump, and divide the
# instructions of the busiest thread (the tokio worker that runs the requests) by 5,000.
#
# Usage: scripts/bench-instructions.sh [MODE...]   (default: every mode below)
# Needs valgrind (callgrind_control comes with it); builds bench-harness in release.
set -euo pipefail
cd "$(dirname "$0")/.."

MODES=("$@")
if [ ${#MODES[@]} -eq 0 ]; then
  MODES=(bare noop empty idle user_miss return guard router_empty router_idle)
fi
REQUESTS=${REQUESTS:-5000}
WARMUP=${WARMUP:-500}

command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install -y valgrind)" >&2; exit 2; }
cargo build --release -q -p bench-harness
BIN=target/release/bench-harness
WORK=$(mktemp -d)
# KEEP=1 keeps the callgrind files (for callgrind_annotate) and prints where they are.
if [ "${KEEP:-0}" = 1 ]; then
  echo "callgrind files in $WORK" >&2
else
  trap 'rm -rf "$WORK"' EXIT
fi

per_request() { # mode -> instructions per request
  local mode=$1 fifo="$WORK/$1.in" out="$WORK/$1.out"
  mkfifo "$fifo"
  valgrind --tool=callgrind --separate-threads=yes --dump-instr=no \
    --callgrind-out-file="$WORK/cg.$mode.%p" \
    "$BIN" serve --mode "$mode" --workers 1 <"$fifo" >"$out" 2>"$WORK/$mode.err" &
  local vg=$!
  exec 9>"$fifo" # keeps the server's stdin open; closing it stops the server
  local port="" i
  for i in $(seq 1 600); do
    port=$(sed -n 's/^LISTENING //p' "$out" 2>/dev/null || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "$mode: the server did not start" >&2; cat "$WORK/$mode.err" >&2; exit 1; }
  local path=/hello
  "$BIN" drive --port "$port" --path "$path" --requests "$WARMUP" >/dev/null
  callgrind_control -z "$vg" >/dev/null 2>&1
  "$BIN" drive --port "$port" --path "$path" --requests "$REQUESTS" >/dev/null
  callgrind_control -d "$vg" >/dev/null 2>&1
  exec 9>&-
  wait "$vg" || true
  # The dump after zeroing is part 1; one file per thread. The busiest is the worker.
  local most=0 f total
  for f in "$WORK"/cg."$mode".*.1-*; do
    total=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$f" | head -1)
    [ -n "$total" ] && [ "$total" -gt "$most" ] && most=$total
  done
  echo $((most / REQUESTS))
}

printf '%-10s %14s %8s\n' mode 'instr/request' '× bare'
bare=""
for mode in "${MODES[@]}"; do
  n=$(per_request "$mode")
  [ -z "$bare" ] && bare=$n
  ratio=$(awk -v a="$n" -v b="$bare" 'BEGIN { printf "%.3f", a / b }')
  printf '%-10s %14s %8s\n' "$mode" "$n" "$ratio"
done
