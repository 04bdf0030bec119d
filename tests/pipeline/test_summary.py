"""scripts/summary.py: the table and the last line the CI reads."""
import os
import subprocess
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def summary(*tables):
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i, text in enumerate(tables):
            if text is None:
                paths.append(f"{d}/missing{i}.tsv")
                continue
            paths.append(f"{d}/{i}.tsv")
            with open(paths[-1], "w") as f:
                f.write(text)
        p = subprocess.run([f"{REPO}/scripts/summary.py", *paths], capture_output=True, text=True)
        return p.returncode, p.stdout.splitlines()


class Summary(unittest.TestCase):
    def test_last_line_counts_every_row(self):
        rc, out = summary("a\tx\tpass\t\na\ty\tskip\twhy\n", "b\tz\tpass\t\n")
        self.assertEqual((rc, out[-1]), (0, "2 passed, 0 failed, 1 skipped"))
        self.assertIn("  a  y: why", out)

    def test_a_failure_is_listed_and_fails(self):
        rc, out = summary("a\tx\tfail\tbroke\n")
        self.assertEqual((rc, out[-1]), (1, "0 passed, 1 failed, 0 skipped"))
        self.assertIn("  a  x: broke", out)

    def test_a_missing_table_is_a_failure(self):
        rc, out = summary("a\tx\tpass\t\n", None)
        self.assertEqual(rc, 1)
        self.assertEqual(out[-1], "1 passed, 1 failed, 0 skipped")

    def test_no_rows_at_all_fails(self):
        rc, out = summary("")
        self.assertEqual((rc, out[-1]), (1, "0 passed, 0 failed, 0 skipped"))
