#!/usr/bin/env bash
# Re-records the conformance suite's expected outcomes from the real Chaos Toolkit
# (chaostoolkit 1.19.0, chaostoolkit-lib 1.44.0, jsonpath2 0.4.5), installed in a venv:
#   bash scripts/record-conformance.sh [VENV [CASE...]]   # default VENV: /tmp/ctk (created if
#                                                          # missing); default: every case
# Each case folder holds experiment.json (or experiment.yaml) and case.json ({"args": [...], "env": {...},
# "files": {name: content}}); this writes recorded.json beside them. The test
# `cargo test -p chaos-admin-cli --test conformance` checks chaos-admin against them.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-/tmp/ctk}"
shift || true
if [ ! -x "$venv/bin/chaos" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q chaostoolkit==1.19.0 chaostoolkit-lib==1.44.0 jsonpath2==0.4.5
fi
cases=chaos-admin-cli/tests/conformance/cases
summarize="$PWD/chaos-admin-cli/tests/conformance/summarize.py"
if [ "$#" -gt 0 ]; then
    dirs=()
    for name in "$@"; do dirs+=("$cases/$name/"); done
else
    dirs=("$cases"/*/)
fi
for dir in "${dirs[@]}"; do
    name=$(basename "$dir")
    work=$(mktemp -d)
    experiment=experiment.json
    [ -f "$dir/experiment.yaml" ] && experiment=experiment.yaml
    cp "$dir/$experiment" "$work/"
    # Files the case needs in the working directory, its arguments and environment.
    args=$(python3 - "$dir/case.json" "$work" <<'PY'
import json, os, shlex, sys
case = json.load(open(sys.argv[1]))
for name, content in case.get("files", {}).items():
    with open(os.path.join(sys.argv[2], name), "w") as f:
        f.write(content)
env = " ".join(f"{k}={shlex.quote(v)}" for k, v in case.get("env", {}).items())
print(env + " |" + " ".join(shlex.quote(a) for a in case.get("args", [])))
PY
)
    env_part=${args%%|*}
    arg_part=${args#*|}
    set +e
    (cd "$work" && eval "env $env_part $venv/bin/chaos --no-log-file run --journal-path journal.json $arg_part $experiment" >/dev/null 2>&1)
    code=$?
    set -e
    python3 "$summarize" "$code" "$work/journal.json" > "$dir/recorded.json"
    echo "$name: exit $code"
    rm -rf "$work"
done
