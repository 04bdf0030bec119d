#!/usr/bin/env python3
"""Whether a `lazyrestore run --json` report's first row failed for the right reason.

    tests/lazyrestore/json_error.py REPORT.json REGEX
Exit 0 when the row's "error" matches REGEX (re.search), 1 when it does
not or the row has none (its error, if any, printed), 2 when the report
cannot be read.
"""
import json
import re
import sys


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    try:
        with open(argv[1]) as f:
            row = json.load(f)[0]
    except (OSError, ValueError, IndexError, KeyError) as e:
        print(f"{argv[1]}: not a lazyrestore --json report: {e}", file=sys.stderr)
        return 2
    error = row.get("error") or ""
    if re.search(argv[2], error):
        return 0
    print(f"error: {error!r}" if error else "the row has no error", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
