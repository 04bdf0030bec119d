#!/usr/bin/env python3
"""The kernel problems in a console log, by the patterns of scripts/splat-patterns.

    scripts/splats.py CONSOLE-LOG
Prints the lines that report one; exit 0 when there are any, 1 when the log
is clean, 2 when it cannot be read. scripts/vm runs it after every boot and
scripts/verdict.py imports it: one list of patterns for both.
"""
import os
import re
import sys

PATTERNS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "splat-patterns")
# The pipeline's own markers (lazyvm: ..., lazyvm-test: ...) quote test
# names and commands, never a kernel report.
OURS = "lazyvm"


def load(path=PATTERNS):
    """[(pattern, example)] of the patterns file."""
    entries = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            pattern, tab, example = line.partition("\t")
            if not tab or not example.strip():
                sys.exit(f"{path}:{lineno}: want PATTERN<TAB>EXAMPLE, got '{line}'")
            try:
                re.compile(pattern)
            except re.error as e:
                sys.exit(f"{path}:{lineno}: bad pattern '{pattern}': {e}")
            entries.append((pattern, example))
    return entries


def matcher(path=PATTERNS):
    return re.compile("|".join(f"(?:{p})" for p in dict.fromkeys(p for p, _ in load(path))))


def splat_lines(text, splat=None):
    splat = splat or matcher()
    return [l.strip() for l in text.splitlines() if splat.search(l) and OURS not in l]


def main(argv):
    if len(argv) != 1:
        print("usage: scripts/splats.py CONSOLE-LOG", file=sys.stderr)
        return 2
    try:
        with open(argv[0], errors="replace") as f:
            text = f.read()
    except OSError as e:
        print(f"splats.py: cannot read {argv[0]}: {e.strerror}", file=sys.stderr)
        return 2
    found = splat_lines(text)
    for line in found:
        print(line)
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
