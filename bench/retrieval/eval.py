"""recall@10 and MRR@10 of POST /search per mode on questions.tsv (page-level: chunk hits are
folded into their pages, first occurrence wins)."""
import http.client, json, statistics, sys, urllib.parse

url, index, qfile = sys.argv[1], sys.argv[2], sys.argv[3]
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
qs = []
for line in open(qfile, encoding="utf-8"):
    if line.startswith("#") or not line.strip():
        continue
    q, rel = line.rstrip("\n").split("\t")
    qs.append((q, set(rel.split(","))))
print(f"{len(qs)} questions")
print("| mode | recall@10 | MRR@10 | hit@1 | p50 ms (server) |")
print("|---|---:|---:|---:|---:|")
configs = [("lexical", {}), ("vector", {}), ("hybrid", {}),
           ("hybrid", {"vector_weight": 0.5}), ("hybrid", {"vector_weight": 0.3}),
           ("hybrid", {"vector_weight": 0.5, "rrf_k": 10})]
for mode, extra in configs:
    rec, mrr, hit1, ms = [], [], [], []
    for q, rel in qs:
        conn.request("POST", "/search", json.dumps({"query": q, "index": index, "k": 100, "mode": mode,
                                                    "include_rows": True, **extra}),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        d = json.loads(r.read())
        if r.status != 200:
            raise SystemExit(f"{q}: {r.status} {d}")
        pages = []
        for h in d["hits"]:
            p = h["fields"]["page"]
            if p not in pages:
                pages.append(p)
        top = pages[:10]
        rec.append(len(rel & set(top)) / len(rel))
        rank = next((i + 1 for i, p in enumerate(top) if p in rel), None)
        mrr.append(1 / rank if rank else 0)
        hit1.append(1 if rank == 1 else 0)
        ms.append(d["elapsed_ms"])
    label = mode + (" " + ", ".join(f"{k} {v}" for k, v in extra.items()) if extra else "")
    print(f"| {label} | {statistics.mean(rec):.3f} | {statistics.mean(mrr):.3f} | "
          f"{statistics.mean(hit1):.3f} | {statistics.median(ms):.2f} |")
