"""T1-T4 with pyrsync as the client: pyrsync and rsync download from the same ``rsync --daemon``.

Same data, same run, the two clients alternating; medians of ``--repeat`` runs; ratios
pyrsync/rsync. Data and destinations live on tmpfs (``/dev/shm``). Peak RSS is the
client's (``wait4`` resource usage of the child process).

    python benchmarks/e2e_client.py [--size-mib 1024] [--files 100000] [--repeat 3]

T1: one file of --size-mib into an empty directory (-a).
T2: that file with 0.1% changed in 64 places, onto the old copy (delta, -a).
T3: --files files of 1 KiB in 1,000 directories into an empty directory (-a).
T4: T3 again with nothing to do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


from bench_data import free_port, make_data, wait_port  # noqa: E402


def start_daemon(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    conf = root / "rsyncd.conf"
    conf.write_text(
        "use chroot = no\nreverse lookup = no\n"
        + "".join(f"[{m}]\npath = {root / m}\n" for m in ("t1", "t2", "t3"))
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            "rsync",
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
    return proc, port


def timed(argv: list[str]) -> tuple[float, int]:
    """Run ``argv``; returns (seconds, peak RSS of the client in KiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        msg = f"{argv} exited with {proc.returncode}"
        raise SystemExit(msg)
    return elapsed, usage.ru_maxrss


CLIENTS = {
    "pyrsync": [
        sys.executable,
        "-c",
        "import sys; from rsync_client.cli import main; sys.exit(main())",
    ],
    "rsync": ["rsync"],
}


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    make_data(root, args.size_mib, args.files)
    daemon, port = start_daemon(root)
    dest = root / "dest"
    results: dict[str, dict[str, list[float]]] = {}
    peaks: dict[str, dict[str, int]] = {}

    def url(module: str) -> str:
        return f"rsync://127.0.0.1:{port}/{module}/"

    def record(test: str, client: str, argv_tail: list[str]) -> None:
        seconds, peak = timed([*CLIENTS[client], *argv_tail])
        results.setdefault(test, {}).setdefault(client, []).append(seconds)
        peaks.setdefault(test, {})[client] = max(peaks.get(test, {}).get(client, 0), peak)

    only = set(args.tests.split(","))
    try:
        for _ in range(args.repeat):
            for client in CLIENTS:
                if only & {"T1", "T2"}:
                    shutil.rmtree(dest, ignore_errors=True)
                    if "T1" in only:
                        record("T1", client, ["-a", url("t1"), f"{dest}/"])
                    else:
                        subprocess.run(["rsync", "-a", url("t1"), f"{dest}/"], check=True)
                    if "T2" in only:
                        record("T2", client, ["-a", url("t2"), f"{dest}/"])
                shutil.rmtree(dest, ignore_errors=True)
                if only & {"T3", "T4"}:
                    record("T3", client, ["-a", url("t3"), f"{dest}/"])
                    if "T4" in only:
                        record("T4", client, ["-a", url("t3"), f"{dest}/"])
                shutil.rmtree(dest, ignore_errors=True)
    finally:
        daemon.terminate()
        daemon.wait()
    table: dict[str, dict[str, float]] = {}
    print(
        f"{'test':5} {'pyrsync s':>10} {'rsync s':>9} {'ratio':>7} {'pyrsync RSS MiB':>16} "
        f"{'rsync RSS MiB':>14}"
    )
    for test, by in results.items():
        ours = statistics.median(by["pyrsync"])
        theirs = statistics.median(by["rsync"])
        table[test] = {
            "pyrsync_s": ours,
            "rsync_s": theirs,
            "ratio": ours / theirs,
            "pyrsync_peak_mib": peaks[test]["pyrsync"] / 1024,
            "rsync_peak_mib": peaks[test]["rsync"] / 1024,
        }
        row = table[test]
        print(
            f"{test:5} {ours:10.2f} {theirs:9.2f} {row['ratio']:7.2f} "
            f"{row['pyrsync_peak_mib']:16.1f} {row['rsync_peak_mib']:14.1f}"
        )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "e2e_client.json").write_text(
        json.dumps({"args": vars(args), "results": table}, indent=2)
    )
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dir", default="/dev/shm/pyrsync-client-bench")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tests", default="T1,T2,T3,T4")
    run(p.parse_args())


if __name__ == "__main__":
    main()
