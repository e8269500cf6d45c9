"""Many clients at once: pyrsyncd beside rsync's daemon, and what an idle connection costs.

Two measurements, each on pyrsyncd and on ``rsync --daemon`` serving the same module from
tmpfs, runs interleaved (who goes first alternates):

1. ``--clients`` rsync clients (default 64) start together, each pulling the module's
   ``--size-mib`` MiB file (default 64) into its own directory on tmpfs. Timed from the
   first start to the last exit; every copy is then checked against the source (SHA-256).
   The daemon's memory is the peak, over the run, of the sum of its processes' PSS
   (``/proc/PID/smaps_rollup``; shared pages are divided among their sharers, so the sum
   is what the daemon really occupies).
2. ``--idle`` connections (default 32) greet the daemon and then say nothing: the private
   memory (Private_Clean + Private_Dirty) of each new connection process is what one more
   slow client costs; the median is reported. Then as many connections that say nothing
   at all (a port scan, or a client that opens many connections and never speaks).
3. ``--listings`` module listings (default 40), one after another: the daemon's CPU per
   connection (user + system of all its processes, those it reaped included), in each of
   the ``--repeat`` rounds, interleaved like the bursts.

    python benchmarks/concurrent.py
    python benchmarks/concurrent.py --clients 16 --size-mib 16 --repeat 2
    python benchmarks/concurrent.py --json concurrent.json   # the same figures, also as JSON
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_data import descendants, free_port, our_program, wait_port  # noqa: E402
from transfers import Daemon, compile_bytecode, on_tmpfs  # noqa: E402

DATA = "data.bin"


def make_file(path: Path, size_mib: int) -> str:
    """The served file (seeded, made once per size); returns its SHA-256."""
    if not path.exists() or path.stat().st_size != size_mib << 20:
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = random.Random(1)
        with open(path, "wb") as fh:
            for _ in range(size_mib):
                fh.write(rng.randbytes(1 << 20))
    return _sha256(path)


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def start(name: str, argv: list[str], root: Path) -> Daemon:
    conf = root / f"{name}.conf"
    ids = "uid = root\ngid = root\n" if os.geteuid() == 0 else ""
    conf.write_text(f"use chroot = no\nreverse lookup = no\n{ids}[c]\npath = {root / 'c'}\n")
    port = free_port()
    proc = subprocess.Popen(
        [
            *argv,
            "--daemon",
            "--no-detach",
            f"--config={conf}",
            f"--port={port}",
            "--address=127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return Daemon(name, port, proc)


def _rollup_kib(pid: int, fields: tuple[str, ...]) -> int:
    """The sum of ``fields`` of /proc/PID/smaps_rollup, in KiB (0 once the process is gone)."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in fields:
                    total += int(rest.split()[0])
    except (OSError, ValueError):
        return 0
    return total


@dataclass
class _PssSampler:
    """Peak of the daemon's total PSS (its own and every descendant's), sampled."""

    pid: int
    peak_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _loop(self) -> None:
        while not self._stop.is_set():
            pids = [self.pid, *descendants(self.pid)]
            total = sum(_rollup_kib(p, ("Pss",)) for p in pids)
            self.peak_kib = max(self.peak_kib, total)
            time.sleep(0.05)

    def __enter__(self) -> _PssSampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Burst:
    seconds: float
    peak_pss_kib: int


def burst(d: Daemon, rsync: str, dest: Path, clients: int, digest: str) -> Burst:
    """``clients`` pulls at once from ``d``; every copy is checked afterwards."""
    shutil.rmtree(dest, ignore_errors=True)
    dirs = [dest / f"c{i:03d}" for i in range(clients)]
    for p in dirs:
        p.mkdir(parents=True)
    with _PssSampler(d.proc.pid) as sampler:
        start_t = time.perf_counter()
        procs = [
            subprocess.Popen(
                [rsync, "-a", f"rsync://127.0.0.1:{d.port}/c/{DATA}", f"{p}/"],
                stdout=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
            )
            for p in dirs
        ]
        codes = [p.wait() for p in procs]
        elapsed = time.perf_counter() - start_t
    if any(codes):
        msg = f"{d.name}: client exit codes {sorted(set(codes))}"
        raise SystemExit(msg)
    bad = [p for p in dirs if _sha256(p / DATA) != digest]
    if bad:
        msg = f"{d.name}: {len(bad)} of {clients} copies differ from the source"
        raise SystemExit(msg)
    shutil.rmtree(dest, ignore_errors=True)
    return Burst(elapsed, sampler.peak_kib)


def _cpu_ticks(pid: int) -> int:
    """User + system clock ticks of ``pid`` and its descendants, and of the children they reaped."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total


def listing_cpu_ms(d: Daemon, rsync: str, count: int) -> float:
    """The daemon's CPU milliseconds per connection over ``count`` module listings."""
    before = _cpu_ticks(d.proc.pid)
    for _ in range(count):
        subprocess.run(
            [rsync, f"rsync://127.0.0.1:{d.port}/c/"],
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            check=True,
        )
    time.sleep(0.5)  # the last connection process ends and is reaped
    ticks = _cpu_ticks(d.proc.pid) - before
    return ticks * 1000 / os.sysconf("SC_CLK_TCK") / count


