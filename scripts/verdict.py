#!/usr/bin/env python3
"""Turn a test run into results: the one judge of the pipeline's runs.

    scripts/verdict.py [--suite NAME] [--no-console] RUN-DIR LIST KNOWN-FAILURES RESULTS-TSV [NAME...]

Reads RUN-DIR/results/NAME.{out,rc} (from scripts/guest-run-tests) and
RUN-DIR/console.log. Per test: the TAP lines of its output when it prints
them (kselftest_harness, ksft_test_result), its exit status otherwise
(0 pass, 4 skip). A kernel splat between a test's start and end markers
fails that test even when it exited 0; a splat outside any test fails the
run (--no-console: a run on the host, no kernel log; the splat patterns
are scripts/splat-patterns'). Appends one row per result to RESULTS-TSV:
suite (--suite, default guest), name, status, note; tabs and newlines in
a field become spaces. Exit status 0 when nothing failed.
"""
import argparse
import os
import re
import sys

import splats
TAP = re.compile(r"^(not )?ok (\d+) ([^#]*?)\s*(#\s*(SKIP|XFAIL|TODO)\b\s*(.*))?$")
# uffd-unit-tests: "Testing <case>... done|skipped [reason: ...]|failed ...",
# or "ERROR: ..." when err() ended the whole program in that case
UFFD_CASE = re.compile(r"^Testing (.+?)\.\.\. (done|skipped|failed|ERROR)(.*)$")
# khugepaged: "Run test: <test>" then "<check>...... OK|Fail|Skip"
KHUGEPAGED_TEST = re.compile(r"^Run test: (.+)$")
KHUGEPAGED_CHECK = re.compile(r"^(.+?)\.{2,} ?(OK|Fail|Skip)\s*$")
# khugepaged's alloc_mapping() exit(1)s when its fixed-address mmap hint is not honoured
KHUGEPAGED_NO_VMA = re.compile(r"^(Failed to allocate VMA at \S+)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse_cases(name, out):
    """(case, status, note) from the first output format that matches."""
    lines = [ANSI.sub("", l).rstrip() for l in (out or "").splitlines()]
    cases = []
    for line in lines:
        m = TAP.match(line)
        if not m:
            continue
        case = f"{name}:{m.group(3).strip() or m.group(2)}"
        if m.group(5) == "SKIP":
            cases.append((case, "skip", m.group(6)))
        elif m.group(1):
            cases.append((case, "xfail" if m.group(5) == "XFAIL" else "fail", ""))
        else:
            cases.append((case, "pass", ""))
    if cases:
        return cases
    for line in lines:
        m = UFFD_CASE.match(line)
        if m:
            status = {"done": "pass", "skipped": "skip"}.get(m.group(2), "fail")
            cases.append((f"{name}:{m.group(1)}", status, m.group(3).strip()))
    if cases:
        return cases
    test = ""
    for line in lines:
        m = KHUGEPAGED_TEST.match(line)
        if m:
            test = m.group(1)
            continue
        m = KHUGEPAGED_NO_VMA.match(line)
        if m:
            cases.append((f"{name}:{test}: {m.group(1)}", "fail", ""))
            continue
        m = KHUGEPAGED_CHECK.match(line)
        if m:
            status = {"OK": "pass", "Skip": "skip"}[m.group(2)] if m.group(2) != "Fail" else "fail"
            cases.append((f"{name}:{test}: {m.group(1).strip()}" if test else f"{name}:{m.group(1).strip()}",
                          status, ""))
    return cases


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None


def load_list(path):
    tests = []
    for line in open(path):
        line = line.split("#", 1)[0].split()
        if line:
            tests.append(line[0])
    return tests


def load_known(path):
    """test -> (kind, case, reason)"""
    known = {}
    for line in open(path):
        if line.strip() and not line.startswith("#"):
            m = re.match(r'^(\S+)\s+(flaky|fails)\s+"([^"]+)"\s+(.*)$', line.strip())
            if not m:
                sys.exit(f"{path}: cannot read entry: {line.strip()}")
            known[m.group(1)] = (m.group(2), re.compile(f"{re.escape(m.group(1))}:{m.group(3)}"),
                                 m.group(4))
    return known


def splats_by_test(console, splat):
    """Map test name (or None for outside any test) to its splat lines."""
    found, current = {}, None
    for line in console.splitlines():
        m = re.search(r"lazyvm-test: (start|end) (\S+)", line)
        if m:
            current = m.group(2) if m.group(1) == "start" else None
            continue
        for hit in splats.splat_lines(line, splat):
            found.setdefault(current, []).append(hit)
    return found


def field(text):
    return re.sub(r"[\t\r\n]", " ", text)


def earlier_tries(name, tries, known, base):
    """Rows judging the failed tries before the last one."""
    kind, flaky_case, reason = known.get(name, ("", None, ""))
    for t in range(1, tries):
        failed = [c for c, s, _ in parse_cases(name, read(f"{base}.try{t}.out")) if s == "fail"]
        if kind == "flaky" and failed and all(flaky_case.fullmatch(c) for c in failed):
            yield (f"{name}:try {t}", "skip",
                   f"known flaky case failed, passed on a later try: {', '.join(failed)} ({reason})")
        else:
            yield (f"{name}:try {t}", "fail",
                   f"failed {', '.join(failed) or 'with no failed case reported'}; only "
                   f"{flaky_case.pattern if flaky_case else 'a listed flaky case'} may fail and be retried")


def results_of(name, out, rc_line, known, base=""):
    """Yield (case, status, note) for one test."""
    if rc_line is None:
        yield name, "fail", "did not finish (guest died or timed out)"
        return
    rc, tries = (int(x) for x in rc_line.split())
    yield from earlier_tries(name, tries, known, base)
    cases = parse_cases(name, out)
    if not cases:
        status = {0: "pass", 4: "skip"}.get(rc, "fail")
        cases.append((name, status, "" if rc in (0, 4) else f"exit status {rc}"))
    elif rc not in (0, 4) and not any(s == "fail" for _, s, _ in cases):
        cases.append((name, "fail", f"exit status {rc} with no failed case"))
    for case, status, note in cases:
        if status == "fail" and known.get(name, ("",))[0] == "fails" and known[name][1].fullmatch(case):
            status, note = "skip", f"known failure: {known[name][2]}"
        if status == "xfail":
            status = "pass"
        yield case, status, note


def main(argv=None):
    p = argparse.ArgumentParser(prog="scripts/verdict.py")
    p.add_argument("--suite", default="guest")
    p.add_argument("--no-console", action="store_true")
    p.add_argument("run_dir")
    p.add_argument("list_path")
    p.add_argument("known_path")
    p.add_argument("tsv")
    p.add_argument("only", nargs="*")
    a = p.parse_args(argv)
    suite, only = a.suite, set(a.only)
    known = load_known(a.known_path)
    console = read(os.path.join(a.run_dir, "console.log")) or ""
    found = splats_by_test(console, splats.matcher())
    rows = []
    for name in load_list(a.list_path):
        if only and name not in only:
            continue
        base = os.path.join(a.run_dir, "results", name)
        out, rc = read(base + ".out"), read(base + ".rc")
        rows.extend((suite, c, s, n) for c, s, n in results_of(name, out, rc, known, base))
        for line in found.pop(name, []):
            rows.append((suite, f"{name}:kernel", "fail", f"splat: {line}"))
    for test, lines in found.items():
        for line in lines:
            rows.append((suite, f"kernel:{test or 'outside tests'}", "fail", f"splat: {line}"))
    if not a.no_console and "reboot: Power down" not in console:
        rows.append((suite, f"{suite}:shutdown", "fail", "no clean power-off in the console log"))
    with open(a.tsv, "a") as f:
        for row in rows:
            f.write("\t".join(field(x) for x in row) + "\n")
    failed = [r for r in rows if r[2] == "fail"]
    for r in failed:
        print(f"FAIL {r[1]}: {r[3]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
