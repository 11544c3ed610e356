#!/usr/bin/env python3
"""The parts of `make bench`, each run inside the network namespace (or user-mode Linux) it is
started in, against real servers and clients. Appends one JSON object per table row to the file
BENCH_OUT names (stdout without it): {"part": TITLE, "columns": [...], "cells": [...]};
scripts/bench prints the tables. A part that cannot measure what it says exits non-zero with
the reason on stderr.

    bench-parts.py NETFAULT SAMPLES PART...

PART:
  connection  apply+revert of a connection fault against nft -f + nft delete, and against one
              long-lived libnftables process (python3-nftables) making the same change
  netem       apply+revert of a netem fault against tc -batch doing the same
  startup     netfault --help against nft list tables and /bin/true
  traffic     redis-benchmark on a port no fault touches, with faults on 1 to 1000 other ports
  scale       apply+revert with 1 to 10,000 ports against nft -f + delete with a set that size
  watchdog    deadline to fault gone, and SIGKILL of `netfault run` to fault gone
  delay       requested delay against the observed round-trip growth (needs netem)
  queue       drops under --delay 100ms: netem's old fixed limit against netfault's (needs netem)
  serve       a toxic added and removed over `netfault serve`'s HTTP API (kernel and proxy
              backends) against the same table change from a long-lived libnftables process

Every comparison's variants run interleaved, sample after sample, so that a slow moment of the
machine hits all of them alike. Before each sample the kernel is left alone for 50 ms: the last
close of a netfilter socket waits until nf_tables has freed the objects of recent transactions
(an RCU grace period), and without the pause one variant would pay for the previous one's.

Wall time is what the caller waits for. CPU time is read from cgroup v2 (cpu.stat usage_usec):
a command line's sample runs in a cgroup of its own, so a detached child (the watchdog, a
delayed socket close) counts too, until the last of them has exited; a long-lived process (serve,
the libnftables process) sits in a cgroup of its own and its sample is the growth of its usage,
read 20 ms after the reply so that work done after answering counts.
"""
import json
import os
import re
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

netfault, samples, parts = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
# The queue part holds 5000 sockets at once.
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, max(20000, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
SETTLE = 0.05
state = os.environ.get("NETFAULT_STATE_DIR", "/run/netfault")
out = open(os.environ["BENCH_OUT"], "a") if os.environ.get("BENCH_OUT") else sys.stdout


def fail(message):
    sys.exit(f"bench: {message}")


# cgroup v2 ---------------------------------------------------------------------------------

def cgroup_root():
    """A cgroup2 mount: the one this mount namespace has (hybrid hosts mount it at
    /sys/fs/cgroup/unified), else one mounted here (`ip netns exec` remounts /sys, hiding it)."""
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        sep = fields.index("-")
        if fields[sep + 1] == "cgroup2":
            return fields[4]
    global mounted
    mounted = tempfile.mkdtemp(prefix="netfault-bench-cg.")
    r = subprocess.run(["mount", "-t", "cgroup2", "none", mounted], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"no cgroup2 mounted and mounting one failed ({r.stderr.strip()}): CPU cannot be measured")
    return mounted


mounted = None  # the cgroup2 mount this process made, if it made one
CGROUP = os.path.join(cgroup_root(), f"netfault-bench-{os.getpid()}")
os.mkdir(CGROUP)
current = None  # the cgroup the commands `run` starts join; None: this process's own
serial = 0


def cgroup(name):
    path = os.path.join(CGROUP, name)
    os.mkdir(path)
    return path


def usage_usec(path):
    for line in open(os.path.join(path, "cpu.stat")):
        key, value = line.split()
        if key == "usage_usec":
            return int(value)
    fail(f"{path}/cpu.stat has no usage_usec")


def joiner(path):
    def join():
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write("0")
    return join


def drained(path, limit=10):
    """Waits until every process of the cgroup has exited."""
    end = time.monotonic() + limit
    while open(os.path.join(path, "cgroup.procs")).read().strip():
        if time.monotonic() > end:
            fail(f"processes of one sample still running {limit}s after it: "
                 f"{open(os.path.join(path, 'cgroup.procs')).read().split()}")
        time.sleep(0.001)


def remove_cgroups():
    for name in os.listdir(CGROUP) if os.path.isdir(CGROUP) else []:
        path = os.path.join(CGROUP, name)
        if os.path.isdir(path):
            try:
                os.rmdir(path)
            except OSError:
                pass
    try:
        os.rmdir(CGROUP)
    except OSError:
        pass
    if mounted:
        subprocess.run(["umount", mounted])
        os.rmdir(mounted)


def run(argv, stdin=None, check=True):
    r = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                       preexec_fn=joiner(current) if current else None)
    if check and r.returncode != 0:
        fail(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


class Variant:
    """A step to time. `daemon`: the cgroup of the long-lived process that does its work."""

    def __init__(self, step, daemon=None):
        self.step, self.daemon = step, daemon

    def sample(self):
        """(wall ms, CPU ms) of one run of the step."""
        global current, serial
        time.sleep(SETTLE)
        if self.daemon:
            before = usage_usec(self.daemon)
        else:
            serial += 1
            current = cgroup(f"s{serial}")
        start = time.perf_counter_ns()
        try:
            self.step()
        finally:
            wall = (time.perf_counter_ns() - start) / 1e6
            path, current = current, None
        if self.daemon:
            time.sleep(0.02)
            return wall, (usage_usec(self.daemon) - before) / 1000
        drained(path)
        cpu = usage_usec(path) / 1000
        os.rmdir(path)
        return wall, cpu


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))]


