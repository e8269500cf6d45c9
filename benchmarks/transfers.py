"""T1, T1W, T2, T3, T4 beside rsync, one direction per function, runs interleaved.

Needs only Python (with this repository's packages installed) and rsync. Every timed run is a
child process; ours and rsync's alternate run by run (who goes first alternates too), on the
same data, with data and destination on tmpfs (``/dev/shm``) so that the disk does not hide
the programs' own cost. Prints, per direction and test, the medians, the ratio ours/rsync
(the median of the per-pair ratios) and peak RSS: the client's (``wait4``; it counts the
client's forked children as rsync's client has them) and the daemon connection process's
(VmHWM of the daemon's descendants, sampled from /proc every 10 ms while the run lasts).

    python benchmarks/transfers.py [--size-mib 1024] [--files 100000] [--repeat 5]
    python benchmarks/transfers.py --tests T3,T4 --directions pull-client --repeat 9

T1: one file of --size-mib random MiB into an empty directory (-a); T1W: the same with -W.
T2: that file with 16 KiB changed in 64 places, onto the old copy (-a --no-whole-file).
T3: --files files of 1 KiB in 1,000 directories into an empty directory (-a).
T4: T3 again, nothing changed (-a).

Directions (one function each, ``DIRECTIONS``): ``pull-client`` is pyrsync against rsync as
the client, both downloading from ``rsync --daemon``; ``pull-daemon`` is pyrsyncd against
``rsync --daemon``, rsync's client downloading from each; ``push-client`` is pyrsync
against rsync as the client, both uploading to ``rsync --daemon``; ``push-daemon`` is
pyrsyncd receiving against ``rsync --daemon`` receiving, rsync's client uploading to each.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_data import descendants, free_port, make_data, our_program, wait_port  # noqa: E402

TESTS = ("T1", "T1W", "T2", "T3", "T4")
FLAGS = {
    "T1": ["-a"],
    "T1W": ["-aW"],
    "T2": ["-a", "--no-whole-file"],
    "T3": ["-a"],
    "T4": ["-a"],
}
MODULE = {"T1": "t1", "T1W": "t1", "T2": "t2", "T3": "t3", "T4": "t3"}


@dataclass
class Daemon:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    def url(self, module: str) -> str:
        return f"rsync://127.0.0.1:{self.port}/{module}/"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_daemon(name: str, argv: list[str], root: Path) -> Daemon:
    conf = root / "rsyncd.conf"
    ids = "uid = root\ngid = root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        "use chroot = no\nreverse lookup = no\n"
        + ids
        + "".join(f"[{m}]\npath = {root / m}\n" for m in ("t1", "t2", "t3"))
        # where uploads go (pyrsyncd binds module paths at start-up: they must exist then,
        # and are emptied between runs, never replaced)
        + "".join(
            f"[{m}]\npath = {root / d}\nread only = no\n"
            for m, d in (("up", "dest"), ("up4", "dest-t4"))
        )
    )
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


def _hwm_kib(pid: int | str) -> int:
    """A process's peak resident set (VmHWM) in KiB; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class _Sampler:
    """Largest VmHWM of the client (and its children) and of the daemon's descendants (its
    connection processes), sampled while a run lasts."""

    daemon: Daemon
    client_pid: int = 0
    client_kib: int = 0
    daemon_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid in descendants(self.daemon.proc.pid):
                self.daemon_kib = max(self.daemon_kib, _hwm_kib(pid))
            if self.client_pid:
                for pid in (self.client_pid, *descendants(self.client_pid)):
                    self.client_kib = max(self.client_kib, _hwm_kib(pid))
            time.sleep(0.01)

    def __enter__(self) -> _Sampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Run:
    """One side of a pair: a client command line against a daemon."""

    argv: list[str]
    daemon: Daemon


@dataclass
class Sample:
    seconds: float
    client_kib: int
    daemon_kib: int


