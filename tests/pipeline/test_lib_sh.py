"""scripts/lib.sh's helpers that every step uses: the result row and the
progress of a long command."""
import os
import subprocess
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bash(script, **env):
    return subprocess.run(["bash", "-c", f'. "{REPO}/scripts/lib.sh"\n{script}'], capture_output=True, text=True,
                          env=dict(os.environ, **env))


class LibSh(unittest.TestCase):
    def test_a_row_keeps_four_fields_whatever_its_note_holds(self):
        with tempfile.TemporaryDirectory() as d:
            p = bash(f'tsv_row {d}/t.tsv suite "a\tname" fail "line one\nline\ttwo"')
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(f"{d}/t.tsv") as f:
                self.assertEqual(f.read(), "suite\ta name\tfail\tline one line two\n")

    def test_progress_is_said_while_a_long_command_runs_and_its_status_kept(self):
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(f"{d}/stamps")
            with open(f"{d}/stamps/progress-demo", "w") as f:
                f.write("400\n")
            p = bash(f'with_progress demo {d}/log bash -c \'for i in 1 2 3; do echo "  CC  f$i.o"; sleep 1; done; exit 3\' || '
                     'echo "rc=$?"', BUILD=d, PROGRESS_SECONDS="1")
            self.assertIn("rc=3", p.stdout)
            self.assertRegex(p.stderr, r"demo: \d+ s, \d files compiled of about 400 \(the last demo\)")
            with open(f"{d}/log") as f:
                self.assertEqual(f.read().count("  CC "), 3)

    def test_a_quiet_command_is_still_said_to_run(self):
        with tempfile.TemporaryDirectory() as d:
            p = bash(f"with_progress quiet {d}/log sleep 2.5", BUILD=d, PROGRESS_SECONDS="1")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stderr, r"quiet: \d+ s, still running")

    def test_the_soak_flavor_builds_apart_from_the_main_kernel(self):
        main = bash('echo "$KOBJ|${KSNIPPETS[*]}"', BUILD="/b")
        soak = bash('echo "$KOBJ|${KSNIPPETS[*]}"', BUILD="/b", FLAVOR="soak")
        self.assertEqual(main.stdout.strip(), f"/b/kernel-obj|{REPO}/Kconfig.snippet")
        self.assertEqual(soak.stdout.strip(), f"/b/kernel-obj-soak|{REPO}/Kconfig.snippet {REPO}/Kconfig.soak")

    def test_each_base_has_its_tree_build_series_and_selftest_directory(self):
        show = 'echo "$KSRC|$BUILD|$PATCHES|$SELFTEST_DIR|$BASE_TAG|$DEBIAN_TARBALL|${MANIFEST#$REPO/}"'
        env = {k: v for k, v in os.environ.items() if k not in ("KSRC", "BUILD", "PATCHES", "BASE")}
        main = subprocess.run(["bash", "-c", f'. "{REPO}/scripts/lib.sh"\n{show}'], capture_output=True,
                              text=True, env=env)
        old = subprocess.run(["bash", "-c", f'. "{REPO}/scripts/lib.sh"\n{show}'], capture_output=True,
                             text=True, env=dict(env, BASE="6.1"))
        self.assertEqual(main.stdout.strip(), f"{REPO}/kernel|{REPO}/build|{REPO}/patches|tools/testing/selftests/mm|"
                         "debian-6.12-base|/usr/src/linux-source-6.12.tar.xz|tests/guest-tests")
        self.assertEqual(old.stdout.strip(), f"{REPO}/kernel-6.1|{REPO}/build/6.1|{REPO}/patches/6.1|"
                         "tools/testing/selftests/vm|debian-6.1-base|/usr/src/linux-source-6.1.tar.xz|"
                         "tests/guest-tests-6.1")

    def test_an_unknown_base_is_named(self):
        p = bash("echo reached", BASE="5.10")
        self.assertEqual(p.returncode, 2)
        self.assertNotIn("reached", p.stdout)
        self.assertIn("BASE=5.10: the bases are 6.12 (the default) and 6.1", p.stderr)

    def test_the_shared_selftests_go_to_selftests_vm_on_61_and_61s_own_nowhere_else(self):
        main = dict(l.split("\t") for l in bash("repo_kernel_paths", BASE="6.12").stdout.splitlines())
        old = dict(l.split("\t") for l in bash("repo_kernel_paths", BASE="6.1").stdout.splitlines())
        mm, vm = "tools/testing/selftests/mm/", "tools/testing/selftests/vm/"
        self.assertEqual(main[mm + "thp_vma.c"], mm + "thp_vma.c")
        self.assertFalse([p for p in main if p.startswith(vm)])
        self.assertEqual(old[mm + "thp_vma.c"], vm + "thp_vma.c")
        self.assertEqual(old[vm + "thp_settings.c"], vm + "thp_settings.c")

    def test_a_shared_source_is_carried_into_61_with_the_backport_rules_applied(self):
        with tempfile.TemporaryDirectory() as d:
            mm = "tools/testing/selftests/mm/madv_clr_hugepage.c"
            main = bash(f'repo_source {mm} {mm}', BASE="6.12", BUILD=d)
            old = bash(f'repo_source {mm} tools/testing/selftests/vm/madv_clr_hugepage.c', BASE="6.1", BUILD=d)
            other = bash(f'repo_source tools/testing/selftests/mm/thp_vma.c tools/testing/selftests/vm/thp_vma.c',
                         BASE="6.1", BUILD=d)
            self.assertEqual(main.stdout.strip(), f"{REPO}/{mm}")
            self.assertEqual(old.stdout.strip(), f"{d}/backport/madv_clr_hugepage.c")
            self.assertEqual(other.stdout.strip(), f"{REPO}/tools/testing/selftests/mm/thp_vma.c")
            with open(f"{d}/backport/madv_clr_hugepage.c") as f:
                self.assertIn("EXPECT_EQ(errno, EINVAL);", f.read())
