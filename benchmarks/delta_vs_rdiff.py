"""rsync-delta's CLI against rdiff (librsync) on the same files, in the same run.

Generates, in a temporary directory (default /dev/shm), a random basis, a new version
with scattered changes ("changed"), and a new file sharing nothing with the basis
("unrelated"). Runs signature, delta and patch with ``rsync-delta`` and with ``rdiff``,
each as a child process, the two tools' runs of a step interleaved (who goes first
alternating); keeps each tool's fastest run; measures wall time and the child's peak RSS
(``os.wait4``, through GNU ``time`` when it is installed: see `run`);
checks that every patched output is byte-identical to its new file (``cmp``); prints a
table with the ratios ours/rdiff and the issue's targets.

    hatch run bench:delta                      # 1 GiB, as in the issue
    python benchmarks/delta_vs_rdiff.py --size 64M --repeat 3
    python benchmarks/delta_vs_rdiff.py --json delta.json   # the same figures, also as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
GiB = 1 << 30


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": MiB, "G": GiB}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


@dataclass
class Run:
    wall: float
    rss_kib: int


GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


def run(argv: list[str]) -> Run:
    """Run a child process; return its wall time and peak RSS; fail loudly on error.

    Linux charges a child with the memory high-water mark of the process it was forked
    from (with vfork, of the parent's whole life), so ``os.wait4`` on a direct child
    of this Python process over-reports small tools. GNU time is a small C program: the
    child it forks starts from its few hundred KiB, and it reports that child's
    ``ru_maxrss`` (from wait4) as %M. Without it the wait4 figure of the direct child is
    used (this process stays small: the data is generated in a separate process).
    """
    prefix = [GNU_TIME, "-f", "%M", "-o", "/dev/stderr"] if GNU_TIME else []
    start = time.perf_counter()
    proc = subprocess.Popen([*prefix, *argv], stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code:
        sys.exit(f"{' '.join(argv)} failed with exit code {code}: {stderr.strip()}")
    rss = usage.ru_maxrss
    if GNU_TIME:
        rss = int(stderr.strip().splitlines()[-1])
    return Run(wall, rss)


def interleaved(
    repeat: int, ours: tuple[list[str], Path], rdiff: tuple[list[str], Path]
) -> tuple[Run, Run]:
    """Run both tools `repeat` times, alternating run by run (who goes first alternating
    too), each output removed before its run; keep each tool's fastest run and its largest
    peak RSS."""
    best: list[Run | None] = [None, None]
    sides = (ours, rdiff)
    for i in range(repeat):
        for who in (0, 1) if i % 2 == 0 else (1, 0):
            argv, out = sides[who]
            out.unlink(missing_ok=True)
            result = run(argv)
            old = best[who]
            if old is None or result.wall < old.wall:
                best[who] = Run(result.wall, max(result.rss_kib, old.rss_kib if old else 0))
            else:
                old.rss_kib = max(old.rss_kib, result.rss_kib)
    a, b = best
    assert a is not None
    assert b is not None
    return a, b


def generate(work: Path, size: int, changes: int, change_size: int, seed: int) -> None:
    """Write basis, changed and unrelated into `work` (run in a child process)."""
    import numpy as np  # only in the generating child, to keep the parent small

    rng = np.random.default_rng(seed)

    def write_random(path: Path) -> None:
        with path.open("wb") as f:
            left = size
            while left:
                n = min(left, 16 * MiB)
                f.write(rng.bytes(n))
                left -= n

    basis, changed = work / "basis", work / "changed"
    write_random(basis)
    # The changed file: the basis with `changes` scattered, disjoint stretches overwritten.
    shutil.copyfile(basis, changed)
    if size < changes * change_size * 2:
        changes = max(1, size // (change_size * 2))
    slot = size // changes
    with changed.open("r+b") as f:
        for k in range(changes):
            room = max(1, slot - change_size)
            offset = k * slot + int(rng.integers(0, room))
            f.seek(offset)
            f.write(rng.bytes(min(change_size, size - offset)))
    write_random(work / "unrelated")


def same(a: Path, b: Path) -> bool:
    return subprocess.run(["cmp", "-s", str(a), str(b)], check=False).returncode == 0


def ours_command() -> list[str]:
    """The console script beside this Python (its install), else on PATH, else ``-m``."""
    beside = Path(sys.executable).parent / "rsync-delta"
    if beside.exists():
        return [str(beside)]
    exe = shutil.which("rsync-delta")
    if exe:
        return [exe]
    return [sys.executable, "-m", "rsync_delta.cli"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=GiB, help="file size (e.g. 1G, 64M)")
    parser.add_argument("--dir", type=Path, help="where to put the files (default /dev/shm)")
    parser.add_argument("--changes", type=int, default=64, help="changed stretches")
    parser.add_argument("--change-size", type=parse_size, default=16 << 10)
    parser.add_argument("--repeat", type=int, default=1, help="runs per step; best is kept")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rdiff", default=shutil.which("rdiff") or "rdiff")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--json", type=Path, help="also write the table to this file")
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_into:
        generate(args.generate_into, args.size, args.changes, args.change_size, args.seed)
        return 0

    if not shutil.which(args.rdiff):
        sys.exit("rdiff not found (apt-get install rdiff)")
    base_dir = args.dir or (Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    work = Path(tempfile.mkdtemp(prefix="delta-bench-", dir=base_dir))
    ours = ours_command()
    rdiff = [args.rdiff]
    try:
        basis = work / "basis"
        changed = work / "changed"
        unrelated = work / "unrelated"
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--generate-into",
                str(work),
                "--size",
                str(args.size),
                "--changes",
                str(args.changes),
                "--change-size",
                str(args.change_size),
                "--seed",
                str(args.seed),
            ],
            check=True,
        )
        version = subprocess.run(
            [*rdiff, "--version"], capture_output=True, text=True, check=False
        ).stdout.splitlines()[0]
        print(
            f"files: {args.size / MiB:.0f} MiB each in {work} "
            f"(generated in {time.perf_counter() - t0:.1f} s)\nours: {' '.join(ours)}\n"
            f"rdiff: {version}; best of {args.repeat} run(s) per step"
        )

        rows: list[tuple[str, Run, Run, float, int, int]] = []

        def step(
            name: str,
            target: float,
            ours_argv: list[str],
            rdiff_argv: list[str],
            ours_out: Path,
            rdiff_out: Path,
        ) -> None:
            a, b = interleaved(args.repeat, (ours_argv, ours_out), (rdiff_argv, rdiff_out))
            rows.append((name, a, b, target, ours_out.stat().st_size, rdiff_out.stat().st_size))

        step(
            "signature",
            1.0,
            [*ours, "signature", str(basis), str(work / "o.sig")],
            [*rdiff, "signature", str(basis), str(work / "r.sig")],
            work / "o.sig",
            work / "r.sig",
        )
        for label, new in (("changed", changed), ("unrelated", unrelated)):
            step(
                f"delta {label}",
                0.5 if label == "changed" else 1.0,
                [*ours, "delta", str(work / "o.sig"), str(new), str(work / f"o.{label}.delta")],
                [*rdiff, "delta", str(work / "r.sig"), str(new), str(work / f"r.{label}.delta")],
                work / f"o.{label}.delta",
                work / f"r.{label}.delta",
            )
            step(
                f"patch {label}",
                1.0,
                [
                    *ours,
                    "patch",
                    str(basis),
                    str(work / f"o.{label}.delta"),
                    str(work / f"o.{label}.out"),
                ],
                [
                    *rdiff,
                    "patch",
                    str(basis),
                    str(work / f"r.{label}.delta"),
                    str(work / f"r.{label}.out"),
                ],
                work / f"o.{label}.out",
                work / f"r.{label}.out",
            )
            for who in ("o", "r"):
                out = work / f"{who}.{label}.out"
                if not same(out, new):
                    sys.exit(f"MISMATCH: {out} differs from {new}")
                out.unlink()
        print("all patched outputs are byte-identical to their new files (cmp)")
        print()
        head = (
            f"{'step':<16} {'ours s':>8} {'rdiff s':>8} {'ratio':>6} {'target':>7} "
            f"{'ours MiB':>9} {'rdiff MiB':>9} {'ours out':>12} {'rdiff out':>12}"
        )
        print(head)
        print("-" * len(head))
        met = True
        table: list[dict[str, object]] = []
        for name, a, b, target, osize, rsize in rows:
            ratio = a.wall / b.wall if b.wall else float("inf")
            ok = ratio <= target
            met &= ok
            print(
                f"{name:<16} {a.wall:8.2f} {b.wall:8.2f} {ratio:6.2f} "
                f"{'<=' + format(target, '.1f'):>5}{' ' if ok else '!'} "
                f"{a.rss_kib / 1024:9.1f} {b.rss_kib / 1024:9.1f} {osize:12,d} {rsize:12,d}"
            )
            table.append(
                {
                    "step": name,
                    "ours_s": a.wall,
                    "rdiff_s": b.wall,
                    "ratio": ratio,
                    "target": target,
                    "ours_mib": a.rss_kib / 1024,
                    "rdiff_mib": b.rss_kib / 1024,
                    "ours_out": osize,
                    "rdiff_out": rsize,
                }
            )
        print()
        print("targets met" if met else "some targets missed (marked !)")
        if args.json:
            settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
            figures = {"args": settings, "rdiff": version, "identical": True, "steps": table}
            args.json.write_text(json.dumps(figures, indent=2))
        return 0
    finally:
        if args.keep:
            print(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