def timed(run: Run) -> Sample:
    # A forked child's peak (wait4) starts at this process's size before its exec: it is
    # exact only above that floor; below it the sampled VmHWM is what there is.
    floor = _hwm_kib("self")
    with _Sampler(run.daemon) as sampler:
        start = time.perf_counter()
        proc = subprocess.Popen(run.argv, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        sampler.client_pid = proc.pid
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        msg = f"{run.argv} exited with {proc.returncode}"
        raise SystemExit(msg)
    client = usage.ru_maxrss if usage.ru_maxrss > floor else sampler.client_kib
    return Sample(elapsed, client, sampler.daemon_kib)


@dataclass
class Bench:
    root: Path
    dest: Path
    rsyncd: Daemon
    pyrsyncd: Daemon
    pyrsync: list[str]
    rsync: list[str]


# A direction: for a test and a destination, the pair (ours, rsync's) of runs to compare.
Direction = Callable[[Bench, str, Path], tuple[Run, Run]]


def pull_client(b: Bench, test: str, dest: Path) -> tuple[Run, Run]:
    """pyrsync ← rsyncd beside rsync ← rsyncd."""
    tail = [*FLAGS[test], b.rsyncd.url(MODULE[test]), f"{dest}/"]
    return Run([*b.pyrsync, *tail], b.rsyncd), Run([*b.rsync, *tail], b.rsyncd)


def pull_daemon(b: Bench, test: str, dest: Path) -> tuple[Run, Run]:
    """rsync ← pyrsyncd beside rsync ← rsyncd."""

    def run(d: Daemon) -> Run:
        return Run([*b.rsync, *FLAGS[test], d.url(MODULE[test]), f"{dest}/"], d)

    return run(b.pyrsyncd), run(b.rsyncd)


def _upload_module(test: str) -> str:
    return "up4" if test == "T4" else "up"


def push_client(b: Bench, test: str, dest: Path) -> tuple[Run, Run]:  # noqa: ARG001 - the API
    """pyrsync → rsyncd beside rsync → rsyncd (the client sends)."""
    tail = [*FLAGS[test], f"{b.root / MODULE[test]}/", b.rsyncd.url(_upload_module(test))]
    return Run([*b.pyrsync, *tail], b.rsyncd), Run([*b.rsync, *tail], b.rsyncd)


def push_daemon(b: Bench, test: str, dest: Path) -> tuple[Run, Run]:  # noqa: ARG001 - the API
    """rsync → pyrsyncd beside rsync → rsyncd (the daemon receives an upload)."""

    def run(d: Daemon) -> Run:
        src = f"{b.root / MODULE[test]}/"
        return Run([*b.rsync, *FLAGS[test], src, d.url(_upload_module(test))], d)

    return run(b.pyrsyncd), run(b.rsyncd)


DIRECTIONS: dict[str, Direction] = {
    "pull-client": pull_client,
    "pull-daemon": pull_daemon,
    "push-client": push_client,
    "push-daemon": push_daemon,
}


def _empty(directory: Path) -> None:
    """Remove what ``directory`` holds, keeping the directory (a daemon module's root)."""
    directory.mkdir(exist_ok=True)
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def prepare(b: Bench, test: str) -> Path:
    """Put the destination in the state ``test`` starts from; returns it."""
    if test == "T4":
        # A no-op run leaves its destination as it was: one full copy serves every T4 run.
        _empty(b.dest)  # T3's copy is not needed any more (inodes: see below)
        dest = b.root / "dest-t4"
        # named after the tree's size: a copy of another --files tree is not T4's start
        marker = dest / f".copied-{_count_files(b.root / 't3')}"
        if not marker.exists():
            _empty(dest)
            subprocess.run(
                [*b.rsync, "-a", b.rsyncd.url("t3"), f"{dest}/"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            marker.write_text("")
        return dest
    if _free_inodes(b.dest) < 2 * _count_files(b.root / "t3"):
        # a million-file tree three times over (source, T4's copy, this run's) can
        # exceed a tmpfs's inodes: T4's copy is made again when it is next needed
        _empty(b.root / "dest-t4")
    _empty(b.dest)
    if test == "T2":
        shutil.copy2(b.root / "t1" / "big.bin", b.dest / "big.bin")
    return b.dest


def _free_inodes(path: Path) -> int:
    st = os.statvfs(path.parent if not path.exists() else path)
    return st.f_favail if st.f_files else 1 << 62  # some file systems have no inode limit


def _count_files(t3: Path) -> int:
    marker = next(t3.glob(".complete-*"), None)
    return int(marker.name.rsplit("-", 1)[1]) if marker is not None else 0


def _digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha1").hexdigest()


def verify(b: Bench, test: str, dest: Path) -> None:
    """The destination holds what the source holds (names, sizes, mtimes; T1/T2 content)."""
    src = b.root / MODULE[test]
    if test in ("T1", "T1W", "T2"):
        ok = _digest(dest / "big.bin") == _digest(src / "big.bin")
        ok = ok and (dest / "big.bin").stat().st_mtime == (src / "big.bin").stat().st_mtime
    else:

        def listing(top: Path) -> set[tuple[str, int, int]]:
            return {
                (str(p.relative_to(top)), p.stat().st_size, int(p.stat().st_mtime))
                for p in top.rglob("*")
                if p.is_file() and not p.name.startswith((".complete", ".copied"))
            }

        ok = listing(dest) == listing(src)
    if not ok:
        msg = f"{test}: {dest} differs from {src}"
        raise SystemExit(msg)


def compile_bytecode() -> None:
    """Write the .pyc files a run imports: pyrsync confines itself before some lazy imports
    and cannot write them then, so an install without them (uv's default) would compile
    numpy and the rest in every run."""
    roots = [p for p in sys.path if p and Path(p).is_dir() and not p.startswith(sys.base_prefix)]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j0", *roots],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def on_tmpfs(path: Path) -> bool:
    best, fstype = "", ""
    with open("/proc/mounts") as fh:
        for line in fh:
            parts = line.split()
            mnt = parts[1]
            if str(path).startswith(mnt) and len(mnt) > len(best):
                best, fstype = mnt, parts[2]
    return fstype == "tmpfs"


def run(args: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    root = Path(args.dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if not on_tmpfs(root):
        print(f"warning: {root} is not on tmpfs: the disk will be part of what is measured")
    make_data(root, args.size_mib, args.files)
    compile_bytecode()
    tests = [t for t in TESTS if t in args.tests.split(",")]
    directions = [d for d in DIRECTIONS if d in args.directions.split(",")]
    for d in ("dest", "dest-t4"):
        (root / d).mkdir(exist_ok=True)
    rsyncd = start_daemon("rsyncd", [args.rsync], root)
    pyrsyncd = start_daemon("pyrsyncd", our_program("pyrsyncd", "rsync_daemon"), root)
    b = Bench(
        root, root / "dest", rsyncd, pyrsyncd, our_program("pyrsync", "rsync_client"), [args.rsync]
    )
    samples: dict[tuple[str, str], list[tuple[Sample, Sample]]] = {}
    try:
        for name in directions:  # warm-up, not counted: caches, daemons' first connection
            for r in DIRECTIONS[name](b, tests[0], prepare(b, tests[0])):
                timed(r)
        for i in range(args.repeat):
            for test in tests:
                for name in directions:
                    order = [0, 1] if i % 2 == 0 else [1, 0]  # 0: ours, 1: rsync
                    got: dict[int, Sample] = {}
                    for who in order:
                        dest = prepare(b, test)
                        got[who] = timed(DIRECTIONS[name](b, test, dest)[who])
                        if i == 0 and args.verify:
                            verify(b, test, dest)
                    samples.setdefault((name, test), []).append((got[0], got[1]))
                    print(
                        f"  run {i + 1} {name} {test}: ours {got[0].seconds:.2f} s, "
                        f"rsync {got[1].seconds:.2f} s",
                        file=sys.stderr,
                    )
    finally:
        rsyncd.stop()
        pyrsyncd.stop()
        shutil.rmtree(b.dest, ignore_errors=True)
    return report(samples, args)


def report(
    samples: dict[tuple[str, str], list[tuple[Sample, Sample]]], args: argparse.Namespace
) -> dict[str, dict[str, dict[str, float]]]:
    table: dict[str, dict[str, dict[str, float]]] = {}
    print(
        "| direction | test | ours s | rsync s | ratio | client MiB ours / rsync "
        "| daemon conn MiB ours / rsync |"
    )
    print("|---|---|---|---|---|---|---|")
    for (name, test), pairs in samples.items():
        ours_s = statistics.median(p[0].seconds for p in pairs)
        rsync_s = statistics.median(p[1].seconds for p in pairs)
        ratio = statistics.median(p[0].seconds / p[1].seconds for p in pairs)
        client = (
            max(p[0].client_kib for p in pairs) / 1024,
            max(p[1].client_kib for p in pairs) / 1024,
        )
        daemon = (
            max(p[0].daemon_kib for p in pairs) / 1024,
            max(p[1].daemon_kib for p in pairs) / 1024,
        )
        table.setdefault(name, {})[test] = {
            "ours_s": ours_s,
            "rsync_s": rsync_s,
            "ratio": ratio,
            "ours_client_mib": client[0],
            "rsync_client_mib": client[1],
            "ours_daemon_mib": daemon[0],
            "rsync_daemon_mib": daemon[1],
        }
        print(
            f"| {name} | {test} | {ours_s:.2f} | {rsync_s:.2f} | {ratio:.2f} "
            f"| {client[0]:.1f} / {client[1]:.1f} | {daemon[0]:.1f} / {daemon[1]:.1f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": table}, indent=2))
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dir", default="/dev/shm/pyrsync-bench", help="data and destination (tmpfs)")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--tests", default=",".join(TESTS))
    p.add_argument("--directions", default=",".join(DIRECTIONS))
    p.add_argument("--rsync", default="rsync", help="the rsync to compare with")
    p.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip checking the first run's destination against the source",
    )
    p.add_argument("--json", help="also write the table to this file")
    run(p.parse_args())


if __name__ == "__main__":
    main()
