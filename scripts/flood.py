#!/usr/bin/env python3
"""Address-rotation flood with a distributed sweep hidden in it.

Writes nginx combined lines to stdout: N one-request clients (distinct
addresses, random customer ids, a few seconds of traffic each second) and,
spread through the middle, a distributed sweep: 500 addresses walking one
contiguous id range, 1-5 lookups each. The sweep's addresses are written to
the file named by the second argument, one per line.

usage: flood.py N SWEEPERS_FILE > flood.log
"""
import random
import sys

n = int(sys.argv[1])
out_sweepers = sys.argv[2]
rng = random.Random(7)
start = 1_772_409_600
rate = 2000  # lines per second of event time
sweep_start = n // 3
sweep_ids = list(range(4_200_000, 4_201_500))
sweepers = []
while len(sweepers) < 500:
    a = f"203.{rng.randrange(0, 256)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"
    if a not in sweepers:
        sweepers.append(a)
plan = []
for a in sweepers:
    plan += [a] * rng.randint(1, 5)
rng.shuffle(plan)
sweep_every = max(1, (n // 3) // max(1, len(plan)))
w = sys.stdout.write
si = 0
for i in range(n):
    t = start + i // rate
    hh, mm, ss = (t // 3600) % 24, (t // 60) % 60, t % 60
    ts = f"02/Mar/2026:{hh:02d}:{mm:02d}:{ss:02d} +0000"
    if i >= sweep_start and si < len(plan) and si < len(sweep_ids) and (i - sweep_start) % sweep_every == 0:
        a, cid = plan[si], sweep_ids[si]
        si += 1
    else:
        # Distinct addresses across 10.x..: 2^32 space walked by a multiplier.
        x = (i * 2654435761) & 0xFFFFFFFF
        a = f"{1 + (x >> 24) % 223}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}"
        cid = rng.randrange(1_000_000, 9_000_000)
    w(f'{a} - - [{ts}] "GET /api/v1/customers/{cid} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n')
with open(out_sweepers, "w") as f:
    f.write("\n".join(sorted(set(plan[:si]))) + "\n")
