#!/usr/bin/env python3
"""CPU µs per request of each row of the HTTP bench's sources pair, for a build of the bench
without its own CPU column: `perf stat -I 50 -e task-clock` of the whole process, summed over
the window between the previous row and this one, divided by the row's requests.

Usage: python3 benches/cpu_windows.py target/release/deps/http-<hash>  (ROUNDS=3 by default;
runs BULKHEAD_HTTP_PG=0 BULKHEAD_HTTP_ONLY=sources). See README.md, Session 7."""
import os, re, subprocess, sys, time
binary = sys.argv[1]
out = f"/tmp/ps-{os.getpid()}.txt"
env = dict(os.environ, BULKHEAD_HTTP_PG="0", BULKHEAD_HTTP_ROUNDS=os.environ.get("ROUNDS", "3"), BULKHEAD_HTTP_ONLY="sources")
t0 = time.monotonic()
p = subprocess.Popen(["perf", "stat", "-I", "50", "-x,", "-e", "task-clock", "-o", out, binary, "--bench"], stdout=subprocess.PIPE, text=True, env=env)
rows = []
for line in p.stdout:
    rows.append((time.monotonic() - t0, line.rstrip()))
p.wait()
iv = []
for l in open(out):
    if l.startswith("#") or not l.strip():
        continue
    f = l.split(",")
    try:
        iv.append((float(f[0]), float(f[1])))
    except ValueError:
        pass
prev = None
res = {}
for t, line in rows:
    m = re.search(r"(baseline|bulkhead) sources\s+round (\d+):\s+(\d+) req/s.*?p99\s+(\d+).*?\((\d+) requests", line)
    if m and prev is not None:
        ms = sum(c for (ti, c) in iv if prev < ti <= t)
        n = int(m.group(5))
        res.setdefault(m.group(1), []).append((int(m.group(3)), ms * 1000 / n, int(m.group(4))))
        print(f"{m.group(1)} round {m.group(2)}: {m.group(3)} req/s p99 {m.group(4)} µs, cpu {ms*1000/n:.1f} µs/req (perf stat)")
    prev = t
b = res.get("baseline", []); k = res.get("bulkhead", [])
if b and k:
    print("ratio per round", ", ".join(f"{y[0]/x[0]:.2f}" for x, y in zip(b, k)),
          "| cpu µs/req bulkhead %.1f baseline %.1f" % (sum(y[1] for y in k)/len(k), sum(x[1] for x in b)/len(b)),
          "| worst p99 bulkhead %d µs" % max(y[2] for y in k))
os.remove(out)
