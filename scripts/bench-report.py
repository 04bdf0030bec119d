#!/usr/bin/env python3
"""Turn one scripts/bench results directory into a table, JSON and plots.

    scripts/bench-report.py DIR

Writes DIR/report.txt (also printed), DIR/bench.json (every part plus the
targets' verdicts) and DIR/{fill,downtime,faults,thp}.png with gnuplot.
Every ratio is between figures of the same run on the same machine.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys

TARGETS = {
    "fill": "best safe fill path >= 80% of one UFFDIO_COPY of the whole range; clr's path no slower than uffd-copy's",
    "downtime": "downtime at the largest size within 10% of the smallest",
    "precision": "lazy pages / pages the task wrote since the last round <= 1.1",
    "criu": "post-copy bytes and downtime below CRIU's on the same workload",
    "faults": "lazy fault p50 within 1.3x and p99 within 3x of a bare uffd round trip",
    "thp": "THP coverage back within 1 s of lazy completion with MADV_COLLAPSE",
    "vmas": "restore time per VMA flat (at the most VMAs within 1.5x of the fewest) and the source's VMA layout kept",
}
# Fill methods a restore keeping THP away can use, by the strategy that uses them.
READ_PATHS = ("read", "preadv", "populate+read", "io_uring", "io_uring-fixed", "io_uring-direct")
UFFD_PATHS = ("uffd-copy-4k", "uffd-copy-64k", "uffd-copy-2m")


def load(d, name):
    path = os.path.join(d, name)
    if not os.path.exists(path):
        return None
    text = open(path).read().strip()
    if not text:
        return None
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def gbps(row):
    return row["bytes"] / statistics.median(row["secs"]) / 1e9


class Report:
    def __init__(self, d):
        self.d = d
        self.lines = []
        self.data = {"machine": load(d, "machine.json")[0], "targets": {}}

    def p(self, s=""):
        self.lines.append(s)

    def target(self, key, met, how):
        self.data["targets"][key] = {"target": TARGETS[key], "met": met, "measured": how}

    def fill(self):
        rows = [r for r in load(self.d, "fill.json") or [] if r["kind"] == "fill"]
        notes = [r["note"] for r in load(self.d, "fill.json") or [] if r["kind"] == "note"]
        self.data["fill"] = rows
        if not rows:
            return
        one = next(gbps(r) for r in rows if r["method"] == "ref:uffd-copy-one")
        faulted = next(gbps(r) for r in rows if r["method"] == "ref:memcpy-faulted")
        self.p(f"## 1. Fill: image files -> destination memory ({rows[0]['bytes'] >> 20} MiB, median of {len(rows[0]['secs'])})")
        self.p(f"{'method':20} {'cache':5} {'GB/s':>7} {'/uffd-one':>9} {'/memcpy':>8} {'/seq-read':>9}  what")
        for r in rows:
            seq = next((gbps(s) for s in rows if s["method"] == "ref:seq-read" and s["cache"] == r["cache"]), None)
            g = gbps(r)
            self.p(f"{r['method']:20} {r['cache']:5} {g:7.2f} {g / one:9.2f} {g / faulted:8.2f} "
                   f"{(g / seq) if seq else 0:9.2f}  {r['what']}")
        for n in notes:
            self.p(f"note: {n}")
        warm = {r["method"]: gbps(r) for r in rows if r["cache"] == "warm"}
        best_read = max((warm[m], m) for m in READ_PATHS if m in warm)
        best_uffd = max((warm[m], m) for m in UFFD_PATHS if m in warm)
        best = max(best_read, best_uffd)
        met = best[0] >= 0.8 * one and best_read[0] >= best_uffd[0]
        how = (f"best safe path {best[1]} {best[0]:.2f} GB/s = {best[0] / one:.0%} of one UFFDIO_COPY "
               f"({one:.2f} GB/s); clr/prctl's best {best_read[1]} {best_read[0]:.2f} vs uffd-copy's "
               f"best {best_uffd[1]} {best_uffd[0]:.2f} GB/s")
        self.target("fill", met, how)
        self.p()

    def downtime(self):
        runs = []
        for f in sorted(os.listdir(self.d)):
            if f.startswith("downtime-") and f.endswith(".json"):
                for r in load(self.d, f) or []:
                    if r.get("kind") == "note":
                        self.p(f"note: {r['note']}")
                        continue
                    r["total_mib"] = int(f[9:-5])
                    runs.append(r)
        self.data["downtime"] = runs
        if not runs:
            return
        self.p("## 2. Downtime, lazy set and post-copy against size (the task writes a fixed")
        self.p("##    32 MiB hot set; lazyrestore fills before the freeze, --early-fill; CRIU")
        self.p("##    restores after its dump, its fill ms is the criu restore call, its lazy")
        self.p("##    its restore's nr_lazy, each sent once)")
        self.p(f"{'strategy':12} {'MiB':>5} {'corrupt':>7} {'VmFlags':8} {'lazy':>7} {'written':>7} "
               f"{'x':>5} {'post MiB':>8} {'down ms':>9} {'fill ms':>9} {'lazy ms':>9} {'total ms':>9}")
        verdicts, precision = [], []
        for s in dict.fromkeys(r["strategy"] for r in runs):
            mine = sorted((r for r in runs if r["strategy"] == s), key=lambda r: r["total_mib"])
            for r in mine:
                if "error" in r:
                    self.p(f"{s:12} {r['total_mib']:5} {'unavailable' if r.get('unavailable') else 'error'}: {r['error']}")
                    continue
                written = r.get("written", 0)
                ratio = r["lazy"] / written if written else float("nan")
                if written:
                    precision.append((s, r["total_mib"], ratio))
                self.p(f"{s:12} {r['total_mib']:5} {r['corrupted']:7} "
                       f"{'same' if r['vmflags_identical'] else 'DIFFER':8} {r['lazy']:7} "
                       f"{written if written else '-':>7} {ratio:5.2f} "
                       f"{r.get('postcopy_pages', 0) * 4096 / 2**20:8.1f} "
                       f"{r['downtime_ms']:9.1f} {r['fill_ms']:9.1f} {r['lazy_ms']:9.1f} {r['total_ms']:9.1f}")
            ok = [r for r in mine if "error" not in r]
            if len(ok) >= 2:
                grow = ok[-1]["downtime_ms"] / ok[0]["downtime_ms"]
                verdicts.append((s, grow, ok[0]["total_mib"], ok[-1]["total_mib"]))
        if precision:
            worst = max(precision, key=lambda x: x[2])
            self.target("precision", all(x[2] <= 1.1 for x in precision),
                        f"worst {worst[0]} at {worst[1]} MiB: x{worst[2]:.2f} ({len(precision)} runs)")
        mine_ok = [r for r in runs if "error" not in r and not r["strategy"].startswith("criu")]
        criu_ok = [r for r in runs if "error" not in r and r["strategy"].startswith("criu")]
        if mine_ok and criu_ok:
            beat = []
            for size in sorted({r["total_mib"] for r in criu_ok}):
                c = [r for r in criu_ok if r["total_mib"] == size]
                m = [r for r in mine_ok if r["total_mib"] == size and r["strategy"] == "clr"] or \
                    [r for r in mine_ok if r["total_mib"] == size]
                if not m:
                    continue
                cb = min(r.get("postcopy_pages", r["lazy"]) for r in c)
                cd = min(r["downtime_ms"] for r in c)
                mb, md = m[0].get("postcopy_pages", 0), m[0]["downtime_ms"]
                beat.append((size, m[0]["strategy"], mb < cb and md < cd,
                             f"{size} MiB {m[0]['strategy']}: {mb * 4 / 1024:.1f} vs {cb * 4 / 1024:.1f} MiB, "
                             f"{md:.0f} vs {cd:.0f} ms"))
            if beat:
                self.target("criu", all(b[2] for b in beat), "; ".join(b[3] for b in beat))
        if verdicts:
            # The target is lazyrestore's; CRIU's growth is the comparison.
            mine = [v for v in verdicts if not v[0].startswith("criu")]
            how = "; ".join(f"{s} x{g:.2f} ({a}->{b} MiB)" for s, g, a, b in verdicts)
            if mine:
                self.target("downtime", all(g <= 1.1 for _, g, _, _ in mine),
                            "; ".join(f"{s} x{g:.2f}" + ("" if g <= 1.1 else " (over)")
                                      for s, g, _, _ in mine) + f" ({mine[0][2]}->{mine[0][3]} MiB)")
            self.p(f"downtime growth, largest/smallest: {how}")
        self.p()

    def faults(self):
        rows = [r for r in load(self.d, "faults.json") or [] if r["kind"] == "faults"]
        self.data["faults"] = rows
        if not rows:
            return
        self.p("## 3. Lazy fault service, seen by the faulting thread (median over repetitions)")
        self.p(f"{'handler':12} {'background':10} {'faults':>7} {'p50 us':>8} {'p99 us':>8} {'p50/bare':>8} {'p99/bare':>8}")
        key = lambda r: (r["handler"], r["background"])
        groups = {}
        for r in rows:
            groups.setdefault(key(r), []).append(r)
        med = {k: (statistics.median(r["p50_us"] for r in v), statistics.median(r["p99_us"] for r in v),
                   statistics.median(r["faults"] for r in v)) for k, v in groups.items()}
        bare = med[("bare", "none")]
        for k, (p50, p99, n) in med.items():
            self.p(f"{k[0]:12} {k[1]:10} {n:7.0f} {p50:8.1f} {p99:8.1f} {p50 / bare[0]:8.2f} {p99 / bare[1]:8.2f}")
        verdict = []
        met = True
        for bg in ("idle", "running"):
            if ("lazyrestore", bg) in med:
                p50, p99, _ = med[("lazyrestore", bg)]
                met &= p50 <= 1.3 * bare[0] and p99 <= 3 * bare[1]
                verdict.append(f"{bg}: p50 x{p50 / bare[0]:.2f}, p99 x{p99 / bare[1]:.2f}")
        self.target("faults", met, "; ".join(verdict) + f" (bare p50 {bare[0]:.1f} us, p99 {bare[1]:.1f} us)")
        self.p()

    def thp(self):
        series = []
        for part, label in (("thp-khugepaged", "khugepaged"), ("thp-collapse", "MADV_COLLAPSE")):
            for r in load(self.d, part + ".json") or []:
                if "error" in r:
                    self.p(f"{part}: {r['strategy']}: {r['error']}")
                    continue
                series.append((label, r))
        self.data["thp"] = [dict(r, how=l) for l, r in series]
        if not series:
            return
        self.p("## 4. THP of the MADV_HUGEPAGE VMA after lazy completion")
        self.p(f"{'strategy':12} {'by':14} {'source kB':>9} {'at 0 kB':>8} {'back in ms':>10} {'collapse ms':>11}")
        for how, r in series:
            back = f"{r['thp_back_ms']:.0f}" if r["thp_back_ms"] >= 0 else f">{(len(r['thp_hg_kb']) - 1) * r['thp_sample_ms']}"
            self.p(f"{r['strategy']:12} {how:14} {r['thp_hg_kb_source']:9} {r['thp_hg_kb'][0] if r['thp_hg_kb'] else 0:8} "
                   f"{back:>10} {r['collapse_ms'] if how == 'MADV_COLLAPSE' else 0:11.1f}")
        coll = [r for how, r in series if how == "MADV_COLLAPSE"]
        if coll:
            met = all(0 <= r["thp_back_ms"] <= 1000 for r in coll)
            self.target("thp", met, "; ".join(
                f"{r['strategy']} {r['thp_back_ms']:.0f} ms" if r["thp_back_ms"] >= 0 else f"{r['strategy']} not back"
                for r in coll))
        self.p()

    def numa(self):
        rows = load(self.d, "numa.json") or []
        self.data["numa"] = rows
        self.p("## 5. NUMA placement (source: VMA 0 bound to node 1, VMA 1 interleaved 0-1)")
        for r in rows:
            if r.get("kind") == "note":
                self.p(f"note: {r['note']}")
            elif "error" in r:
                self.p(f"{r['strategy']:12} {'unavailable' if r.get('unavailable') else 'error'}: {r['error']}")
            else:
                per = r.get("numa_misplaced_vma", [])
                self.p(f"{r['strategy']:12} {r['numa_misplaced']:6} of {r['pages']} pages on another node than in the source"
                       + (f" (bind:1 {per[0]}, interleave:0-1 {per[1]}, default {per[2]})" if len(per) == 3 else ""))
        self.p()

    def vmas(self):
        rows = [r for r in load(self.d, "vmas.json") or []]
        self.data["vmas"] = [r for r in rows if r.get("kind") == "vmas"]
        if not rows:
            return
        self.p("## 6. The restore's madvise sequence over many VMAs (source: adjacent VMAs, every other")
        self.p("##    MADV_HUGEPAGE; median of 3; after: the VMAs left, with hg/nh unlike the source's)")
        self.p("##    us/VMA: the whole restore; madv: without mmap and the fill (advice, register, prctl)")
        self.p(f"{'strategy':12} {'VMAs':>6} {'total ms':>9} {'us/VMA':>7} {'x fewest':>8} {'madv us':>7} {'x fewest':>8} "
               f"{'after':>6} {'flags off':>9}  slowest phase")
        verdicts, met = [], True
        for r in rows:
            if r.get("kind") == "note":
                self.p(f"note: {r['note']}")
                continue
            mine = [x for x in self.data["vmas"] if x["strategy"] == r["strategy"]]
            per = lambda x: x["total"] / x["vmas"] * 1e6
            madv = lambda x: (x["total"] - x["secs"]["mmap"] - x["secs"]["fill"]) / x["vmas"] * 1e6
            grow = per(r) / per(mine[0])
            phase = max(r["secs"], key=r["secs"].get)
            self.p(f"{r['strategy']:12} {r['vmas']:6} {r['total'] * 1e3:9.2f} {per(r):7.2f} {grow:8.2f} "
                   f"{madv(r):7.2f} {madv(r) / max(madv(mine[0]), 1e-9):8.2f} "
                   f"{r['restored_vmas']:6} {r['flag_differences']:9}  {phase} {r['secs'][phase] * 1e3:.2f} ms")
            if r is mine[-1] and len(mine) > 1:
                kept = r["restored_vmas"] == r["source_vmas"] and not r["flag_differences"]
                verdicts.append(f"{r['strategy']} x{grow:.2f} ({mine[0]['vmas']}->{r['vmas']} VMAs), "
                                + ("layout kept" if kept else f"{r['restored_vmas']} VMAs of {r['source_vmas']}, "
                                   f"{r['flag_differences']} with other flags"))
                # nohuge-huge and none are there to compare: the target is the protected strategies'
                if r["strategy"] in ("clr", "prctl", "uffd-copy"):
                    met = met and grow <= 1.5 and kept
        if verdicts:
            self.target("vmas", met, "; ".join(verdicts))
        self.p()

    def plots(self):
        if not shutil.which("gnuplot"):
            self.p("note: no gnuplot (Debian package gnuplot-nox): no plots")
            return
        d = self.d
        m = self.data["machine"]
        title = f"{m['where']}: {m['kernel']}, {m['cpus']} CPUs, {m['platform'] or 'bare metal'}".replace('"', "'")
        scripts = []
        if self.data.get("fill"):
            with open(os.path.join(d, "fill.dat"), "w") as f:
                for i, r in enumerate(x for x in self.data["fill"] if x["cache"] == "warm"):
                    cold = next((gbps(c) for c in self.data["fill"] if c["method"] == r["method"] and c["cache"] == "cold"), 0)
                    f.write(f"{i} \"{r['method']}\" {gbps(r):.3f} {cold:.3f}\n")
            scripts.append(("fill.png", f"""set title "Fill from image files (GB/s) - {title}" noenhanced
