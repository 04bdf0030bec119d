"""scripts/series.py: the text work of scripts/export and check-series."""
import os
import sys
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import series  # noqa: E402

PATCH = """From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: Old <old@example>
Date: Sun, 22 Nov 2026 00:00:00 +0000
Subject: [RFC PATCH v2 2/5] mm: a subject long enough to be
 folded

Body.

Signed-off-by: Old <old@example>
---
 tools/x.c | 2 ++
 1 file changed, 2 insertions(+)

diff --git a/tools/x.c b/tools/x.c
new file mode 100644
index 0000000..1111111
--- /dev/null
+++ b/tools/x.c
@@ -0,0 +1,2 @@
+int a;
+-- not a signature, a line of the file
-- 
2.39.5
"""


class Series(unittest.TestCase):
    def test_identity_replaced_in_from_and_sign_off(self):
        text = series.set_ident("Old <old@example>", "New <n@example>", PATCH)
        self.assertIn("\nFrom: New <n@example>\n", text)
        self.assertIn("\nSigned-off-by: New <n@example>\n", text)
        self.assertNotIn("Old <old@example>", text)

    def test_notes_go_below_the_dashes_of_the_named_patch(self):
        notes = series.parse_notes("# comment\n[mm: a subject long enough to be folded]\nWhy: x.\n")
        text, changed = series.add_notes(notes, PATCH)
        self.assertTrue(changed)
        self.assertIn("\n---\nWhy: x.\n\n tools/x.c", text)
        self.assertEqual(notes, {})

    def test_notes_for_another_subject_change_nothing(self):
        notes = series.parse_notes("[mm: another]\nx\n")
        self.assertEqual(series.add_notes(notes, PATCH), (PATCH, False))
        self.assertIn("mm: another", notes)

    def test_added_file_is_the_plus_lines_up_to_the_signature(self):
        self.assertEqual(series.added_file(PATCH, "tools/x.c"), "int a;\n-- not a signature, a line of the file\n")
        self.assertIsNone(series.added_file(PATCH, "tools/y.c"))

    def test_sync_problem_names_the_patch_or_says_none_adds_it(self):
        good = "int a;\n-- not a signature, a line of the file\n"
        self.assertEqual(series.sync_problem(good, "tools/x.c", [("0002-x.patch", PATCH)]), "")
        self.assertEqual(series.sync_problem("int b;\n", "tools/x.c", [("0002-x.patch", PATCH)]),
                         "0002-x.patch adds another version: run scripts/export")
        self.assertIn("no patch of the series adds it", series.sync_problem(good, "tools/y.c", [("p", PATCH)]))

    def test_cover_keeps_date_subject_and_text_takes_new_shortlog(self):
        old = ("From 0 Mon Sep 17 00:00:00 2001\nDate: Mon, 1 Jan 2026 00:00:00 +0000\n"
               "Subject: [RFC PATCH v2 0/5] mm: the subject\n\nThe text.\n\nA Name (5):\n  old shortlog\n")
        new = ("From 0 Mon Sep 17 00:00:00 2001\nDate: Thu, 3 Dec 2026 00:00:00 +0000\n"
               "Subject: [RFC PATCH v2 0/6] *** SUBJECT HERE ***\n\n*** BLURB HERE ***\n\nA Name (6):\n  new\n")
        text = series.keep_cover(old, new)
        self.assertIn("Date: Mon, 1 Jan 2026", text)
        self.assertIn("[RFC PATCH v2 0/6] mm: the subject", text)
        self.assertIn("\n\nThe text.\n\nA Name (6):\n  new\n", text)
        with self.assertRaises(ValueError):
            series.keep_cover(old, new.replace("*** BLURB HERE ***", ""))


class Backport(unittest.TestCase):
    RULES = "# a comment\nx.c\tEBUSY);\tEINVAL);\ny.c\tone\ttwo\n"

    def test_a_rule_changes_its_file_only(self):
        rules = series.parse_rules(self.RULES)
        self.assertEqual(series.backport(rules, "x.c", "a(EBUSY);\nb;\n"), "a(EINVAL);\nb;\n")
        self.assertEqual(series.backport(rules, "z.c", "a(EBUSY);\n"), "a(EBUSY);\n")

    def test_a_rule_that_no_longer_matches_once_is_an_error_naming_it(self):
        rules = series.parse_rules(self.RULES)
        for text, times in (("nothing\n", 0), ("EBUSY);EBUSY);\n", 2)):
            with self.assertRaises(ValueError) as e:
                series.backport(rules, "x.c", text)
            self.assertIn(f"'EBUSY);' occurs {times} times", str(e.exception))

    def test_a_malformed_rule_is_named_by_line(self):
        with self.assertRaises(ValueError) as e:
            series.parse_rules("x.c\tonly two fields\n")
        self.assertIn("rules line 1", str(e.exception))

    def test_the_61_rules_apply_to_todays_shared_source(self):
        with open(os.path.join(REPO, "scripts", "backport-6.1")) as f:
            rules = series.parse_rules(f.read())
        with open(os.path.join(REPO, "tools/testing/selftests/mm/madv_clr_hugepage.c")) as f:
            shared = f.read()
        ported = series.backport(rules, "madv_clr_hugepage.c", shared)
        self.assertIn("EXPECT_EQ(errno, EINVAL);\n", ported)
        self.assertEqual(len(ported.splitlines()), len(shared.splitlines()))
