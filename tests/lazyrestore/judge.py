#!/usr/bin/env python3
"""Judge `lazyrestore run --json` output as TAP.

    tests/lazyrestore/judge.py host|guest|criu|early|soft-dirty|move-pmd|running-region < results.json
    tests/lazyrestore/judge.py vmas-host|vmas-guest < lazybench-vmas.jsonl
host (no MADV_CLR_HUGEPAGE): the verifier sees the corruption of "none";
prctl, uffd-copy and uffd-move lose nothing and keep the VmFlags;
nohuge-huge keeps the data but not the VmFlags; clr reports the kernel
lacks it. uffd-move must have moved every page of the image: none of them
faulted, none was copied instead (or the kernel lacks UFFDIO_MOVE, said so).
guest (patched kernel): clr loses nothing, and VmFlags, VMA count and THP
coverage equal the source's; none loses data there too.
early: --early-fill runs (the destination filled before the freeze, the
lazy set discarded after it): every strategy asked for that protects the
restore lost nothing and served its lazy pages; clr and prctl also keep
every VmFlags.
soft-dirty: runs with --tracker soft-dirty: nothing lost, nothing missed
(its inflation over the pages written is printed, not judged).
move-pmd: uffd-move with nothing lazy (--dirty 0): every 2 MiB range
whole, each moved by one 2 MiB UFFDIO_MOVE.
running-region (`lazyrestore scenario running-region --json`): the running
region got less THP under prctl (process-wide) than under uffd-copy (which
touches only the restored VMAs), uffd-move and clr too where they ran; every
strategy restored every page with the source's VmFlags.
vmas-host, vmas-guest (`lazybench vmas` JSON lines): at every VMA count,
prctl and uffd-copy (and clr on the patched kernel; on the host it is
skipped with the reason) leave as many VMAs as the source had, each with
the source's hg/nh; nohuge-huge is reported not to (it merges them).
criu (guest): CRIU's page-server and local-images lazy restores both ran,
lost no page, served lazy pages, and kept every VmFlags of the source.
With host or guest, criu-* rows that ran are held to the same, and rows
that could not run must say why.
"""
import json
import sys

mode = sys.argv[1]
checks = []


def check(name, ok, why=""):
    checks.append((name, bool(ok), why))


def judge_vmas(lines):
    rows = [r for r in lines if r.get("kind") == "vmas"]
    notes = " ".join(r["note"] for r in lines if r.get("kind") == "note")
    want = ("clr", "prctl", "uffd-copy") if mode == "vmas-guest" else ("prctl", "uffd-copy")
    for s in want:
        mine = [r for r in rows if r["strategy"] == s]
        check(f"vmas: {s} ran at every VMA count", len(mine) >= 2, notes or "no rows")
        for r in mine:
            check(f"vmas: {s} over {r['vmas']} VMAs leaves the source's {r['source_vmas']}, hg/nh as the source's",
                  r["restored_vmas"] == r["source_vmas"] and r["flag_differences"] == 0,
                  f"{r['restored_vmas']} VMAs, {r['flag_differences']} with other hg/nh")
    if mode == "vmas-host":
        check("vmas: clr skipped with the reason", "clr skipped: MADV_CLR_HUGEPAGE not supported" in notes, notes)
    for r in (r for r in rows if r["strategy"] == "nohuge-huge" and r["vmas"] > 1):
        check(f"vmas: nohuge-huge over {r['vmas']} VMAs does not keep them (reported)",
              r["restored_vmas"] < r["source_vmas"] and r["flag_differences"] > 0)
    finish()


if mode.startswith("vmas-"):
    runs = {}
else:
    runs = {r["strategy"]: r for r in json.load(sys.stdin)}


def ran(s):
    return s in runs and "error" not in runs[s]


def judge_criu(s):
    r = runs[s]
    check(f"{s}: 0 corrupted pages (the restored workload checked every page)",
          r["corrupted"] == 0, f"corrupted {r['corrupted']}, zero-filled {r['zero_filled']}")
    check(f"{s}: the restored task forked, mremapped, discarded, and checked every page",
          r["task_steps"] > 0 and r["task_checked"] >= r["pages"] * 9 // 10,
          f"steps {r['task_steps']}, checks {r['task_checked']} of {r['pages']} pages")
    # CRIU's daemon does not tell what it copied: lazy pages there, and the task read every one right.
    check(f"{s}: criu left pages lazy, and the task read all of them right",
          r["lazy"] > 0 and r["corrupted"] == 0, f"nr_lazy {r['lazy']}, corrupted {r['corrupted']}")
    check(f"{s}: VmFlags of every VMA identical to the source (but sd)", r["vmflags_identical"])
    check(f"{s}: VMA count identical to the source", r["vmas_source"] == r["vmas_restored"],
          f"{r['vmas_source']} vs {r['vmas_restored']}")


