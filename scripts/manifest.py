#!/usr/bin/env python3
"""tests/guest-tests, the one list of the pipeline's selftests, read for the
scripts that build, run and check them.

    scripts/manifest.py [--manifest FILE] build [--host] [--ours]
        one line per selftest to compile: BINARY<TAB>SOURCES<TAB>LIBRARIES
        (--host: only those marked host=yes; --ours: only those built from
        this repo's sources, the ones the series adds)
    scripts/manifest.py [--manifest FILE] run [--host]
        one line per test to run: NAME<TAB>TIMEOUT<TAB>COMMAND [ARGS...],
        its requirements left out (--host: only those marked host=yes)
    scripts/manifest.py [--manifest FILE] boots [--known FILE] [NAME...]
        one line per guest boot: CPUS<TAB>SECONDS<TAB>NAMES (space-separated)
    scripts/manifest.py [--manifest FILE] guest [--known FILE] [NAME...]
        what scripts/guest-run-tests runs in one boot, one line per test:
        NAME<TAB>TIMEOUT<TAB>HUGEPAGES<TAB>TRIES<TAB>COMMAND [ARGS...]
        (TRIES: 4 for a test --known lists as flaky, 1 otherwise)

A line is NAME TIMEOUT [KEY=VALUE...] COMMAND [ARGS...]. The keys:
hugepages=N and cpus=N (what the test needs of the guest), host=yes (it
also runs on the host kernel, tests/host-selftests), with=A.c,B.c (more
sources than COMMAND.c), libs=uring,numa. A COMMAND of the form ./path is
the repo's own script and builds nothing; any other is a selftest built
from COMMAND.c, the with= sources and upstream's vm_util.c and
thp_settings.c. A source is this repo's copy where the repo has one (its
canonical source), the kernel tree's otherwise. --selftests names the
selftest directory of the base (tools/testing/selftests/mm, or .../vm on
6.1; default $SELFTEST_DIR, which scripts/lib.sh sets): the repo's copy is
looked for there first, then in the repo's tools/testing/selftests/mm/,
which both bases share.
"""
import argparse
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = "tools/testing/selftests/mm"
COMMON = ("vm_util.c", "thp_settings.c")
KEYS = {"hugepages": r"\d+", "cpus": r"[234]", "host": r"yes", "with": r"[\w.,-]+", "libs": r"[\w,+-]+"}
# Every boot has room for booting, and a test that may be retried four tries.
BOOT_SECONDS = 120
FLAKY_TRIES = 4


class ManifestError(Exception):
    pass


class Test:
    def __init__(self, path, lineno, words):
        where = f"{path}:{lineno}"
        if len(words) < 3:
            raise ManifestError(f"{where}: want NAME TIMEOUT [KEY=VALUE...] COMMAND, got '{' '.join(words)}'")
        self.name, timeout, rest = words[0], words[1], words[2:]
        if not timeout.isdigit() or int(timeout) == 0:
            raise ManifestError(f"{where}: {self.name}: timeout must be a positive number of seconds, got '{timeout}'")
        self.timeout = int(timeout)
        self.req = {}
        while rest and "=" in rest[0] and not rest[0].startswith("./"):
            key, _, value = rest.pop(0).partition("=")
            if key not in KEYS:
                raise ManifestError(f"{where}: {self.name}: unknown requirement '{key}' (known: {', '.join(KEYS)})")
            if not re.fullmatch(KEYS[key], value):
                raise ManifestError(f"{where}: {self.name}: {key}= does not take '{value}'")
            self.req[key] = value
        if not rest:
            raise ManifestError(f"{where}: {self.name}: no command")
        self.argv = rest

    @property
    def built(self):
        return not self.argv[0].startswith("./")

    @property
    def binary(self):
        return self.argv[0] if self.built else None

    @property
    def cpus(self):
        return int(self.req.get("cpus", 2))

    @property
    def hugepages(self):
        return int(self.req.get("hugepages", 0))

    @property
    def host(self):
        return self.req.get("host") == "yes"

    def sources(self, ksrc, selftests=OURS):
        own = [self.argv[0] + ".c"] + [s for s in self.req.get("with", "").split(",") if s]
        return [resolve(s, ksrc, selftests) for s in own + list(COMMON)]

    def libs(self):
        return [f"-l{lib}" for lib in self.req.get("libs", "").split(",") if lib]

    def ours(self, selftests=OURS):
        return self.built and repo_copy(self.argv[0] + ".c", selftests) is not None