def median(xs):
    return statistics.median(xs)


def row(part, columns, cells):
    print(json.dumps({"part": part, "columns": columns, "cells": cells}), file=out, flush=True)


def apply(*args):
    return json.loads(run([netfault, "apply", *args, "--json"]))


def revert(lease):
    run([netfault, "revert", lease])


def interleaved(variants, n):
    """Samples each variant n times, round after round, after a warm-up round (page-in,
    caches): {name: ([wall ms], [CPU ms])}."""
    variants = {k: v if isinstance(v, Variant) else Variant(v) for k, v in variants.items()}
    for v in variants.values():
        v.sample()
    times = {name: ([], []) for name in variants}
    for _ in range(n):
        for name, v in variants.items():
            wall, cpu = v.sample()
            times[name][0].append(wall)
            times[name][1].append(cpu)
    return times


SPREAD = ["wall p10 ms", "wall median", "wall p90", "CPU p10 ms", "CPU median", "CPU p90"]


def spread(walls, cpus):
    return [f"{pct(walls, 0.1):.1f}", f"{median(walls):.1f}", f"{pct(walls, 0.9):.1f}",
            f"{pct(cpus, 0.1):.1f}", f"{median(cpus):.1f}", f"{pct(cpus, 0.9):.1f}"]


def ratio_table(part, times, ours=None, extra=()):
    """p10/median/p90 of wall and CPU for each variant, and netfault's (`ours`, else the
    first) medians as multiples of each."""
    walls, cpus = times[ours or next(iter(times))]
    p99 = "p99" in extra
    for name, (w, c) in times.items():
        cells = spread(w, c)
        row(part, ["variant", *SPREAD[:3], *(["wall p99"] if p99 else []), *SPREAD[3:],
                   "wall: netfault ÷", "CPU: netfault ÷"],
            [name, *cells[:3], *([f"{pct(w, 0.99):.1f}"] if p99 else []), *cells[3:],
             f"{median(walls) / median(w):.2f}x", f"{median(cpus) / median(c):.2f}x"])