set style data histogram; set style histogram cluster gap 1; set style fill solid 0.8
set xtics rotate by -40 noenhanced; set ylabel "GB/s"; set key top left
plot "{d}/fill.dat" using 3:xtic(2) title "page cache warm", "" using 4 title "cold"
"""))
        if self.data.get("downtime"):
            with open(os.path.join(d, "downtime.dat"), "w") as f:
                for s in dict.fromkeys(r["strategy"] for r in self.data["downtime"]):
                    f.write(f'"{s}"\n')
                    for r in sorted((x for x in self.data["downtime"] if x["strategy"] == s and "error" not in x),
                                    key=lambda x: x["total_mib"]):
                        f.write(f"{r['total_mib']} {r['downtime_ms']:.1f} {r['total_ms']:.1f}\n")
                    f.write("\n\n")
            scripts.append(("downtime.png", f"""set title "Downtime against memory size - {title}" noenhanced
set logscale x 2; set xlabel "workload MiB"; set ylabel "downtime ms"; set key top left noenhanced
plot for [i=0:20] "{d}/downtime.dat" index i using 1:2 with linespoints title columnheader(1)
"""))
        if self.data.get("faults"):
            with open(os.path.join(d, "faults.dat"), "w") as f:
                for i, r in enumerate(self.data["faults"]):
                    f.write(f"{i} \"{r['handler']}/{r['background']}\" {r['p50_us']:.2f} {r['p99_us']:.2f}\n")
            scripts.append(("faults.png", f"""set title "Lazy fault service (us) - {title}" noenhanced
