"""How long ``pyrsync --version`` takes beside ``rsync --version``, and which imports cost most.

Runs each command ``--repeat`` times, interleaved, as child processes, and prints the
median and the best wall time and the median CPU time (user + system, from ``wait4``) of
each: CPU time moves less than wall time with the load of a shared machine. Then runs
``python -X importtime -m rsync_client --version`` a few times and lists the modules with
the largest own import time (the smallest seen per module, which is the least disturbed).

    python benchmarks/startup.py                    # 30 runs each
    python benchmarks/startup.py --repeat 50 --top 25
    python benchmarks/startup.py --args -a rsync://host/mod/ /tmp/dest/   # a whole run
    python benchmarks/startup.py --json startup.json   # the same figures, also as JSON

The issue's target is 60 ms for ``pyrsync --version``. The script first writes the
``.pyc`` files of the installed packages (as transfers.py does): without them every run
compiles the sources, which is not what an installed program does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_data import our_program  # noqa: E402
from transfers import compile_bytecode  # noqa: E402


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` (its output dropped)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        msg = f"{argv} failed"
        raise SystemExit(msg)
    return wall, usage.ru_utime + usage.ru_stime


def import_times(argv: list[str], runs: int) -> dict[str, tuple[int, int]]:
    """Per module: the smallest own and cumulative import time (µs) over ``runs`` runs."""
    best: dict[str, tuple[int, int]] = {}
    for _ in range(runs):
        err = subprocess.run(
            [sys.executable, "-X", "importtime", *argv],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        ).stderr
        for line in err.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            own, cumulative, name = line[len("import time:") :].split("|")
            key = name.strip()
            old = best.get(key, (1 << 62, 1 << 62))
            best[key] = (min(old[0], int(own)), min(old[1], int(cumulative)))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--top", type=int, default=15, help="modules listed by own import time")
    p.add_argument("--rsync", default="rsync")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--args", nargs=argparse.REMAINDER, default=["--version"])
    args = p.parse_args()
    compile_bytecode()
    ours = [*our_program("pyrsync", "rsync_client"), *args.args]
    theirs = [args.rsync, *args.args]
    results: dict[str, list[tuple[float, float]]] = {"pyrsync": [], "rsync": []}
    for i in range(args.repeat):
        pair = [("pyrsync", ours), ("rsync", theirs)]
        for name, argv in pair if i % 2 == 0 else pair[::-1]:
            results[name].append(timed(argv))
    print(f"{' '.join(args.args)}: {args.repeat} runs each, load average {os.getloadavg()[0]:.1f}")
    print("| program | wall median ms | wall best ms | CPU median ms |")
    print("|---|---|---|---|")
    figures: dict[str, dict[str, float]] = {}
    for name, runs in results.items():
        walls = [w for w, _ in runs]
        cpus = [c for _, c in runs]
        figures[name] = {
            "wall_median_ms": statistics.median(walls) * 1000,
            "wall_best_ms": min(walls) * 1000,
            "cpu_median_ms": statistics.median(cpus) * 1000,
        }
        print(
            f"| {name} | {figures[name]['wall_median_ms']:.1f} "
            f"| {figures[name]['wall_best_ms']:.1f} | {figures[name]['cpu_median_ms']:.1f} |"
        )
    best = import_times(["-m", "rsync_client", *args.args], runs=5)
    total = sum(own for own, _ in best.values())
    print(f"\nimports: {len(best)} modules, {total / 1000:.1f} ms of own import time (best of 5)")
    print("| module | own ms | cumulative ms |")
    print("|---|---|---|")
    top = sorted(best.items(), key=lambda kv: -kv[1][0])[: args.top]
    for key, (own, cumulative) in top:
        print(f"| {key} | {own / 1000:.1f} | {cumulative / 1000:.1f} |")
    if args.json:
        imports = [
            {"module": k, "own_ms": o / 1000, "cumulative_ms": c / 1000} for k, (o, c) in top
        ]
        out = {
            "args": vars(args),
            "results": figures,
            "import_total_ms": total / 1000,
            "imports": imports,
        }
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
