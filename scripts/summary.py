#!/usr/bin/env python3
"""Print the results of a run: failures and skips with their reasons, a
count per suite, and last the line 'N passed, N failed, N skipped'.

    scripts/summary.py RESULTS-TSV...
Exit status 1 when anything failed, or when no result was recorded.
"""
import collections
import sys

rows = []
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            rows += [(l.rstrip("\n").split("\t", 3) + ["", "", ""])[:4] for l in f if l.strip()]
    except FileNotFoundError:
        rows.append(["run", path, "fail", "no results file (the step did not run)"])

per_suite = collections.defaultdict(collections.Counter)
for suite, name, status, note in rows:
    per_suite[suite][status] += 1
skips = [r for r in rows if r[2] == "skip"]
fails = [r for r in rows if r[2] == "fail"]
if skips:
    print("\nskipped, with the reason:")
    for suite, name, _, note in skips:
        print(f"  {suite}  {name}: {note or 'no reason given'}")
if fails:
    print("\nFAILED:")
    for suite, name, _, note in fails:
        print(f"  {suite}  {name}: {note}")
print()
for suite, c in per_suite.items():
    print(f"  {suite:8} {c['pass']:4} passed {c['fail']:4} failed {c['skip']:4} skipped")
total = collections.Counter(r[2] for r in rows)
print(f"{total['pass']} passed, {total['fail']} failed, {total['skip']} skipped")
sys.exit(1 if fails or not rows else 0)