class LibNftables:
    """One long-lived process holding libnftables (Debian's python3-nftables), in a cgroup of
    its own, running each script it is sent: the fastest a program can change nf_tables
    through the nft language, with no process start."""

    CODE = """
import json, sys, nftables
nft = nftables.Nftables()
for line in sys.stdin:
    rc, output, error = nft.cmd(json.loads(line))
    sys.stdout.write(json.dumps(error.strip() if rc else "") + "\\n")
    sys.stdout.flush()
"""

    def __init__(self):
        self.cgroup = cgroup("libnftables")
        self.p = subprocess.Popen(["/usr/bin/python3", "-c", self.CODE], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, preexec_fn=joiner(self.cgroup))
        servers.append(self.p)
        self.cmd("list tables")

    def cmd(self, script):
        self.p.stdin.write(json.dumps(script) + "\n")
        self.p.stdin.flush()
        reply = self.p.stdout.readline()
        if not reply:
            fail("the libnftables process (python3-nftables) exited; is python3-nftables installed?")
        error = json.loads(reply)
        if error:
            fail(f"libnftables: {error}")

    def variant(self, script, table="bench"):
        return Variant(lambda: (self.cmd(script), self.cmd(f"delete table inet {table}")), daemon=self.cgroup)


def bench_script(fault):
    """netfault's own nft script for a fault (--dry-run), as plain nft makes it: without the
    owner flag (nft exits at once, and the table must outlive it until the delete), under a
    table name of its own."""
    script = dry_run(fault)["nft"].replace("\tflags owner\n", "")
    return script.replace(script.split()[2], "bench")


def script_file(script):
    f = tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False)
    f.write(script + "\n")
    f.close()
    return f.name


def nft_f(path):
    def step():
        run(["nft", "-f", path])
        run(["nft", "delete", "table", "inet", "bench"])
    return step


# Servers ------------------------------------------------------------------------------------

servers = []


def redis(port):
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--protected-mode", "no"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers.append(p)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    fail(f"redis-server on {port} did not start")


def stop_servers():
    for p in servers:
        p.terminate()
        p.wait()
    servers.clear()


def connects(port, timeout=0.05):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
        return True
    except OSError:
        return False


# Part 1: apply+revert and start-up ------------------------------------------------------------

def netfault_cycle(fault):
    def step():
        revert(apply(*fault, "--for", "1m")["lease"])
    return step


def dry_run(fault):
    return apply(*fault, "--for", "1m", "--dry-run")


def connection():
    fault = ["3306,6379", "--reject"]
    script = bench_script(fault)
    times = interleaved({"netfault apply + revert": netfault_cycle(fault),
                         "nft -f + nft delete": nft_f(script_file(script)),
                         "libnftables, long-lived (the same change)": LibNftables().variant(script)}, samples)
    ratio_table(f"1a. apply+revert: 2 ports --reject ({samples} samples)", times)
    stop_servers()


def netem():
    fault = ["3306,6379", "--delay", "10ms"]
    commands = [shlex.split(c) for c in dry_run(fault)["commands"]]
    if any(c[0] != "tc" for c in commands):
        fail(f"the netem case needs a device with no ifb: {commands}")
    batch = tempfile.NamedTemporaryFile("w", suffix=".tc", delete=False)
    batch.write("\n".join(shlex.join(c[1:]) for c in commands) + "\nqdisc del dev lo root\n")
    batch.close()
    times = interleaved({"netfault apply + revert": netfault_cycle(fault),
                         "tc -batch": lambda: run(["tc", "-batch", batch.name])}, samples)
    ratio_table(f"1b. apply+revert: 2 ports --delay 10ms ({samples} samples)", times)


def startup():
    times = interleaved({
        "netfault --help": lambda: run([netfault, "--help"]),
        "nft list tables": lambda: run(["nft", "list", "tables"]),
        "/bin/true": lambda: run(["/bin/true"]),
    }, samples)
    ratio_table(f"1c. start-up ({samples} samples)", times)


# Parts 2 and 5: traffic no fault touches, and scale -----------------------------------------

def port_list(n):
    """n faulted ports: 6379 first, then ports far from 6380."""
    return ",".join(["6379"] + [str(20000 + i) for i in range(n - 1)])


