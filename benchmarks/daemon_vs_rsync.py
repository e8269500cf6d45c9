"""T1-T4: the real rsync client downloading from pyrsyncd and from ``rsync --daemon``.

Same data, same run, alternating the two daemons; medians of ``--repeat`` runs; ratios
ours/rsync. Data lives on tmpfs (``/dev/shm``) so that the file system is not what is
measured. Peak RSS is that of the daemon's connection process, sampled from /proc.

    hatch run bench:daemon [--size-mib 1024] [--files 100000] [--repeat 3]

T1: one file of --size-mib into an empty directory (-a, and -aW).
T2: that file with 0.1% changed in 64 places, onto the old copy (delta).
T3: --files files of 1 KiB in 1,000 directories into an empty directory.
T4: T3 again with nothing to do.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


from bench_data import free_port, make_data, wait_port  # noqa: E402


@dataclass
class Daemon:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    peak_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def url(self, module: str) -> str:
        return f"rsync://127.0.0.1:{self.port}/{module}/"

    def sample_children(self) -> None:
        """Record the largest VmHWM of any descendant while a transfer runs."""
        while not self._stop.is_set():
            for pid in _descendants(self.proc.pid):
                try:
                    with open(f"/proc/{pid}/status") as fh:
                        for line in fh:
                            if line.startswith("VmHWM:"):
                                self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                except OSError:
                    pass
            time.sleep(0.02)


def _descendants(pid: int) -> list[int]:
    out = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = [int(x) for x in fh.read().split()]
    except OSError:
        return out
    for k in kids:
        out.append(k)
        out.extend(_descendants(k))
    return out


def start_daemons(root: Path) -> list[Daemon]:
    conf = root / "rsyncd.conf"
    conf.write_text(
        "use chroot = no\nreverse lookup = no\n"
        + "".join(f"[{m}]\npath = {root / m}\n" for m in ("t1", "t2", "t3"))
    )
    daemons = []
    for name, argv in (
        ("pyrsyncd", [sys.executable, "-m", "rsync_daemon"]),
        ("rsync", ["rsync"]),
    ):
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
        daemons.append(Daemon(name, port, proc))
    return daemons


def timed(argv: list[str], daemon: Daemon) -> float:
    daemon._stop.clear()
    sampler = threading.Thread(target=daemon.sample_children, daemon=True)
    sampler.start()
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    daemon._stop.set()
    sampler.join()
    return elapsed


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    make_data(root, args.size_mib, args.files)
    daemons = start_daemons(root)
    dest = root / "dest"
    results: dict[str, dict[str, list[float]]] = {}
    peaks: dict[str, dict[str, int]] = {}

    def record(test: str, d: Daemon, seconds: float) -> None:
        results.setdefault(test, {}).setdefault(d.name, []).append(seconds)
        peaks.setdefault(test, {})[d.name] = max(peaks.get(test, {}).get(d.name, 0), d.peak_kib)
        d.peak_kib = 0

    try:
        for _ in range(args.repeat):
            for d in daemons:
                for test, flags in (("T1 -a", ["-a"]), ("T1 -aW", ["-aW"])):
                    shutil.rmtree(dest, ignore_errors=True)
                    record(test, d, timed(["rsync", *flags, d.url("t1"), f"{dest}/"], d))
                # T2: the old version is in place (from T1); fetch the changed one.
                record("T2 delta", d, timed(["rsync", "-a", d.url("t2"), f"{dest}/"], d))
                shutil.rmtree(dest, ignore_errors=True)
                record("T3 files", d, timed(["rsync", "-a", d.url("t3"), f"{dest}/"], d))
                record("T4 no-op", d, timed(["rsync", "-a", d.url("t3"), f"{dest}/"], d))
                shutil.rmtree(dest, ignore_errors=True)
    finally:
        for d in daemons:
            d.proc.terminate()
            d.proc.wait()
    table: dict[str, dict[str, float]] = {}
    print(
        f"{'test':10} {'pyrsyncd s':>11} {'rsync s':>9} {'ratio':>7} "
        f"{'ours RSS MiB':>13} {'rsync RSS MiB':>14}"
    )
    for test, by in results.items():
        ours = statistics.median(by["pyrsyncd"])
        theirs = statistics.median(by["rsync"])
        table[test] = {
            "pyrsyncd_s": ours,
            "rsync_s": theirs,
            "ratio": ours / theirs,
            "pyrsyncd_peak_mib": peaks[test]["pyrsyncd"] / 1024,
            "rsync_peak_mib": peaks[test]["rsync"] / 1024,
        }
        row = table[test]
        print(
            f"{test:10} {ours:11.2f} {theirs:9.2f} {row['ratio']:7.2f} "
            f"{row['pyrsyncd_peak_mib']:13.1f} {row['rsync_peak_mib']:14.1f}"
        )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "daemon_vs_rsync.json").write_text(
        json.dumps({"args": vars(args), "results": table}, indent=2)
    )
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dir", default="/dev/shm/pyrsync-bench")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    run(p.parse_args())


if __name__ == "__main__":
    main()
