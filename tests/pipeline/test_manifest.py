"""scripts/manifest.py: tests/guest-tests read for the build, the host
run, the series check and the guest boots."""
import os
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import manifest  # noqa: E402

EXAMPLE = """# a comment
ours        600  host=yes with=thp_vma.c ours
up          120  hugepages=16 libs=uring up -d 20
three       300  cpus=3 libs=numa up3
script      60   ./tests/a/script
"""


def run(text, *args, ksrc="/k"):
    with tempfile.NamedTemporaryFile("w") as f:
        f.write(text)
        f.flush()
        p = subprocess.run([f"{REPO}/scripts/manifest.py", "--manifest", f.name, "--ksrc", ksrc, *args],
                           capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr.replace(f.name, "M")


class Reading(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def load(self, text):
        path = os.path.join(self.dir.name, "m")
        with open(path, "w") as f:
            f.write(text)
        return manifest.load(path)

    def test_fields_and_requirements(self):
        t = {x.name: x for x in self.load(EXAMPLE)}
        self.assertEqual(sorted(t), ["ours", "script", "three", "up"])
        self.assertEqual((t["up"].timeout, t["up"].argv, t["up"].req["hugepages"]), (120, ["up", "-d", "20"], "16"))
        self.assertTrue(t["ours"].host)
        self.assertFalse(t["up"].host)
        self.assertEqual((t["three"].cpus, t["up"].cpus), (3, 2))
        self.assertFalse(t["script"].built)
        self.assertEqual(t["up"].libs(), ["-luring"])

    def test_bad_lines_are_named(self):
        for line, want in [("a 0 a", "timeout must be a positive number"),
                           ("a x a", "timeout must be a positive number"),
                           ("a 10 cpu=3 a", "unknown requirement 'cpu'"),
                           ("a 10 cpus=9 a", "cpus= does not take '9'"),
                           ("a 10 hugepages=16", "no command"),
                           ("a 10", "want NAME TIMEOUT"),
                           ("a 10 a\na 20 a", "a is already named at line 1")]:
            with self.assertRaises(manifest.ManifestError) as e:
                self.load(line + "\n")
            self.assertIn(want, str(e.exception))

    def test_a_source_the_repo_has_is_the_repos(self):
        t = self.load("madv_clr_hugepage 60 with=thp_vma.c,uffd-common.c madv_clr_hugepage\n")[0]
        ours = os.path.join(REPO, manifest.OURS)
        self.assertEqual(t.sources("/k"), [f"{ours}/madv_clr_hugepage.c", f"{ours}/thp_vma.c",
                                           f"/k/{manifest.OURS}/uffd-common.c", f"/k/{manifest.OURS}/vm_util.c",
                                           f"/k/{manifest.OURS}/thp_settings.c"])
        self.assertTrue(t.ours())
        self.assertFalse(self.load("cow 60 cow\n")[0].ours())

    def test_a_61_source_is_61s_own_then_the_shared_one_then_the_trees(self):
        t = self.load("madv_clr_hugepage 60 with=thp_vma.c,uffd-common.c madv_clr_hugepage\n")[0]
        vm = "tools/testing/selftests/vm"
        ours, ours61 = os.path.join(REPO, manifest.OURS), os.path.join(REPO, vm)
        self.assertEqual(t.sources("/k", vm), [f"{ours}/madv_clr_hugepage.c", f"{ours}/thp_vma.c",
                                               f"{ours61}/uffd-common.c", f"/k/{vm}/vm_util.c",
                                               f"{ours61}/thp_settings.c"])
        self.assertTrue(t.ours(vm))
        self.assertFalse(self.load("khugepaged 60 khugepaged\n")[0].ours(vm))

    def test_boots_group_by_cpus_and_count_flaky_tries(self):
        tests = self.load(EXAMPLE)
        self.assertEqual(manifest.boots(tests, {"up"}),
                         [(2, 120 + 600 + 4 * 120 + 60, ["ours", "up", "script"]), (3, 120 + 300, ["three"])])
        self.assertEqual(manifest.boots(tests, set(), {"three"}), [(3, 420, ["three"])])


class Cli(unittest.TestCase):
    def test_build_lists_each_binary_once_with_its_libraries(self):
        rc, out, _ = run(EXAMPLE + "again 60 up -d 1\n", "build")
        self.assertEqual(rc, 0)
        rows = [l.split("\t") for l in out.splitlines()]
        self.assertEqual([r[0] for r in rows], ["ours", "up", "up3"])
        self.assertEqual(rows[1][2], "-luring")
        self.assertTrue(rows[1][1].startswith(f"/k/{manifest.OURS}/up.c "))

    def test_the_guest_gets_each_test_with_its_pool_and_tries_and_nothing_to_parse(self):
        with tempfile.NamedTemporaryFile("w") as known:
            known.write('up  flaky  "case"  a race\n')
            known.flush()
            rc, out, _ = run(EXAMPLE, "guest", "--known", known.name, "up", "script")
        self.assertEqual(rc, 0)
        self.assertEqual(out.splitlines(), ["up\t120\t16\t4\tup -d 20", "script\t60\t0\t1\t./tests/a/script"])

    def test_run_lists_commands_without_requirements(self):
        rc, out, _ = run(EXAMPLE, "run")
        self.assertEqual((rc, out.splitlines()[1]), (0, "up\t120\tup -d 20"))
        rc, out, _ = run(EXAMPLE, "run", "--host")
        self.assertEqual((rc, out), (0, "ours\t600\tours\n"))

    def test_unknown_test_in_boots_is_an_error(self):
        rc, _, err = run(EXAMPLE, "boots", "nosuch")
        self.assertEqual((rc, err.strip()), (2, "manifest: no test named 'nosuch' in M"))

    def test_a_bad_manifest_exits_2_naming_the_line(self):
        rc, _, err = run("a 10 bogus=1 a\n", "build")
        self.assertEqual((rc, err.strip()), (2, "manifest: M:1: a: unknown requirement 'bogus' "
                                                "(known: hugepages, cpus, host, with, libs)"))


class TheManifest(unittest.TestCase):
    """tests/guest-tests itself."""
    tests = manifest.load(os.path.join(REPO, "tests", "guest-tests"))

    def test_the_series_selftests_are_ours_and_run_on_the_host(self):
        self.assertEqual([t.name for t in self.tests if t.ours()],
                         ["madv_clr_hugepage", "madv_clr_hugepage_stress", "thp_disable_prctl"])
        self.assertEqual([t.name for t in self.tests if t.host],
                         ["madv_clr_hugepage", "madv_clr_hugepage_stress", "thp_disable_prctl"])

    def test_the_61_manifest_runs_the_series_selftests_in_the_guest_only(self):
        tests = manifest.load(os.path.join(REPO, "tests", "guest-tests-6.1"))
        vm = "tools/testing/selftests/vm"
        self.assertEqual([t.name for t in tests if t.ours(vm)],
                         ["madv_clr_hugepage", "madv_clr_hugepage_stress", "thp_disable_prctl"])
        self.assertEqual([t.name for t in tests if t.host], [])

    def test_every_repo_script_exists(self):
        for t in self.tests:
            if not t.built:
                self.assertTrue(os.access(os.path.join(REPO, t.argv[0]), os.X_OK), t.argv[0])
