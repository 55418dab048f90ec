"""POST /search and /rag latency over one keep-alive connection (stdlib only)."""
import http.client, json, statistics, sys, time, urllib.parse

url, dataset = sys.argv[1], sys.argv[2]
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port)

def get(path):
    conn.request("GET", path)
    return json.loads(conn.getresponse().read())

def post(path, body):
    t = time.perf_counter()
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = json.loads(r.read())
    if r.status != 200:
        raise SystemExit(f"{path}: {r.status} {data}")
    return (time.perf_counter() - t) * 1000, data

# The dataset's text index, resolved once (naming the index skips the per-request lookup).
index = next(i["name"] for i in get("/vectors/indexes")["indexes"]
             if (i.get("current") or {}).get("kind") == "text" and i["current"]["dataset"] == dataset)
words = ["Kubernetes migration", "payroll accountant", "registered nurse ICU", "Java Spring microservices",
         "forklift warehouse", "SQL reporting analyst", "help desk Active Directory", "Terraform AWS",
         "month-end close", "patient care", "React frontend", "data pipelines Python", "CDL truck driver",
         "customer service call center", "project manager agile", "network engineer Cisco",
         "QuickBooks invoices", "Docker CI/CD", "medical billing", "sales quota"]
queries = [f"{w}" if i < 20 else f"{w} with {words[(i * 7) % 20].split()[0]}" for i, w in
           enumerate(words * 10)]
filt = "city = 'Chicago' AND years_experience >= 5"
print("| mode | filter | queries | p50 ms (HTTP) | p95 ms (HTTP) | p50 ms (server) |")
print("|---|---|---:|---:|---:|---:|")
for mode in ["lexical", "vector", "hybrid"]:
    for f in [None, filt]:
        for q in queries[:10]:  # warm-up
            post("/search", {"query": q, "index": index, "k": 10, "mode": mode, **({"filter": f} if f else {})})
        wall, server = [], []
        for q in queries:
            ms, d = post("/search", {"query": q, "index": index, "k": 10, "mode": mode,
                                     **({"filter": f} if f else {})})
            wall.append(ms); server.append(d["elapsed_ms"])
        wall.sort()
        print(f"| {mode} | {'yes' if f else 'no'} | {len(queries)} | {statistics.median(wall):.2f} | "
              f"{wall[int(len(wall) * 0.95) - 1]:.2f} | {statistics.median(server):.2f} |")
q = "find someone who could handle our Kubernetes migration"
devops = ("kubernetes", "devops", "site reliability", "cloud engineer", "platform engineer", "terraform")
print(f"\nQuery: \"{q}\" — top 10 whose row is a DevOps/cloud profile (skills or title):")
for mode in ["lexical", "vector", "hybrid"]:
    _, d = post("/search", {"query": q, "index": index, "k": 10, "mode": mode, "include_rows": True})
    hits = d["hits"]
    good = sum(1 for h in hits if any(w in (h["fields"]["skills"] + " " + h["chunk"]["text"]).lower()
                                       for w in devops))
    first = hits[0]["fields"]["skills"] if hits else ""
    print(f"- {mode}: {good}/10 (first hit's skills: {first})")
wall, retr = [], []
for qq in queries[:50]:
    ms, d = post("/rag", {"question": qq, "index": index, "k": 5})
    wall.append(ms); retr.append(d["retrieval_ms"])
print(f"\nPOST /rag (no generator, k 5, 50 questions): p50 {statistics.median(wall):.2f} ms end to end "
      f"(HTTP), retrieval p50 {statistics.median(retr):.2f} ms")
