#!/usr/bin/env python3
"""Prints the conformance summary of one run: the exit code and, when a journal was
written, its status, deviation, hypothesis results and activity statuses. The Rust test
(`chaos-admin-cli/tests/conformance.rs`) computes the same summary from chaos-admin's run.

Usage: summarize.py EXIT_CODE JOURNAL_PATH
"""
import json
import os
import sys


def state(entry):
    if entry is None:
        return None
    return {
        "met": entry.get("steady_state_met"),
        "probes": [p.get("tolerance_met") for p in entry.get("probes", [])],
    }


def activities(entries):
    # A crashed activity has no status.
    return [[e["activity"].get("name"), e.get("status")] for e in entries]


def main():
    exit_code, path = int(sys.argv[1]), sys.argv[2]
    summary = {"exit": exit_code, "journal": os.path.exists(path)}
    if summary["journal"]:
        with open(path) as f:
            journal = json.load(f)
        states = journal.get("steady_states") or {}
        summary.update({
            "status": journal["status"],
            "deviated": journal["deviated"],
            "before": state(states.get("before")),
            "after": state(states.get("after")),
            "run": activities(journal.get("run", [])),
            "rollbacks": activities(journal.get("rollbacks", [])),
        })
    json.dump(summary, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


main()