def benchmark(port):
    """redis-benchmark GET from 20 clients: requests per second and p99 latency in ms."""
    out = run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "get", "-n", "40000", "-c", "20",
               "--csv"])
    values = next(line for line in out.splitlines() if line.startswith('"GET"')).replace('"', "").split(",")
    return float(values[1]), float(values[6])


def traffic():
    redis(6379)
    redis(6380)
    variants = [("no fault", None)] + [(f"--reject on {n} other port{'s' if n > 1 else ''}", n)
                                        for n in (1, 10, 100, 1000)]
    rps = {name: [] for name, _ in variants}
    p99 = {name: [] for name, _ in variants}
    rounds = max(3, samples // 6)
    for _ in range(rounds):
        for name, n in variants:
            lease = apply(port_list(n), "--reject", "--for", "5m")["lease"] if n else None
            time.sleep(SETTLE)
            r, p = benchmark(6380)
            rps[name].append(r)
            p99[name].append(p)
            if lease:
                revert(lease)
    base = median(rps["no fault"])
    for name, _ in variants:
        row(f"2. untouched traffic: redis-benchmark GET on 6380, faults elsewhere ({rounds} rounds)",
            ["variant", "requests/s (median)", "p99 ms (median)", "throughput ÷ no fault"],
            [name, f"{median(rps[name]):.0f}", f"{median(p99[name]):.2f}", f"{median(rps[name]) / base:.2f}"])
    stop_servers()


def scale():
    """Each size against nft -f with a set of the same size (netfault's own script), each
    size's two variants interleaved with every other size's."""
    variants = {}
    for n in (1, 10, 100, 1000, 10000):
        fault = [port_list(n), "--reject"]
        path = script_file(bench_script(fault))
        variants[(n, "netfault")] = netfault_cycle(fault)
        variants[(n, "nft")] = nft_f(path)
    times = interleaved(variants, samples)
    part = (f"5. scale: apply+revert of --reject on N ports, against nft -f + delete with an N-element set "
            f"({samples} samples)")
    for n in (1, 10, 100, 1000, 10000):
        ours = times[(n, "netfault")]
        noun = "port" if n == 1 else "ports"
        for name, key in ((f"{n} {noun}: netfault apply + revert", "netfault"),
                          (f"{n} {noun}: nft -f + nft delete", "nft")):
            w, c = times[(n, key)]
            row(part, ["variant", *SPREAD, "wall: netfault ÷", "CPU: netfault ÷"],
                [name, *spread(w, c), f"{median(ours[0]) / median(w):.2f}x", f"{median(ours[1]) / median(c):.2f}x"])


# Part 4: watchdog timing --------------------------------------------------------------------

def until(predicate, limit, every=0.001):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return time.monotonic()
        time.sleep(every)
    return None


def tables():
    return run(["nft", "list", "tables"])


def no_leases():
    """The journal is empty: a watchdog that ended a fault finishes by removing the entry."""
    if until(lambda: not os.listdir(f"{state}/leases"), 5) is None:
        fail(f"leases left in {state}/leases after 5s: {os.listdir(f'{state}/leases')}")


def watchdog():
    redis(6379)
    n = max(5, samples // 3)
    kernel, cleaned, killed = [], [], []
    for _ in range(n):
        lease = apply("redis", "--reject", "--for", "1s")["lease"]
        with open(f"{state}/leases/{lease}.json") as f:
            deadline = json.load(f)["monotonicDeadline"] / 1e9  # CLOCK_MONOTONIC, as time.monotonic()
        ok = until(lambda: connects(6379), 5)
        # Every 5 ms: each `nft list tables` closes a netfilter socket, which takes the lock the
        # watchdog's delete needs.
        gone = until(lambda: lease not in tables(), 5, every=0.005)
        if ok is None or gone is None:
            fail(f"lease {lease} outlived its deadline by 4s")
        kernel.append((ok - deadline) * 1000)
        cleaned.append((gone - deadline) * 1000)
        no_leases()
        # The controller killed: `run` holds the lease; its watchdog checks it every 0.5s. Its
        # command, orphaned, ends by itself.
        p = subprocess.Popen([netfault, "run", "redis", "--reject", "--for", "1m", "--", "sleep", "5"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if until(lambda: not connects(6379), 5) is None:
            fail("run did not put the fault in within 5s")
        time.sleep(0.1)
        start = time.monotonic()
        p.send_signal(signal.SIGKILL)
        p.wait()
        back = until(lambda: connects(6379), 5)
        if back is None:
            fail("the fault outlived its killed controller by 5s")
        killed.append((back - start) * 1000)
        no_leases()
    part = f"4. watchdog timing, --reject ({n} samples)"
    cols = ["event", "median ms", "max ms"]
    row(part, cols, ["deadline → connects again (the kernel's set timeout)", f"{median(kernel):.1f}",
                     f"{max(kernel):.1f}"])
    row(part, cols, ["deadline → table removed (the watchdog)", f"{median(cleaned):.1f}", f"{max(cleaned):.1f}"])
    row(part, cols, ["SIGKILL of `netfault run` → connects again", f"{median(killed):.1f}", f"{max(killed):.1f}"])
    stop_servers()


# Parts 3 and 6: netem's precision and queue ---------------------------------------------------

def ping_rtts(port, count):
    """Round trips of redis PING over one connection, in ms."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rtts = []
    for _ in range(count):
        start = time.perf_counter_ns()
        s.sendall(b"PING\r\n")
        if s.recv(64) != b"+PONG\r\n":
            fail("redis answered PING with something else")
        rtts.append((time.perf_counter_ns() - start) / 1e6)
    s.close()
    return rtts


def delay():
    redis(6379)
    count = max(50, samples * 3)
    b50 = median(ping_rtts(6379, count))
    # Growth over the undelayed round trip's median: p99 is the 99th percentile round trip less it.
    part = f"3. delay accuracy: redis PING round trip, --direction to-server ({count} pings each)"
    cols = ["requested", "growth median ms", "growth p99 ms", "median error"]
    for ms in (1, 10, 100):
        lease = apply("redis", "--delay", f"{ms}ms", "--direction", "to-server", "--for", "5m")["lease"]
        rtts = ping_rtts(6379, count if ms < 100 else max(20, count // 3))
        revert(lease)
        growth = median(rtts) - b50
        row(part, cols, [f"{ms} ms", f"{growth:.2f}", f"{pct(rtts, 0.99) - b50:.2f}",
                         f"{(growth - ms) / ms * 100:+.1f}%"])
    stop_servers()


def netem_drops():
    """Packets netem dropped on lo (tc -s: the bench may read what the product must not run)."""
    out = run(["tc", "-s", "qdisc", "show", "dev", "lo"])
    return sum(int(m) for block in out.split("qdisc ")[1:] if block.startswith("netem")
               for m in re.findall(r"dropped (\d+)", block))


def bulk(port, megabytes, limit):
    """SET then GET of one value of `megabytes` through redis, a burst of full-size segments:
    the seconds it took, or None when it did not finish within `limit` seconds."""
    start = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=limit)
        value = b"x" * (megabytes << 20)
        s.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nbulk\r\n$%d\r\n%s\r\n" % (len(value), value))
        if not s.recv(16).startswith(b"+OK"):
            fail("redis refused the SET")
        s.sendall(b"*2\r\n$3\r\nGET\r\n$4\r\nbulk\r\n")
        need, got = len(b"$%d\r\n" % len(value)) + len(value) + 2, 0
        while got < need and time.monotonic() - start < limit:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        s.close()
    except TimeoutError:
        return None
    seconds = time.monotonic() - start
    return seconds if seconds < limit else None


def queue():
    # lo's MTU of 65536 carries a megabyte in 16 packets: at 1500, as on a real link, the same
    # transfer is hundreds of packets, and a window of them sits in netem during the delay.
    run(["ip", "link", "set", "lo", "mtu", "1500"])
    redis(6379)
    part = "6. netem queue under --delay 100ms --direction both, lo at MTU 1500: 8 MB SET and GET through redis"
    cols = ["queue limit", "netem drops", "seconds"]
    for name, extra in (("1000 packets (netem's default, netfault before)", ["--limit", "1000"]),
                        ("netfault's default (sized from the delay)", [])):
        lease = apply("redis", "--delay", "100ms", "--direction", "both", "--for", "5m", *extra)["lease"]
        seconds = bulk(6379, 8, 60)
        drops = netem_drops()
        revert(lease)
        row(part, cols, [name, str(drops), f"{seconds:.1f}" if seconds else "not done in 60"])
    stop_servers()
    run(["ip", "link", "set", "lo", "mtu", "65536"])
    # Many small packets at once: 5000 connection attempts (SYNs), each its own packet.
    part = "6b. netem queue under --delay 100ms: 5000 connects at once (SYNs)"
    for name, extra in (("100 packets (--limit 100)", ["--limit", "100"]),
                        ("1000 packets (netem's default, netfault before)", ["--limit", "1000"]),
                        ("netfault's default (sized from the delay)", [])):
        lease = apply("6379", "--delay", "100ms", "--for", "5m", *extra)["lease"]
        start = time.monotonic()
        burst = []
        for _ in range(5000):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", 6379))
            burst.append(c)
        seconds = time.monotonic() - start
        drops = netem_drops()
        revert(lease)
        for c in burst:
            c.close()
        row(part, cols, [name, str(drops), f"{seconds:.1f}"])


# Part 7: netfault serve ------------------------------------------------------------------------

def serve_daemon(*args):
    """`netfault serve` on a port it picks, in a cgroup of its own: that port and cgroup."""
    path = cgroup(f"serve{len(servers)}")
    p = subprocess.Popen([netfault, "serve", "--listen", "127.0.0.1:0", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, preexec_fn=joiner(path))
    servers.append(p)
    m = re.search(r"http://127\.0\.0\.1:(\d+)", p.stdout.readline())
    if not m:
        fail("netfault serve did not start")
    return int(m.group(1)), path


def api(conn, method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300 and not (method == "DELETE" and r.status == 204):
        fail(f"{method} {path}: {r.status} {data!r}")


def serve():
    import http.client
    redis(6379)

    def toggler(daemon):
        # One keep-alive connection, as a test suite's client holds one.
        port, path = daemon
        conn = http.client.HTTPConnection("127.0.0.1", port)
        api(conn, "POST", "/proxies", {"name": "redis", "upstream": "127.0.0.1:6379", "listen": "127.0.0.1:0"})

        def step():
            api(conn, "POST", "/proxies/redis/toxics", {"name": "t", "type": "timeout", "attributes": {"timeout": 0}})
            api(conn, "DELETE", "/proxies/redis/toxics/t")
        return Variant(step, daemon=path)

    kernel, proxy = serve_daemon(), serve_daemon("--backend", "proxy")
    times = interleaved({
        "serve, kernel backend: POST + DELETE a timeout toxic": toggler(kernel),
        "serve, proxy backend: the same": toggler(proxy),
        "libnftables, long-lived: the kernel backend's table change":
            LibNftables().variant(bench_script(["6379", "--hang"])),
    }, samples)
    ratio_table(f"7. a toxic on and off over netfault serve's API, against a long-lived libnftables process "
                f"({samples} samples)", times, extra=("p99",))
    stop_servers()


PARTS = {"connection": connection, "netem": netem, "startup": startup, "traffic": traffic, "scale": scale,
         "watchdog": watchdog, "delay": delay, "queue": queue, "serve": serve}
unknown = [p for p in parts if p not in PARTS]
if unknown:
    remove_cgroups()
    fail(f"unknown part {', '.join(unknown)}; the parts are {', '.join(PARTS)}")
try:
    for p in parts:
        PARTS[p]()
finally:
    stop_servers()
    remove_cgroups()
