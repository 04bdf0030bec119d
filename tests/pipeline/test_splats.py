"""scripts/splat-patterns: every kind of splat it lists is caught by what
scripts/vm runs after a boot (scripts/splats.py) and by the verdict."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import splats  # noqa: E402

# A clean boot and test, as scripts/vm's guest logs them.
CLEAN = """[    0.000000] Linux version 6.12.118 (root@host) #1 SMP PREEMPT_DYNAMIC
[    0.512000] NUMA: Node 0 [mem 0x00000000-0x3fffffff]
[    1.900000] lazyvm: running: /work/main/scripts/guest-run-tests
[    2.000000] lazyvm-test: start t try 1
[    2.100000] madv_clr (412): drop_caches: 3
[    3.000000] lazyvm-test: end t rc 0
[    3.100000] lazyvm: command exited with status 0
[    3.200000] reboot: Power down
"""


def console_with(line):
    return CLEAN.replace("[    3.000000] lazyvm-test: end", line + "\n[    3.000000] lazyvm-test: end")


class Patterns(unittest.TestCase):
    entries = splats.load()

    def test_the_file_lists_the_kinds(self):
        self.assertGreaterEqual(len(self.entries), 20)

    def test_each_pattern_catches_its_own_example(self):
        for pattern, example in self.entries:
            self.assertRegex(example, pattern)

    def test_a_clean_console_has_no_splat(self):
        self.assertEqual(splats.splat_lines(CLEAN), [])

    def test_the_pipeline_markers_are_never_a_splat(self):
        self.assertEqual(splats.splat_lines("[ 1.0] lazyvm-test: start BUG:-test try 1\n"), [])

    def test_the_guest_runs_check_catches_each_kind(self):
        with tempfile.TemporaryDirectory() as d:
            for _, example in self.entries:
                with open(f"{d}/console.log", "w") as f:
                    f.write(console_with(example))
                p = subprocess.run([f"{REPO}/scripts/splats.py", f"{d}/console.log"],
                                   capture_output=True, text=True)
                self.assertEqual((p.returncode, p.stdout.strip()), (0, example.strip()))
            with open(f"{d}/console.log", "w") as f:
                f.write(CLEAN)
            self.assertEqual(subprocess.run([f"{REPO}/scripts/splats.py", f"{d}/console.log"]).returncode, 1)

    def test_the_verdict_fails_a_passing_test_for_each_kind(self):
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(f"{d}/results")
            with open(f"{d}/results/t.out", "w") as f:
                f.write("ok 1 a\n")
            with open(f"{d}/results/t.rc", "w") as f:
                f.write("0 1\n")
            with open(f"{d}/list", "w") as f:
                f.write("t 60 t\n")
            for _, example in self.entries:
                with open(f"{d}/console.log", "w") as f:
                    f.write(console_with(example))
                tsv = f"{d}/out-{len(os.listdir(d))}.tsv"
                rc = subprocess.run([f"{REPO}/scripts/verdict.py", d, f"{d}/list", "/dev/null", tsv],
                                    stderr=subprocess.DEVNULL).returncode
                with open(tsv) as f:
                    rows = [l.rstrip("\n").split("\t") for l in f]
                self.assertEqual(rc, 1, example)
                self.assertIn(["guest", "t:kernel", "fail", f"splat: {example.strip()}"], rows)

    def test_a_malformed_patterns_file_is_named(self):
        with tempfile.NamedTemporaryFile("w", suffix=".patterns") as f:
            f.write("BUG: without an example\n")
            f.flush()
            with self.assertRaises(SystemExit) as e:
                splats.load(f.name)
            self.assertIn(f"{f.name}:1: want PATTERN<TAB>EXAMPLE", str(e.exception))

    def test_an_unreadable_log_is_an_error_not_a_clean_log(self):
        p = subprocess.run([f"{REPO}/scripts/splats.py", "/nonexistent/console.log"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("cannot read /nonexistent/console.log", p.stderr)


class Drift(unittest.TestCase):
    def test_no_other_script_carries_its_own_patterns(self):
        hits = []
        for root in ("scripts", "tests"):
            for dirpath, _, files in os.walk(os.path.join(REPO, root)):
                for name in files:
                    path = os.path.join(dirpath, name)
                    if path.endswith(("splat-patterns", "test_splats.py")):
                        continue
                    try:
                        with open(path, errors="replace") as f:
                            text = f.read()
                    except OSError:
                        continue
                    if re.search(r"general protection fault|inconsistent lock state", text):
                        hits.append(os.path.relpath(path, REPO))
        self.assertEqual(hits, [])
