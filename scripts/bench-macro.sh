#!/usr/bin/env bash
# Macro benchmarks of the chaos layer on loopback (127.0.0.1 only): builds bench-harness in
# release mode and runs every scenario once, printing markdown tables (see BENCHMARKS.md).
# Bounded: about 1 minute of measuring after the build; the servers it starts stop with it.
#
#   scripts/bench-macro.sh            # full run
#   scripts/bench-macro.sh --quick    # shorter A/B rounds
#   scripts/bench-macro.sh --held 2000 --rounds 4 --secs 2 --conns 32 --workers 1
set -euo pipefail
cd "$(dirname "$0")/.."

# 10,000 held requests need 10,000 sockets in the load generator and in the server (each
# its own process). Raise the soft open-files limit as far as the hard limit allows; the
# harness holds fewer requests (and says so) if it is still too low.
want=12000
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge "$want" ]; then
    ulimit -n "$want"
else
    ulimit -n "$hard"
fi
echo "open files limit: $(ulimit -n)"

cargo build --release -q -p bench-harness
exe="${CARGO_TARGET_DIR:-target}/release/bench-harness"

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
timeout 300 "$exe" run "$@"