def judge_move(r, early=False):
    """uffd-move: every page from the image arrived by UFFDIO_MOVE."""
    s = "early uffd-move" if early else "uffd-move"
    from_image = r["pages"] - r["lazy"]
    if not early:    # the early loop checks it for every strategy
        check(f"{s}: 0 corrupted pages", r["corrupted"] == 0, f"corrupted {r['corrupted']}")
    check(f"{s}: VmFlags identical to the source", r["vmflags_identical"])
    # A page of the image that faulted would get a zero page: only memory the task discarded may.
    check(f"{s}: no page of the image faulted (zero pages served <= pages the task discarded)",
          r["zero_pages"] <= r["discarded"], f"zero pages {r['zero_pages']}, discarded {r['discarded']}")
    if not early:
        check(f"{s}: every page of the image moved, none copied",
              r["move_pmds"] * 512 + r["move_pages"] == from_image and r["move_copied"] == 0,
              f"{r['move_pmds']} x 2 MiB + {r['move_pages']} pages moved, {r['move_copied']} "
              f"copied, of {from_image}")


def judge_native(s, r, label=None):
    """What every lazyrestore row must show, whatever its strategy."""
    s = label or s
    check(f"{s}: the lazy set missed no page the task wrote (tracker {r['tracker']})",
          r["missed"] == 0, f"missed {r['missed']}")
    if r["tracker"] == "uffd-wp-async":
        check(f"{s}: lazy set within 1.1x of the pages the task wrote since the last round",
              r["lazy"] <= 1.1 * r["written"] and r["written"] > 0,
              f"lazy {r['lazy']}, written {r['written']}")
    if s.endswith("none") and r["task_steps"] == 0:
        # Its own state, always dirty so always lazy, collapsed to zeros: it cannot resume.
        check(f"{s}: the task found its own state lost, and said so", r["zero_filled"] >= 1,
              f"corrupted {r['corrupted']}, zero-filled {r['zero_filled']}")
        return
    check(f"{s}: the resumed task ran and checked every page",
          r["task_steps"] > 0 and r["task_checked"] >= r["pages"] * 9 // 10,
          f"steps {r['task_steps']}, checks {r['task_checked']} of {r['pages']} pages")
    check(f"{s}: its fork, mremap away and back and MADV_DONTNEED reached the handler",
          r["ev_fork"] == 1 and r["ev_remap"] == 2 and r["ev_remove"] >= 1 and r["child_checked"] > 0,
          f"fork {r['ev_fork']} remap {r['ev_remap']} remove {r['ev_remove']} child checks "
          f"{r['child_checked']}")
    if not s.endswith("none"):   # none's THPs over the holes are why its copies find pages there
        check(f"{s}: no page copied twice", r["copied_twice"] == 0,
              f"copied twice {r['copied_twice']}")
        # Counted, not assumed from lazy > 0: each lazy page (and each a child inherited) was
        # copied after go, or dropped with memory the task discarded; none left behind.
        check(f"{s}: every lazy page copied once or dropped with discarded memory",
              r["lazy"] + r["inherited"] == r["postcopy_pages"] + r["dropped"] and r["abandoned"] == 0,
              f"lazy {r['lazy']} + inherited {r['inherited']} vs copied {r['postcopy_pages']} + "
              f"dropped {r['dropped']}, abandoned {r['abandoned']}")
    if r["collapse_pmds"] and r["thp_hg_kb"]:
        # --collapse: what the source had huge is huge again (a VM_NOHUGEPAGE left behind refuses it).
        check(f"{s}: THP of the MADV_HUGEPAGE VMA back to the source's after --collapse",
              r["thp_hg_kb"][-1] >= r["collapse_pmds"] * 2048,
              f"{r['thp_hg_kb'][-1]} kB, the source had {r['collapse_pmds']} x 2 MiB")


def move_missing(s):
    r = runs.get(s, {})
    return r.get("unavailable") and "UFFDIO_MOVE not supported" in r.get("error", "")


def finish():
    for i, (name, ok, why) in enumerate(checks, 1):
        print(f"{'ok' if ok else 'not ok'} {i} {name}" + ("" if ok or not why else f"\n# {why}"))
    print(f"1..{len(checks)}")
    sys.exit(0 if all(ok for _, ok, _ in checks) else 1)


if mode.startswith("vmas-"):
    judge_vmas([json.loads(line) for line in sys.stdin if line.strip()])


if mode == "early":
    for s, r in runs.items():
        if s == "none" or r.get("unavailable"):
            continue
        check(f"early {s} ran", ran(s), r.get("error", ""))
        if ran(s):
            check(f"early {s}: 0 corrupted pages", r["corrupted"] == 0, f"corrupted {r['corrupted']}")
            judge_native(s, r, f"early {s}")
            if s in ("clr", "prctl", "uffd-copy"):
                check(f"early {s}: VmFlags identical to the source", r["vmflags_identical"])
            if s == "uffd-move":
                judge_move(r, early=True)
    finish()

