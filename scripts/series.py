#!/usr/bin/env python3
"""The text work on patches/ that scripts/export and scripts/check-series do.

    scripts/series.py set-ident OLD NEW PATCH...
        From: and Signed-off-by: of OLD become NEW
    scripts/series.py keep-cover OLD-COVER NEW-COVER
        NEW-COVER (fresh format-patch output) gets OLD-COVER's date,
        subject and text; its shortlog and diffstat stay the new ones
    scripts/series.py add-notes SERIES-NOTES PATCH-DIR
        each patch named in SERIES-NOTES ([subject] headers) gets its notes
        below its "---"; a subject that names no patch is an error
    scripts/series.py check-sync REPO-FILE PATH PATCH-DIR
        prints why REPO-FILE is not what the series adds at PATH, nothing
        when it is
    scripts/series.py backport RULES REPO-FILE NAME
        REPO-FILE as a backport carries it under the file name NAME: the
        RULES lines "NAME<TAB>OLD<TAB>NEW" for NAME applied in order, each
        OLD a literal that must occur exactly once ('#' starts a comment)
"""
import glob
import re
import sys

SUBJECT = re.compile(r"^Subject: \[[^\]]*PATCH[^\]]*\] (.*(?:\n .*)*)$", re.M)


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def set_ident(old, new, text):
    text = text.replace(f"\nFrom: {old}\n", f"\nFrom: {new}\n", 1)
    return text.replace(f"\nSigned-off-by: {old}\n", f"\nSigned-off-by: {new}\n")


def keep_cover(old, new):
    subject = SUBJECT.search(old)
    if not subject:
        raise ValueError("the old cover letter has no Subject: [... PATCH ...] line")
    body = old.split("\n\n", 1)[1]
    blurb = re.split(r"\n[^\n]+ \(\d+\):\n", body)[0]
    date = re.search(r"^Date: .*$", old, re.M).group(0)
    new = re.sub(r"^Date: .*$", lambda m: date, new, count=1, flags=re.M)
    new = new.replace("*** SUBJECT HERE ***", subject.group(1), 1)
    new_head, new_body = new.split("\n\n", 1)
    if "*** BLURB HERE ***" not in new_body:
        raise ValueError("the new cover letter has no *** BLURB HERE *** to replace")
    rest = new_body.split("*** BLURB HERE ***", 1)[1]
    return new_head + "\n\n" + blurb.rstrip("\n") + rest


def parse_notes(text):
    notes, subject = {}, None
    for line in text.splitlines(keepends=True):
        if line.startswith("#"):
            continue
        m = re.match(r"^\[(.+)\]$", line.rstrip())
        if m:
            subject = m.group(1)
            notes[subject] = ""
        elif subject:
            notes[subject] += line
    return notes


def subject_of(patch_text):
    m = SUBJECT.search(patch_text.split("\n---\n", 1)[0])
    return m and re.sub(r"\n ", " ", m.group(1))


def add_notes(notes, patch_text):
    """(text with its notes added, whether the patch had notes)"""
    subj = subject_of(patch_text)
    if subj not in notes:
        return patch_text, False
    return patch_text.replace("\n---\n", "\n---\n" + notes.pop(subj).rstrip() + "\n\n", 1), True


def added_file(patch_text, path):
    """The content a patch gives a file it creates at path, or None."""
    marker = f"diff --git a/{path} b/{path}\n"
    if marker not in patch_text:
        return None
    chunk = patch_text.split(marker, 1)[1].split("\ndiff --git ", 1)[0]
    if "\nnew file mode" not in "\n" + chunk.split("\n@@", 1)[0]:
        return None
    body = chunk.split("\n@@", 1)[1].split("\n", 1)[1]
    lines = []
    for line in body.split("\n"):
        if line.startswith("+"):
            lines.append(line[1:])
        elif line.startswith("-- ") or line == "--":
            break
    return "\n".join(lines) + "\n"


def sync_problem(repo_text, path, patches):
    """Why the series does not add repo_text at path ('' when it does)."""
    for name, text in patches:
        added = added_file(text, path)
        if added is None:
            continue
        return "" if added == repo_text else f"{name} adds another version: run scripts/export"
    return "no patch of the series adds it: add it to the series and run scripts/export"


def parse_rules(text):
    """[(name, old, new)] of a backport rules file."""
    rules = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not all(fields):
            raise ValueError(f"rules line {n}: want NAME<TAB>OLD<TAB>NEW, got {line!r}")
        rules.append(tuple(fields))
    return rules


def backport(rules, name, text):
    for rule_name, old, new in rules:
        if rule_name != name:
            continue
        found = text.count(old)
        if found != 1:
            raise ValueError(f"{name}: {old!r} occurs {found} times, the rule wants it once: "
                             "the shared source changed, mend the rule")
        text = text.replace(old, new)
    return text


def main(argv):
    what, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if what == "set-ident" and len(args) >= 3:
            for path in args[2:]:
                write(path, set_ident(args[0], args[1], read(path)))
        elif what == "keep-cover" and len(args) == 2:
            write(args[1], keep_cover(read(args[0]), read(args[1])))
        elif what == "add-notes" and len(args) == 2:
            notes = parse_notes(read(args[0]))
            for path in sorted(glob.glob(args[1] + "/0*.patch")):
                text, changed = add_notes(notes, read(path))
                if changed:
                    write(path, text)
            if notes:
                sys.exit("scripts/series-notes names no patch of the series: " + ", ".join(notes))
        elif what == "backport" and len(args) == 3:
            sys.stdout.write(backport(parse_rules(read(args[0])), args[2], read(args[1])))
        elif what == "check-sync" and len(args) == 3:
            patches = [(p.rsplit("/", 1)[1], read(p)) for p in sorted(glob.glob(args[2] + "/0*.patch"))]
            why = sync_problem(read(args[0]), args[1], patches)
            if why:
                print(why)
        else:
            sys.exit(__doc__.strip())
    except (OSError, ValueError) as e:
        sys.exit(f"series.py {what}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
