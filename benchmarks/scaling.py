"""How time and memory grow with the number of files: T3 and T4 at several tree sizes.

For each size (default 10,000, 100,000 and 1,000,000 files of 1 KiB in 1,000 directories)
this runs ``transfers.py``'s T3 (into an empty directory) and T4 (again, nothing changed)
in the chosen directions, ours beside rsync, interleaved run by run, data and destination
on tmpfs. It prints one table (seconds, ratio ours/rsync, peak RSS) and, when matplotlib
is installed, draws ``--plot`` (a PNG): seconds and peak MiB against the file count, ours
and rsync's, on log-log axes. The ratio should not grow with the size: a per-file cost
that does (a list walked per entry, a dict that is never freed) shows up here first.

    python benchmarks/scaling.py                               # 10k, 100k, 1M; pull-client
    python benchmarks/scaling.py --sizes 10000,100000 --directions pull-client,push-daemon
    python benchmarks/scaling.py --sizes 2000,20000 --repeat 1 --plot /tmp/scaling.png

A million files take about 1 GiB of tmpfs for the source and as much per destination.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import transfers  # noqa: E402

DEFAULT_SIZES = "10000,100000,1000000"


def measure(args: argparse.Namespace) -> dict[int, dict[str, dict[str, dict[str, float]]]]:
    """Run transfers.py's T3 and T4 for each size; returns size -> direction -> test -> row."""
    results: dict[int, dict[str, dict[str, dict[str, float]]]] = {}
    for files in sorted(int(s) for s in args.sizes.split(",")):
        print(f"== {files} files", file=sys.stderr)
        one = argparse.Namespace(
            dir=str(Path(args.dir) / f"n{files}"),
            size_mib=2,  # T1/T2 are not run; make_data still writes a small big.bin
            files=files,
            repeat=args.repeat,
            tests="T3,T4",
            directions=args.directions,
            rsync=args.rsync,
            verify=args.verify,
            json=None,
        )
        results[files] = transfers.run(one)
    return results


def report(results: dict[int, dict[str, dict[str, dict[str, float]]]]) -> None:
    print()
    print(
        "| direction | test | files | ours s | rsync s | ratio | ours µs/file "
        "| peak MiB ours / rsync |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for files, table in results.items():
        for direction, tests in table.items():
            for test, row in tests.items():
                rows.append((direction, test, files, row))
    for direction, test, files, row in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
        ours_mib, rsync_mib = _peaks(direction, row)
        print(
            f"| {direction} | {test} | {files:,} | {row['ours_s']:.2f} | {row['rsync_s']:.2f} "
            f"| {row['ratio']:.2f} | {1e6 * row['ours_s'] / files:.1f} "
            f"| {ours_mib:.1f} / {rsync_mib:.1f} |"
        )


def _peaks(direction: str, row: dict[str, float]) -> tuple[float, float]:
    """The peak of the side that is ours in this direction (client or daemon connection)."""
    side = "daemon" if direction.endswith("daemon") else "client"
    return row[f"ours_{side}_mib"], row[f"rsync_{side}_mib"]


def plot(results: dict[int, dict[str, dict[str, dict[str, float]]]], path: str) -> bool:
    """Draw seconds and peak MiB against the file count; False without matplotlib."""
    try:
        import matplotlib as mpl

        mpl.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = sorted(results)
    series: dict[tuple[str, str], list[dict[str, float]]] = {}
    for files in sizes:
        for direction, tests in results[files].items():
            for test, row in tests.items():
                series.setdefault((direction, test), []).append(row)
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 5))
    for (direction, test), rows in sorted(series.items()):
        label = f"{direction} {test}"
        line = ax_t.plot(sizes, [r["ours_s"] for r in rows], marker="o", label=f"ours {label}")
        color = line[0].get_color()
        ax_t.plot(
            sizes,
            [r["rsync_s"] for r in rows],
            marker="x",
            ls="--",
            color=color,
            label=f"rsync {label}",
        )
        peaks = [_peaks(direction, r) for r in rows]
        ax_m.plot(sizes, [p[0] for p in peaks], marker="o", color=color, label=f"ours {label}")
        ax_m.plot(
            sizes, [p[1] for p in peaks], marker="x", ls="--", color=color, label=f"rsync {label}"
        )
    for ax, title, unit in ((ax_t, "time", "seconds"), (ax_m, "peak RSS", "MiB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("files")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(visible=True, which="both", alpha=0.3)
    ax_t.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dir", default="/dev/shm/pyrsync-scaling", help="data and destinations")
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="file counts, comma-separated")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--directions", default="pull-client")
    p.add_argument("--rsync", default="rsync", help="the rsync to compare with")
    p.add_argument("--no-verify", dest="verify", action="store_false")
    p.add_argument("--plot", default="scaling.png", help="the PNG to draw (needs matplotlib)")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args()
    results = measure(args)
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps({str(k): v for k, v in results.items()}, indent=2))
    if plot(results, args.plot):
        print(f"\nplot: {args.plot}")
    else:
        print("\nno plot: matplotlib is not installed (hatch run bench:scaling has it)")


if __name__ == "__main__":
    main()
