#!/usr/bin/env python3
"""Summarises vbench_* tab-separated output as Markdown: per set and library, build times,
bytes/vector, cold load, and QPS / p50 / p95 at the cheapest setting reaching recall@10 of
0.90 / 0.95 / 0.99, with ours / hnswlib ratios."""
import collections
import sys

TARGETS = (0.90, 0.95, 0.99)


def main(paths):
    build = collections.defaultdict(dict)
    mem, load = {}, collections.defaultdict(dict)
    search = collections.defaultdict(list)
    sets = []
    for p in paths:
        for line in open(p):
            f = line.rstrip("\n").split("\t")
            if len(f) < 4:
                continue
            kind, s, lib = f[0], f[1], f[2]
            if s not in sets:
                sets.append(s)
            if kind == "BUILD":
                build[(s, lib)][f[3]] = float(f[4])
            elif kind == "MEM":
                mem[(s, lib)] = int(f[3])
            elif kind == "LOAD":
                load[(s, lib)][f[3]] = (float(f[4]), float(f[5]))
            elif kind == "SEARCH":
                search[(s, lib)].append((f[3], float(f[4]), float(f[5]), float(f[6]),
                                         float(f[7]), float(f[8])))

    def best(s, lib, t):
        ok = [r for r in search.get((s, lib), []) if r[1] >= t]
        return max(ok, key=lambda r: r[2]) if ok else None

    for s in sets:
        libs = sorted({lib for (ss, lib) in search if ss == s} | {lib for (ss, lib) in build if ss == s},
                      key=lambda l: (l != "ours", l != "ours-int8", l))
        print(f"### {s}\n")
        print("| library | build 1T s | build 2T s | bytes/vec | cold load ms |")
        print("|---|---|---|---|---|")
        for lib in libs:
            b = build.get((s, lib), {})
            ld = load.get((s, lib), {})
            lds = ", ".join(f"{k} {v[0]:.0f}" + (f" (+{v[1]:.0f} first query)" if v[1] else "")
                            for k, v in ld.items())
            print(f"| {lib} | {b.get('1', float('nan')):.1f} | {b.get('2', float('nan')):.1f} | "
                  f"{mem.get((s, lib), '')} | {lds} |")
        print()
        print("| library | recall@10 ≥ | setting | recall | QPS 1T | QPS 2T | p50 µs | p95 µs | QPS 1T vs hnswlib |")
        print("|---|---|---|---|---|---|---|---|---|")
        for t in TARGETS:
            ref = best(s, "hnswlib", t)
            for lib in libs:
                r = best(s, lib, t)
                if not r:
                    if search.get((s, lib)):
                        print(f"| {lib} | {t:.2f} | not reached | | | | | | |")
                    continue
                ratio = f"{r[2] / ref[2]:.2f}x" if ref else "n/a"
                print(f"| {lib} | {t:.2f} | {r[0]} | {r[1]:.4f} | {r[2]:.0f} | {r[3]:.0f} | "
                      f"{r[4]:.0f} | {r[5]:.0f} | {ratio} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
