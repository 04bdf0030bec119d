#!/usr/bin/env python3
"""The pipeline's own Python tests (tests/pipeline/test_*.py), one result
row per test case: no kernel, no guest.

    tests/pipeline/run.py RESULTS-TSV
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class Rows(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.rows = []

    def row(self, test, status, note=""):
        module, cls, name = test.id().split(".")[-3:]
        label = f"{module[len('test_'):]}: {name[len('test_'):].replace('_', ' ')}"
        self.rows.append((label, status, " ".join(note.split())[-400:]))
        print(f"pipeline: {status} {label}", file=sys.stderr)

    def addSuccess(self, test):
        self.row(test, "pass")

    def addFailure(self, test, err):
        self.row(test, "fail", f"{err[0].__name__}: {(str(err[1]).splitlines() or [''])[0]}")

    addError = addFailure

    def addSkip(self, test, reason):
        self.row(test, "skip", reason)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tests/pipeline/run.py RESULTS-TSV")
    sys.path.insert(0, HERE)
    suite = unittest.defaultTestLoader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    result = Rows()
    suite.run(result)
    with open(sys.argv[1], "a") as f:
        for label, status, note in result.rows:
            f.write(f"pipeline\t{label}\t{status}\t{note}\n")
    if not result.rows:
        sys.exit("tests/pipeline: no test found")
    return 1 if any(s == "fail" for _, s, _ in result.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
