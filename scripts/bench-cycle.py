#!/usr/bin/env python3
"""Times netfault against the command lines it replaces, side by side, inside the namespace (or
user-mode Linux) it is started in: the variants of one comparison run interleaved, sample after
sample, so that a slow moment of the machine hits all of them alike. Prints one JSON object per
variant: {"part", "what", "variant", "samples", "median_ms", "p90_ms"}.

    bench-cycle.py NETFAULT SAMPLES PART...      PART: connection | netem | startup

The CLI variants do the same work as netfault: the same nf_tables table, set and rule, or the
same qdiscs and filters, which netfault's own --dry-run --json prints.
"""
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

netfault, samples, parts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]


def run(argv, stdin=None):
    r = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def timed(step):
    start = time.perf_counter_ns()
    step()
    return (time.perf_counter_ns() - start) / 1e6


def netfault_cycle(fault):
    def step():
        out = json.loads(run([netfault, "apply", *fault, "--for", "1m", "--json"]))
        run([netfault, "revert", out["lease"]])
    return step


def dry_run(fault):
    return json.loads(run([netfault, "apply", *fault, "--for", "1m", "--dry-run", "--json"]))


def connection():
    fault = ["3306,6379", "--reject"]
    script = dry_run(fault)["nft"]
    # The same table as plain nft makes it: without the owner flag (nft exits at once, and the
    # table must outlive it until the delete), under a name of its own.
    script = script.replace("\tflags owner\n", "")
    table = script.split()[2]
    script = script.replace(table, "bench")
    rule = next(line.strip() for line in script.splitlines() if "@lease" in line)
    commands = [
        ["add", "table", "inet", "bench"],
        ["add", "set", "inet", "bench", "lease", "{ type inet_service; flags timeout; }"],
        ["add", "element", "inet", "bench", "lease", "{ 3306 timeout 1m, 6379 timeout 1m }"],
        ["add", "chain", "inet", "bench", "output",
         "{ type filter hook output priority -150; policy accept; }"],
        ["add", "rule", "inet", "bench", "output", rule],  # one argument: nft parses its quotes
        ["delete", "table", "inet", "bench"],
    ]
    f = tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False)
    f.write(script + "\n")
    f.close()

    def cli():
        for c in commands:
            run(["nft", *c])

    def nft_f():
        run(["nft", "-f", f.name])
        run(["nft", "delete", "table", "inet", "bench"])

    return "apply+revert: 2 ports --reject", {
        "netfault": netfault_cycle(fault), f"nft x{len(commands)}": cli, "nft -f + delete": nft_f}


def netem():
    fault = ["3306,6379", "--delay", "10ms"]
    commands = [shlex.split(c) for c in dry_run(fault)["commands"]]
    if any(c[0] != "tc" for c in commands):
        sys.exit(f"bench: the netem case needs a device with no ifb: {commands}")
    batch = tempfile.NamedTemporaryFile("w", suffix=".tc", delete=False)
    batch.write("\n".join(shlex.join(c[1:]) for c in commands) + "\nqdisc del dev lo root\n")
    batch.close()

    def cli():
        for c in commands:
            run(c)
        run(["tc", "qdisc", "del", "dev", "lo", "root"])

    def tc_batch():
        run(["tc", "-batch", batch.name])

    return "apply+revert: 2 ports --delay 10ms", {
        "netfault": netfault_cycle(fault), f"tc x{len(commands) + 1}": cli, "tc -batch": tc_batch}


def startup():
    return "start-up", {
        "netfault --help": lambda: run([netfault, "--help"]),
        "nft list tables": lambda: run(["nft", "list", "tables"]),
        "/bin/true": lambda: run(["/bin/true"]),
    }


for part in parts:
    what, variants = {"connection": connection, "netem": netem, "startup": startup}[part]()
    for step in variants.values():
        step()  # warm up: page in, fill caches, the first probe
    times = {name: [] for name in variants}
    for _ in range(samples):
        for name, step in variants.items():
            times[name].append(timed(step))
    for name, ts in times.items():
        ts.sort()
        print(json.dumps({
            "part": part, "what": what, "variant": name, "samples": len(ts),
            "median_ms": round(statistics.median(ts), 2),
            "p90_ms": round(ts[int(0.9 * (len(ts) - 1))], 2)}), flush=True)
