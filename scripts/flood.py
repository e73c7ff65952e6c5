#!/usr/bin/env python3
"""Adversarial and scaling inputs for apiwatch: nginx combined lines on stdout.

    flood.py N SWEEPERS_FILE > flood.log        # the original flood (below)
    flood.py --kind KIND [options] N [SWEEPERS_FILE] > out.log

Kinds (N is the size named in each):

  addresses  (default) address-rotation flood with a distributed sweep hidden
             in it: N distinct flood addresses sending --requests each (a
             number or a range, default 1) to random customer ids, and,
             spread through the middle third, 500 (--sweepers) addresses
             walking one contiguous id range, 1-5 lookups each. The sweep's
             addresses are written to SWEEPERS_FILE, one per line, as apiwatch
             names them (IPv4 as is, IPv6 as its /64: `2001:db8:5eed:1f::/64`).
             With the defaults (--requests 1, --ipv6 0) this is the original
             flood, byte for byte: one request per line index, a few
             addresses may repeat. Otherwise flood addresses are truly
             distinct (public IPv4 outside 203/8, or distinct IPv6 /64s with
             share --ipv6, also used for the sweepers), and an address's
             requests fall within a few seconds of each other.
  ids        N lines, N distinct customer ids (scattered over 1..2^31), from
             --clients addresses (default N/200, at least 1), 10% 404s.
  paths      N lines, N distinct paths that do not template into a few
             routes (/static/<word>/<word>.html, /api/v1/<word>/<word>,
             /api/v1/<word>/<int>, /<word>-<word>/<word>.php), from 1000
             addresses: fills the route table to its cap.
  longlines  N ordinary lines (as `mix`) with --long lines (default 20) of
             --long-bytes (default 10,000,000) spread evenly among them,
             alternately a huge user agent and a huge URL.
  mix        N lines of ordinary API traffic from --addresses addresses
             (default 20000; every address appears when N >= addresses) over
             --routes lookup routes /api/v1/r<k>/{id} (default 20) plus 4 fixed
             routes: 70% lookups of random ids, then search pages, static
             assets, logins, /api/v1/me. For cost-growth measurements.

Options: --ipv6 SHARE of addresses that are IPv6 (default 0; the generated
addresses for ids/paths/longlines/mix use it too), --rate lines per second
of event time (default 2000; mix: 200), --seed (default 7).
Output is deterministic for given arguments.
"""
import argparse
import ipaddress
import random
import sys
import time

START = 1_772_409_600  # 2026-03-02T00:00:00Z
CHUNK = 1 << 15


class Clock:
    """nginx $time_local strings, formatted once per second of event time."""

    def __init__(self, rate):
        self.rate = rate
        self.t = None
        self.s = ""

    def at(self, i):
        t = START + i // self.rate
        if t != self.t:
            self.t = t
            self.s = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t))
        return self.s


class Out:
    def __init__(self):
        self.buf = []
        self.w = sys.stdout.write

    def add(self, line):
        self.buf.append(line)
        if len(self.buf) >= CHUNK:
            self.flush()

    def flush(self):
        self.w("".join(self.buf))
        self.buf.clear()


# ---- addresses ----------------------------------------------------------------


def public_v4(x):
    a, b = x >> 24, (x >> 16) & 255
    if a in (0, 10, 127, 203) or a >= 224:
        return False
    if (a == 172 and 16 <= b < 32) or (a == 192 and b == 168) or (a == 169 and b == 254):
        return False
    return not (a == 100 and 64 <= b < 128)


class Addresses:
    """Distinct addresses: public IPv4 outside 203/8 (kept for sweepers) or
    IPv6 in distinct /64s under 2a01::/16, chosen with share `v6`."""

    def __init__(self, rng, v6):
        self.rng = rng
        self.v6 = v6
        self.c4 = 0
        self.c6 = 0

    def next(self):
        if self.v6 > 0 and self.rng.random() < self.v6:
            self.c6 += 1
            p = (self.c6 * 0x9E3779B97F4B) & 0xFFFFFFFFFFFF  # bijective on 48 bits
            i = (self.c6 * 0xD1B54A32D192ED03) & 0xFFFFFFFFFFFFFFFF
            return (
                f"2a01:{p >> 32:x}:{(p >> 16) & 0xFFFF:x}:{p & 0xFFFF:x}:"
                f"{i >> 48:x}:{(i >> 32) & 0xFFFF:x}:{(i >> 16) & 0xFFFF:x}:{i & 0xFFFF:x}"
            )
        while True:
            self.c4 += 1
            x = (self.c4 * 2654435761) & 0xFFFFFFFF  # bijective on 32 bits
            if public_v4(x):
                return f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}"

    def take(self, n):
        return [self.next() for _ in range(n)]