set style data histogram; set style histogram cluster gap 1; set style fill solid 0.8
set xtics rotate by -40 noenhanced; set ylabel "us"; set logscale y
plot "{d}/faults.dat" using 3:xtic(2) title "p50", "" using 4 title "p99"
"""))
        if self.data.get("thp"):
            with open(os.path.join(d, "thp.dat"), "w") as f:
                end = max((len(r["thp_hg_kb"]) - 1) * r["thp_sample_ms"] / 1000 for r in self.data["thp"])
                for r in self.data["thp"]:
                    pct = lambda kb: 100 * kb / max(r["thp_hg_kb_source"], 1)
                    # at lazy completion; then the samples (after the collapse, if any); then held to the end
                    t0 = r["collapse_ms"] / 1000 if r["how"] == "MADV_COLLAPSE" else 0
                    f.write(f"\"{r['strategy']} ({r['how']})\"\n0 {pct(r['thp_hg_kb_at_lazy_end']):.1f}\n")
                    for k, kb in enumerate(r["thp_hg_kb"]):
                        f.write(f"{t0 + k * r['thp_sample_ms'] / 1000:.2f} {pct(kb):.1f}\n")
                    if r["thp_hg_kb"]:
                        f.write(f"{end:.2f} {pct(r['thp_hg_kb'][-1]):.1f}\n")
                    f.write("\n\n")
            scripts.append(("thp.png", f"""set title "THP coverage after lazy completion - {title}" noenhanced