if mode == "soft-dirty":
    for s, r in runs.items():
        check(f"soft-dirty {s} ran", ran(s), r.get("error", ""))
        if ran(s):
            check(f"soft-dirty {s}: tracked by soft-dirty, as asked", r["tracker"] == "soft-dirty",
                  r["tracker"])
            check(f"soft-dirty {s}: 0 corrupted pages", r["corrupted"] == 0, f"corrupted {r['corrupted']}")
            judge_native(s, r, f"soft-dirty {s}")
            print(f"# soft-dirty {s}: lazy {r['lazy']} for {r['written']} written "
                  f"(x{r['lazy'] / max(r['written'], 1):.2f})")
    finish()

if mode == "move-pmd":
    r = runs.get("uffd-move", {})
    check("uffd-move ran", ran("uffd-move"), r.get("error", "missing"))
    if ran("uffd-move"):
        check("uffd-move, nothing lazy: every 2 MiB range moved whole",
              r["lazy"] == 0 and r["move_pmds"] * 512 == r["pages"] and r["move_pages"] == 0,
              f"lazy {r['lazy']}, {r['move_pmds']} x 2 MiB + {r['move_pages']} pages of {r['pages']}")
        judge_move(r)
    finish()

if mode == "running-region":
    def cov(s):
        return runs[s]["running_thp_kb"] / max(runs[s]["running_kb"], 1)
    for s in ("prctl", "uffd-copy"):
        check(f"{s} ran", ran(s), runs.get(s, {}).get("error", "missing"))
    for s, r in runs.items():
        if ran(s):
            check(f"{s}: every page of the running region was faulted in (its Rss)",
                  r["running_kb"] == r["running_region_kb"],
                  f"Rss {r['running_kb']} kB of {r['running_region_kb']} kB")
            check(f"{s}: 0 corrupted pages in the restored region", r["corrupted"] == 0,
                  f"corrupted {r['corrupted']}")
            check(f"{s}: VmFlags identical to the source", r["vmflags_identical"])
        else:
            check(f"{s}: could not run, and says why",
                  r.get("unavailable") and "not supported by this kernel" in r.get("error", ""),
                  r.get("error", ""))
    if ran("prctl"):
        for s in ("uffd-copy", "uffd-move", "clr"):
            if ran(s):
                check(f"running region THP: prctl ({cov('prctl'):.0%}) below {s} ({cov(s):.0%})",
                      cov("prctl") < cov(s))
    finish()

if mode == "criu":
    for s in ("criu-ps", "criu-local"):
        check(f"{s} ran", ran(s), runs.get(s, {}).get("error", "missing"))
        if ran(s):
            judge_criu(s)
    finish()

for s in ("criu-ps", "criu-local"):
    if ran(s):
        judge_criu(s)
    elif s in runs:
        check(f"{s}: could not run, and says why", runs[s].get("unavailable") and runs[s]["error"],
              runs[s]["error"])

for s in ("prctl", "uffd-copy", "nohuge-huge", "none"):
    check(f"{s} ran", ran(s), runs.get(s, {}).get("error", "missing"))
for s in ("clr", "prctl", "uffd-copy", "uffd-move", "nohuge-huge", "none"):
    if ran(s):
        judge_native(s, runs[s])
if ran("none"):
    check("none: the resumed task itself caught lost pages (> 0)", runs["none"]["corrupted"] > 0,
          f"corrupted {runs['none']['corrupted']}")
    check("none: the pages it lost read as zeros",
          runs["none"]["zero_filled"] == runs["none"]["corrupted"])
for s in ("prctl", "uffd-copy", "nohuge-huge"):
    if ran(s):
        check(f"{s}: 0 corrupted pages", runs[s]["corrupted"] == 0, f"corrupted {runs[s]['corrupted']}")
for s in ("prctl", "uffd-copy"):
    if ran(s):
        check(f"{s}: VmFlags identical to the source", runs[s]["vmflags_identical"])
if ran("uffd-move"):
    judge_move(runs["uffd-move"])
else:
    check("uffd-move: ran, or says the kernel lacks UFFDIO_MOVE", move_missing("uffd-move"),
          runs.get("uffd-move", {}).get("error", "missing"))
if ran("nohuge-huge"):
    check("nohuge-huge: VmFlags differ from the source (reported)",
          not runs["nohuge-huge"]["vmflags_identical"])
if mode == "host":
    check("clr: refused with the reason", "MADV_CLR_HUGEPAGE not supported" in runs.get("clr", {}).get("error", ""))
else:
    c = runs.get("clr", {})
    check("clr ran", ran("clr"), c.get("error", "missing"))
    if ran("clr"):
        check("clr: 0 corrupted pages", c["corrupted"] == 0, f"corrupted {c['corrupted']}")
        check("clr: VmFlags of every VMA identical to the source", c["vmflags_identical"])
        check("clr: VMA count identical to the source", c["vmas_source"] == c["vmas_restored"])
        # THP coverage is reported, not judged: how soon khugepaged gets it
        # back is timing, which belongs to `make bench`.

finish()