def label(addr):
    """How apiwatch names an address: IPv4 as is, IPv6 as its /64."""
    if ":" not in addr:
        return addr
    v = int(ipaddress.IPv6Address(addr)) & ~((1 << 64) - 1)
    return f"{ipaddress.IPv6Address(v)}/64"


def parse_range(s):
    lo, _, hi = s.partition("-")
    lo = int(lo)
    hi = int(hi) if hi else lo
    if not 1 <= lo <= hi:
        sys.exit(f"flood.py: bad range {s!r}")
    return lo, hi


def write_sweepers(path, labels):
    with open(path, "w") as f:
        f.write("\n".join(sorted(set(labels))) + "\n")


def original(n, out_sweepers):
    """The original flood: kept byte for byte (README numbers use it)."""
    rng = random.Random(7)
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
    out = Out()
    si = 0
    for i in range(n):
        t = START + i // rate
        hh, mm, ss = (t // 3600) % 24, (t // 60) % 60, t % 60
        ts = f"02/Mar/2026:{hh:02d}:{mm:02d}:{ss:02d} +0000"
        if (
            i >= sweep_start
            and si < len(plan)
            and si < len(sweep_ids)
            and (i - sweep_start) % sweep_every == 0
        ):
            a, cid = plan[si], sweep_ids[si]
            si += 1
        else:
            x = (i * 2654435761) & 0xFFFFFFFF
            a = f"{1 + (x >> 24) % 223}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}"
            cid = rng.randrange(1_000_000, 9_000_000)
        out.add(f'{a} - - [{ts}] "GET /api/v1/customers/{cid} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n')
    out.flush()
    write_sweepers(out_sweepers, plan[:si])


def addresses(args):
    rng = random.Random(args.seed)
    lo, hi = parse_range(args.requests)
    n = args.n
    # Sweepers: IPv4 in 203/8 (never used by the flood) or IPv6 /64s under
    # 2001:db8:5eed::/48, with the same IPv6 share as the flood.
    sweepers, seen = [], set()
    while len(sweepers) < args.sweepers:
        if args.ipv6 > 0 and rng.random() < args.ipv6:
            a = f"2001:db8:5eed:{rng.randrange(0, 65536):x}:{rng.randrange(1, 65536):x}::{rng.randrange(1, 65536):x}"
        else:
            a = f"203.{rng.randrange(0, 256)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"
        if label(a) not in seen:
            seen.add(label(a))
            sweepers.append(a)
    plan = []
    for a in sweepers:
        plan += [a] * rng.randint(1, 5)
    rng.shuffle(plan)
    sweep_base = 4_200_000  # one contiguous range, each id fetched once
    expected = n * (lo + hi) // 2
    sweep_start = expected // 3
    sweep_every = max(1, (expected // 3) // max(1, len(plan)))

    gen = Addresses(rng, args.ipv6)
    clock = Clock(args.rate)
    out = Out()
    rand = rng.random
    i = 0  # line index
    si = 0  # sweep lines written
    made = 0  # flood addresses made
    span = hi - lo + 1
    while made < n:
        block = []
        for _ in range(min(1024, n - made)):
            a = gen.next()
            block += [a] * (lo + int(rand() * span))
        made += min(1024, n - made)
        rng.shuffle(block)
        for a in block:
            while si < len(plan) and i >= sweep_start and (i - sweep_start) % sweep_every == 0:
                out.add(
                    f'{plan[si]} - - [{clock.at(i)}] "GET /api/v1/customers/{sweep_base + si} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n'
                )
                si += 1
                i += 1
            cid = 1_000_000 + int(rand() * 8_000_000)
            out.add(f'{a} - - [{clock.at(i)}] "GET /api/v1/customers/{cid} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n')
            i += 1
    out.flush()
    write_sweepers(args.sweepers_file, [label(a) for a in plan[:si]])
    if si < len(plan):
        print(f"flood.py: only {si} of {len(plan)} sweep lookups fit", file=sys.stderr)


# ---- other kinds ---------------------------------------------------------------

UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "MyApp/3.2.1 (Android 14)",
]


def ids(args):
    rng = random.Random(args.seed)
    clients = Addresses(rng, args.ipv6).take(args.clients or max(1, args.n // 200))
    clock = Clock(args.rate)
    out = Out()
    rand = rng.random
    nc = len(clients)
    for i in range(args.n):
        cid = ((i * 2654435761) & 0x7FFFFFFF) + 1  # distinct for i < 2^31
        c = int(rand() * nc)
        st = "404" if rand() < 0.1 else "200"
        out.add(f'{clients[c]} - - [{clock.at(i)}] "GET /api/v1/customers/{cid} HTTP/1.1" {st} 512 "-" "{UAS[c % 5]}"\n')
    out.flush()


def busy(args):
    """Every client busy: CLIENTS addresses in turn, each lookup a random
    customer id, so every tracker's ring fills (the largest detector state,
    and the largest check state file)."""
    rng = random.Random(args.seed)
    clients = Addresses(rng, args.ipv6).take(args.clients or 4500)
    clock = Clock(args.rate)
    out = Out()
    rand = rng.random
    nc = len(clients)
    for i in range(args.n):
        c = i % nc
        cid = int(rand() * 50_000_000) + 1
        out.add(f'{clients[c]} - - [{clock.at(i)}] "GET /api/v1/customers/{cid} HTTP/1.1" 200 512 "-" "{UAS[c % 5]}"\n')
    out.flush()


SYL = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"]  # 85 syllables


def word(x):
    s = SYL[x % 85] + SYL[(x // 85) % 85]
    x //= 85 * 85
    while x:
        s += SYL[x % 85]
        x //= 85
    return s


def paths(args):
    rng = random.Random(args.seed)
    addrs = Addresses(rng, args.ipv6).take(1000)
    clock = Clock(args.rate)
    out = Out()
    rand = rng.random
    m = 85 * 85 * 85
    for i in range(args.n):
        v = (i * 0x9E3779B1) & 0xFFFFFFFFFFFF  # distinct for i < 2^48
        w1, w2 = word(v % m), word(v // m)
        k = i & 3
        if k == 0:
            req = f"GET /static/{w1}/{w2}.html"
        elif k == 1:
            req = f"GET /api/v1/{w1}/{w2}"
        elif k == 2:
            req = f"{'POST' if rand() < 0.3 else 'GET'} /api/v1/{w1}/{w2}/{int(rand() * 1_000_000)}"
        else:
            req = f"GET /{w1}-{w2}/{word(i)}.php?q={word(int(rand() * m))}"
        a = addrs[int(rand() * 1000)]
        out.add(f'{a} - - [{clock.at(i)}] "{req} HTTP/1.1" 404 153 "-" "{UAS[k]}"\n')
    out.flush()


def mix_lines(args, n, out, clock, rng, extra=None):
    """n lines of ordinary traffic; extra(i) may return an extra line to add
    before line i."""
    gen = Addresses(rng, args.ipv6)
    na = max(1, args.addresses)
    addrs = gen.take(na)
    uas = [UAS[int(rng.random() * 5)] for _ in range(min(na, 4096))]
    nu = len(uas)
    routes = max(1, args.routes)
    # `r123` reads as a prefixed id from `r1000` on (letters then digits),
    # so routes past a thousand fold into one template; `--route-words`
    # spells the number in letters (`rbcd`), so that every route templates.
    if args.route_words:
        letters = str.maketrans("0123456789", "abcdefghij")
        route_name = lambda k: "r" + str(k).translate(letters)  # noqa: E731
    else:
        route_name = lambda k: f"r{k}"  # noqa: E731
    # (i * P) % n walks 0..n-1 in a scattered order, so that `% na` names
    # every address when n >= na.
    p = 1_000_003 if n % 1_000_003 else 999_983
    rand = rng.random
    j = 0  # output line index (for the clock)
    for i in range(n):
        if extra is not None:
            e = extra(i)
            if e:
                out.add(e.replace("@TS@", clock.at(j)))
                j += 1
        k = ((i * p) % n) % na
        a = addrs[k]
        r = rand()
        if r < 0.70:
            st = "404" if rand() < 0.08 else "200"
            req = f"GET /api/v1/{route_name(int(rand() * routes))}/{1 + int(rand() * 10_000_000)}"
        elif r < 0.80:
            st, req = "200", f"GET /api/v1/search?q=smith&page={1 + int(rand() * 5)}&limit=50"
        elif r < 0.90:
            st, req = "200", "GET /static/app.js"
        elif r < 0.95:
            st, req = ("401" if rand() < 0.2 else "200"), "POST /api/v1/login"
        else:
            st, req = "200", "GET /api/v1/me"
        out.add(f'{a} - - [{clock.at(j)}] "{req} HTTP/1.1" {st} {200 + int(rand() * 2000)} "-" "{uas[k % nu]}"\n')
        j += 1


def mix(args):
    rng = random.Random(args.seed)
    out = Out()
    mix_lines(args, args.n, out, Clock(args.rate), rng)
    out.flush()


def longlines(args):
    rng = random.Random(args.seed)
    out = Out()
    every = max(1, args.n // max(1, args.long))
    ua = "Mozilla/5.0 " + "x" * args.long_bytes
    url = "/api/v1/customers/42?q=" + "a" * args.long_bytes
    made = [0]

    def extra(i):
        if made[0] >= args.long or i % every != every // 2:
            return None
        made[0] += 1
        if made[0] % 2:
            return f'198.51.100.7 - - [@TS@] "GET /api/v1/me HTTP/1.1" 200 512 "-" "{ua}"\n'
        return f'198.51.100.8 - - [@TS@] "GET {url} HTTP/1.1" 414 0 "-" "curl/8.5.0"\n'

    mix_lines(args, args.n, out, Clock(args.rate), rng, extra)
    out.flush()
    if made[0] < args.long:
        print(f"flood.py: only {made[0]} of {args.long} long lines fit", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int)
    ap.add_argument("sweepers_file", nargs="?")
    ap.add_argument("--kind", default="addresses", choices=["addresses", "ids", "paths", "longlines", "mix", "busy"])
    ap.add_argument("--requests", default="1", help="addresses: requests per flood address, N or LO-HI")
    ap.add_argument("--sweepers", type=int, default=500, help="addresses: sweep addresses")
    ap.add_argument("--ipv6", type=float, default=0.0, help="share of IPv6 addresses")
    ap.add_argument("--clients", type=int, default=0, help="ids: client addresses (default N/200); busy: (default 4500)")
    ap.add_argument("--addresses", type=int, default=20000, help="mix/longlines: distinct addresses")
    ap.add_argument("--routes", type=int, default=20, help="mix/longlines: lookup route templates")
    ap.add_argument("--route-words", action="store_true", help="mix/longlines: route names in letters (each templates on its own)")
    ap.add_argument("--long", type=int, default=20, help="longlines: how many long lines")
    ap.add_argument("--long-bytes", type=int, default=10_000_000, help="longlines: bytes of each")
    ap.add_argument("--rate", type=int, default=0, help="lines per second of event time")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.rate <= 0:
        args.rate = 200 if args.kind == "mix" else 2000
    if args.kind == "addresses":
        if not args.sweepers_file:
            ap.error("--kind addresses needs SWEEPERS_FILE")
        if args.requests == "1" and args.ipv6 == 0 and args.sweepers == 500 and args.seed == 7 and args.rate == 2000:
            original(args.n, args.sweepers_file)
        else:
            addresses(args)
    else:
        {"ids": ids, "paths": paths, "longlines": longlines, "mix": mix, "busy": busy}[args.kind](args)


if __name__ == "__main__":
    main()