def idle_private_kib(d: Daemon, count: int, *, greet: bool = True) -> list[int]:
    """Private memory of each connection process while ``count`` clients sit idle.

    ``greet``: each client sends its greeting first (else it never says a thing).
    """
    before = set(descendants(d.proc.pid))
    socks = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            s.recv(64)  # the daemon's "@RSYNCD: <version>" greeting
            if greet:
                s.sendall(b"@RSYNCD: 31.0\n")  # ours; then nothing: no module asked for
            socks.append(s)
        time.sleep(1.0)  # let each connection process reach its wait for the module name
        new = [p for p in descendants(d.proc.pid) if p not in before]
        return [_rollup_kib(p, ("Private_Clean", "Private_Dirty")) for p in new]
    finally:
        for s in socks:
            s.close()
        time.sleep(0.5)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dir", default="/dev/shm/pyrsync-concurrent", help="data and copies (tmpfs)")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--size-mib", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--idle", type=int, default=32, help="idle connections to measure")
    p.add_argument("--listings", type=int, default=40, help="listings per round (CPU)")
    p.add_argument("--rsync", default="rsync", help="the rsync to compare with")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args()
    root = Path(args.dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if not on_tmpfs(root):
        print(f"warning: {root} is not on tmpfs: the disk will be part of what is measured")
    digest = make_file(root / "c" / DATA, args.size_mib)
    compile_bytecode()
    daemons = {
        "pyrsyncd": start("pyrsyncd", our_program("pyrsyncd", "rsync_daemon"), root),
        "rsyncd": start("rsyncd", [args.rsync], root),
    }
    runs: dict[str, list[Burst]] = {name: [] for name in daemons}
    cpu: dict[str, list[float]] = {name: [] for name in daemons}
    idle: dict[str, list[int]] = {}
    silent: dict[str, list[int]] = {}
    try:
        for d in daemons.values():  # warm-up, not counted
            burst(d, args.rsync, root / "dest", min(4, args.clients), digest)
        for i in range(args.repeat):
            order = list(daemons) if i % 2 == 0 else list(reversed(daemons))
            for name in order:
                b = burst(daemons[name], args.rsync, root / "dest", args.clients, digest)
                runs[name].append(b)
                print(f"  run {i + 1} {name}: {b.seconds:.2f} s", file=sys.stderr)
            for name in order:
                cpu[name].append(listing_cpu_ms(daemons[name], args.rsync, args.listings))
        for name, d in daemons.items():
            idle[name] = idle_private_kib(d, args.idle)
            silent[name] = idle_private_kib(d, args.idle, greet=False)
    finally:
        for d in daemons.values():
            d.stop()
        shutil.rmtree(root / "dest", ignore_errors=True)
    ratios = [o.seconds / r.seconds for o, r in zip(runs["pyrsyncd"], runs["rsyncd"], strict=True)]
    cpu_ratios = [o / r for o, r in zip(cpu["pyrsyncd"], cpu["rsyncd"], strict=True) if r]
    print(
        f"{args.clients} clients pulling {args.size_mib} MiB each, {args.repeat} runs; "
        f"{args.idle} idle connections; {args.listings} listings a run"
    )
    print(
        "| daemon | seconds | ratio | peak total PSS MiB | idle connection private MiB "
        "(greeted / silent) | CPU ms per listing | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    figures: dict[str, dict[str, float | None]] = {}
    for name in daemons:
        secs = statistics.median(b.seconds for b in runs[name])
        pss = max(b.peak_pss_kib for b in runs[name]) / 1024
        medians = [statistics.median(m[name]) / 1024 if m[name] else None for m in (idle, silent)]
        conn = "/".join(f"{m:.2f}" if m is not None else "nan" for m in medians)
        ratio = f"{statistics.median(ratios):.2f}" if name == "pyrsyncd" else "1"
        per = statistics.median(cpu[name])
        cpu_ratio = "1"
        if name == "pyrsyncd":
            cpu_ratio = f"{statistics.median(cpu_ratios):.1f}" if cpu_ratios else "nan"
        print(f"| {name} | {secs:.2f} | {ratio} | {pss:.1f} | {conn} | {per:.1f} | {cpu_ratio} |")
        figures[name] = {
            "seconds": secs,
            "peak_pss_mib": pss,
            "idle_greeted_mib": medians[0],
            "idle_silent_mib": medians[1],
            "cpu_ms_per_listing": per,
        }
    if args.json:
        out = {
            "args": vars(args),
            "results": figures,
            "ratio": statistics.median(ratios),
            "cpu_ratio": statistics.median(cpu_ratios) if cpu_ratios else None,
            # burst() stops the script when a copy differs from the source
            "copies_checked": args.repeat * args.clients * len(daemons),
            "all_correct": True,
        }
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