set xlabel "seconds after lazy completion"; set ylabel "% of the source's AnonHugePages"; set yrange [-5:110]
set key center right noenhanced
plot for [i=0:20] "{d}/thp.dat" index i using 1:2 with steps linewidth 2 title columnheader(1)
"""))
        for png, body in scripts:
            full = f'set terminal pngcairo size 1000,600 noenhanced\nset output "{d}/{png}"\n' + body
            r = subprocess.run(["gnuplot"], input=full, text=True, capture_output=True)
            if r.returncode:
                self.p(f"note: gnuplot failed for {png}: {r.stderr.strip()[:200]}")
            else:
                self.p(f"plot: {d}/{png}")

    def run(self):
        m = self.data["machine"]
        self.p(f"# lazyrestore bench: {m['where']}, kernel {m['kernel']}, {m['cpus']} x {m['cpu']}, "
               f"{m['mem_mib']} MiB, {m['platform'] or 'bare metal'}, {m['numa_nodes']} NUMA node(s), THP {m['thp']}, {m['date']}")
        self.p()
        for part in (self.fill, self.downtime, self.faults, self.thp, self.numa, self.vmas):
            part()
        self.p("## Targets")
        for k, t in TARGETS.items():
            v = self.data["targets"].get(k)
            if v is None:
                self.p(f"- {k}: not measured in this run ({t})")
            else:
                self.p(f"- {k}: {'MET' if v['met'] else 'NOT MET'}: {v['measured']} [{t}]")
        self.plots()
        open(os.path.join(self.d, "report.txt"), "w").write("\n".join(self.lines) + "\n")
        json.dump(self.data, open(os.path.join(self.d, "bench.json"), "w"), indent=1)
        print("\n".join(self.lines))


if __name__ == "__main__":
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        sys.exit("usage: scripts/bench-report.py DIR (a scripts/bench results directory)")
    Report(os.path.abspath(sys.argv[1])).run()
