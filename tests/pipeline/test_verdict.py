"""scripts/verdict.py's judgement, each case against a made-up run."""
import os
import subprocess
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KNOWN = '''uffd-unit-tests  flaky  "events(-wp)? on anon"  flakes on vanilla too
'''
CLEAN = "[    1.0] lazyvm-test: start t try 1\n[    2.0] lazyvm-test: end t rc 0\n[    3.0] reboot: Power down\n"


def judge(outputs, console=CLEAN, names=("t",), suite=None):
    """Run the verdict on files {name: text}; return (exit, {case: status})."""
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(f"{d}/results")
        for fname, text in outputs.items():
            with open(f"{d}/results/{fname}", "w") as f:
                f.write(text)
        with open(f"{d}/console.log", "w") as f:
            f.write(console)
        with open(f"{d}/list", "w") as f:
            f.write("".join(f"{n} 60 {n}\n" for n in names))
        with open(f"{d}/known", "w") as f:
            f.write(KNOWN)
        rc = subprocess.run([f"{REPO}/scripts/verdict.py"] + (["--suite", suite] if suite else []) +
                            [d, f"{d}/list", f"{d}/known", f"{d}/out.tsv"],
                            stderr=subprocess.DEVNULL).returncode
        with open(f"{d}/out.tsv") as f:
            rows = [l.rstrip("\n").split("\t") for l in f]
        assert all(len(r) == 4 for r in rows), rows
        judge.suites = {r[0] for r in rows}
        judge.notes = {r[1]: r[3] for r in rows}
        return rc, {r[1]: r[2] for r in rows}


class Verdict(unittest.TestCase):
    def test_tap_pass_and_skip_counted_per_case(self):
        rc, r = judge({"t.out": "ok 1 a\nok 2 b # SKIP no foo\n", "t.rc": "0 1"})
        self.assertTrue(rc == 0 and r == {"t:a": "pass", "t:b": "skip"}, r)

    def test_tap_failure_fails_the_run(self):
        rc, r = judge({"t.out": "ok 1 a\nnot ok 2 b\n", "t.rc": "1 1"})
        self.assertTrue(rc == 1 and r["t:b"] == "fail", r)

    def test_exit_four_with_failed_checks_is_not_a_skip(self):
        out = "Run test: x\nCollapse... \x1b[32mOK\x1b[0m\nSwapout one page... \x1b[31mFail\x1b[0m\n"
        rc, r = judge({"t.out": out, "t.rc": "4 1"})
        self.assertTrue(rc == 1 and r["t:x: Swapout one page"] == "fail", r)

    def test_khugepaged_fixed_address_failure_is_a_case(self):
        out = "Run test: collapse_full (khugepaged:anon)\nFailed to allocate VMA at 0x40000000\n"
        rc, r = judge({"t.out": out, "t.rc": "1 1"})
        self.assertTrue(rc == 1 and r["t:collapse_full (khugepaged:anon): Failed to allocate VMA at 0x40000000"] == "fail", r)

    def test_nonzero_exit_without_failed_case_fails(self):
        rc, r = judge({"t.out": "ok 1 a\n", "t.rc": "139 1"})
        self.assertTrue(rc == 1 and r.get("t") == "fail", r)

    def test_test_that_never_finished_fails(self):
        rc, r = judge({"t.out": "ok 1 a\n"})
        self.assertTrue(rc == 1 and r.get("t") == "fail", r)

    def test_splat_inside_a_passing_test_fails_it(self):
        console = CLEAN.replace("[    2.0]", "[    1.5] WARNING: CPU: 0 PID: 1 at mm/x.c:1 f+0x0/0x0\n[    2.0]")
        rc, r = judge({"t.out": "ok 1 a\n", "t.rc": "0 1"}, console)
        self.assertTrue(rc == 1 and r["t:a"] == "pass" and r["t:kernel"] == "fail", r)

    def test_splat_outside_tests_fails_the_run(self):
        console = "[    0.5] BUG: sleeping function called from invalid context\n" + CLEAN
        rc, r = judge({"t.out": "ok 1 a\n", "t.rc": "0 1"}, console)
        self.assertTrue(rc == 1 and r["kernel:outside tests"] == "fail", r)

    def test_unclean_shutdown_fails(self):
        rc, r = judge({"t.out": "ok 1 a\n", "t.rc": "0 1"}, CLEAN.replace("reboot: Power down", ""))
        self.assertTrue(rc == 1 and r["guest:shutdown"] == "fail", r)

    def test_flaky_case_may_fail_once_and_is_listed(self):
        u = "uffd-unit-tests"
        rc, r = judge({f"{u}.try1.out": "Testing events-wp on anon... failed [reason: x]\n",
                       f"{u}.out": "Testing events-wp on anon... done\n", f"{u}.rc": "0 2"}, names=(u,))
        self.assertTrue(rc == 0 and r[f"{u}:try 1"] == "skip" and r[f"{u}:events-wp on anon"] == "pass", r)

    def test_flaky_case_ending_the_program_counts_as_that_case(self):
        u = "uffd-unit-tests"
        rc, r = judge({f"{u}.try1.out": "Testing events on anon... ERROR: UFFDIO_COPY error: -2\n",
                       f"{u}.try2.out": "Testing events-wp on anon... failed [reason: x]\n",
                       f"{u}.out": "Testing events on anon... done\n", f"{u}.rc": "0 3"}, names=(u,))
        self.assertTrue(rc == 0 and r[f"{u}:try 1"] == "skip" and r[f"{u}:try 2"] == "skip", r)

    def test_other_case_failing_before_a_retry_fails(self):
        u = "uffd-unit-tests"
        rc, r = judge({f"{u}.try1.out": "Testing minor on anon... failed\n",
                       f"{u}.out": "Testing minor on anon... done\n", f"{u}.rc": "0 2"}, names=(u,))
        self.assertTrue(rc == 1 and r[f"{u}:try 1"] == "fail", r)

    def test_suite_names_every_row(self):
        rc, r = judge({"t.out": "ok 1 a\n", "t.rc": "0 1"}, CLEAN.replace("reboot: Power down", ""), suite="host")
        self.assertEqual(judge.suites, {"host"})
        self.assertEqual(r.get("host:shutdown"), "fail")

    def test_tabs_and_newlines_in_a_note_stay_in_their_field(self):
        rc, r = judge({"t.out": "Testing a\tb... failed [reason: x\ty]\n", "t.rc": "1 1"})
        self.assertEqual(rc, 1)
        self.assertNotIn("\t", "".join(judge.notes))