def repo_copy(source, selftests):
    for d in dict.fromkeys((selftests, OURS)):
        mine = os.path.join(REPO, d, source)
        if os.path.exists(mine):
            return mine
    return None


def resolve(source, ksrc, selftests=OURS):
    return repo_copy(source, selftests) or os.path.join(ksrc, selftests, source)


def load(path):
    tests, seen = [], {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            t = Test(path, lineno, words)
            if t.name in seen:
                raise ManifestError(f"{path}:{lineno}: {t.name} is already named at line {seen[t.name]}")
            seen[t.name] = lineno
            tests.append(t)
    return tests


def flaky_names(known_path):
    if not known_path:
        return set()
    with open(known_path) as f:
        return {l.split()[0] for l in f if re.match(r"^\S+\s+flaky\s", l)}


def boots(tests, flaky, only=()):
    """[(cpus, seconds, [names])]: one guest boot per vCPU count asked for."""
    groups = {}
    for t in tests:
        if only and t.name not in only:
            continue
        seconds = t.timeout * (FLAKY_TRIES if t.name in flaky else 1)
        g = groups.setdefault(t.cpus, [BOOT_SECONDS, []])
        g[0] += seconds
        g[1].append(t.name)
    return [(c, s, n) for c, (s, n) in sorted(groups.items())]


def main(argv=None):
    p = argparse.ArgumentParser(prog="scripts/manifest.py", description="read tests/guest-tests")
    p.add_argument("--manifest", default=os.environ.get("MANIFEST", os.path.join(REPO, "tests", "guest-tests")))
    p.add_argument("--ksrc", default=os.environ.get("KSRC", os.path.join(REPO, "kernel")))
    p.add_argument("--selftests", default=os.environ.get("SELFTEST_DIR", OURS))
    sub = p.add_subparsers(dest="what", required=True)
    b = sub.add_parser("build")
    b.add_argument("--host", action="store_true")
    b.add_argument("--ours", action="store_true")
    r = sub.add_parser("run")
    r.add_argument("--host", action="store_true")
    for name in ("boots", "guest"):
        bo = sub.add_parser(name)
        bo.add_argument("--known")
        bo.add_argument("only", nargs="*")
    a = p.parse_args(argv)
    try:
        tests = load(a.manifest)
    except (ManifestError, OSError) as e:
        print(f"manifest: {e}", file=sys.stderr)
        return 2
    if a.what in ("boots", "guest"):
        names = {t.name for t in tests}
        for name in a.only:
            if name not in names:
                print(f"manifest: no test named '{name}' in {a.manifest}", file=sys.stderr)
                return 2
        flaky = flaky_names(a.known)
        if a.what == "guest":
            for t in tests:
                if not a.only or t.name in a.only:
                    tries = FLAKY_TRIES if t.name in flaky else 1
                    print(f"{t.name}\t{t.timeout}\t{t.hugepages}\t{tries}\t{' '.join(t.argv)}")
            return 0
        for cpus, seconds, these in boots(tests, flaky, set(a.only)):
            print(f"{cpus}\t{seconds}\t{' '.join(these)}")
        return 0
    if getattr(a, "host", False):
        tests = [t for t in tests if t.host]
    if a.what == "build":
        done = set()
        for t in tests:
            if t.built and t.binary not in done and (not a.ours or t.ours(a.selftests)):
                done.add(t.binary)
                print(f"{t.binary}\t{' '.join(t.sources(a.ksrc, a.selftests))}\t{' '.join(t.libs())}")
    else:
        for t in tests:
            print(f"{t.name}\t{t.timeout}\t{' '.join(t.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
