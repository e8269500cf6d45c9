"""Every target of issue 14 beside rsync (or rdiff), in one table of ratios.

Runs the benchmarks that measure the targets, one after another, each as a child process of
this Python writing its figures as JSON, then prints one markdown table (one row per
measured cell: ours, rsync's or rdiff's, the ratio ours/theirs, the goal, whether it is
met) and, with ``--json``, writes the same rows and every part's own figures to a file.
The parts (``--only``):

- ``transfers``: transfers.py, T1, T1W, T2, T3, T4 in the four directions (time, and the
  peak RSS of our side: the client, or the daemon's connection process);
- ``concurrent``: concurrent.py, many clients pulling from pyrsyncd at once beside rsyncd,
  idle connections' private memory, the daemon's CPU per module listing;
- ``startup``: startup.py, ``pyrsync --version`` beside ``rsync --version``;
- ``delta``: delta_vs_rdiff.py, rsync-delta's CLI beside rdiff;
- ``scaling``: scaling.py, T3 and T4 (pull-client) at several tree sizes.

Data and destinations go under ``--dir`` (default ``/dev/shm/pyrsync-targets``, on tmpfs),
one directory per part; the generated data stays there for the next run (each script makes
it again only when a size changes). Within every script ours and theirs run interleaved,
run by run. A part that fails (rdiff missing, a
copy that differs) gives a row that says so, and the others still run. The children's own
output goes to stderr, so that stdout holds the table only.

    python benchmarks/targets.py                       # the issue's sizes (about half an hour)
    python benchmarks/targets.py --only startup,delta --delta-size 64M
    python benchmarks/targets.py --size-mib 16 --files 500 --repeat 1 --clients 4 \\
        --client-mib 4 --delta-size 16M --scaling-sizes 200,1000   # a quick look
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

PARTS = ("transfers", "concurrent", "startup", "delta", "scaling")
TESTS = ("T1", "T1W", "T2", "T3", "T4")
DIRECTIONS = ("pull-client", "pull-daemon", "push-client", "push-daemon")
# Runs per measurement when --repeat is not given: enough for a median, and the whole
# default run stays within about half an hour on a 2-core machine (scaling's million-file
# runs are most of it).
DEFAULT_REPEAT = {"transfers": 3, "concurrent": 3, "startup": 30, "delta": 3, "scaling": 2}

RSS_GOAL_MIB = 32.0  # a client, a daemon connection, a delta step
IDLE_GOAL_MIB = 2.0  # one idle daemon connection's private memory
VERSION_GOAL_MS = 60.0  # pyrsync --version, median wall time
SCALING_GROWTH = 1.15  # the largest tree's ratio at most this times the smallest's
# delta steps on the mostly unchanged file: at most half rdiff's time; the unrelated
# file's steps keep delta_vs_rdiff.py's own target, rdiff's time
DELTA_GOALS = {"signature": 0.5, "delta changed": 0.5, "patch changed": 0.5}

Value = float | str | list[float] | None


@dataclass
class Row:
    """One measured cell: ours beside theirs, the ratio, the goal and whether it is met.

    ``met`` is None where there is no goal or nothing was measured; ``digits`` is how
    many decimals the table shows of ``ours`` and ``theirs``; ``failed``: the part did not
    finish, and ``ours`` says why.
    """

    target: str
    ours: Value
    theirs: Value
    ratio: Value
    goal: str
    met: bool | None
    digits: int = 2
    failed: bool = False


def _cell(value: Value, digits: int) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " / ".join(_cell(v, digits) for v in value)
    return f"{value:.{digits}f}"


def _met(row: Row) -> str:
    if row.met is None:
        return "failed" if row.failed else "—"
    return "yes" if row.met else "**no**"


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if ours is not None and theirs else None


def _memory_row(
    target: str, ours: float | None, theirs: float | None, goal: float, *, digits: int = 1
) -> Row:
    """A memory cell whose goal is an absolute ceiling for ours, in MiB."""
    met = ours is not None and ours <= goal
    return Row(target, ours, theirs, _ratio(ours, theirs), f"≤ {goal:g} MiB", met, digits)


def _files(n: int) -> str:
    """10000 -> 10k, 1000000 -> 1M (the scaling rows' sizes)."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size:
            return f"{n / size:g}{unit}"
    return str(n)


# -- each part: its command line, and its JSON turned into rows --------------------------


def transfers_argv(args: argparse.Namespace, _: Path) -> list[str]:
    sizes = ["--size-mib", str(args.size_mib), "--files", str(args.files)]
    return ["transfers.py", "--dir", str(args.dir / "transfers"), *sizes]


def transfers_rows(data: dict[str, Any], _: argparse.Namespace) -> list[Row]:
    results = data["results"]
    rows = []
    for test in TESTS:
        for direction in DIRECTIONS:
            row = results.get(direction, {}).get(test)
            if row is None:
                continue
            ratio = row["ratio"]
            name = f"{test} {direction}"
            rows.append(
                Row(
                    f"{name} time s",
                    row["ours_s"],
                    row["rsync_s"],
                    ratio,
                    "ratio ≤ 1.0",
                    ratio <= 1.0,
                )
            )
            side = "daemon" if direction.endswith("daemon") else "client"
            label = "daemon conn" if side == "daemon" else "client"
            ours, theirs = row[f"ours_{side}_mib"], row[f"rsync_{side}_mib"]
            rows.append(_memory_row(f"{name} {label} RSS MiB", ours, theirs, RSS_GOAL_MIB))
    return rows


def concurrent_argv(args: argparse.Namespace, _: Path) -> list[str]:
    clients = ["--clients", str(args.clients), "--size-mib", str(args.client_mib)]
    return ["concurrent.py", "--dir", str(args.dir / "concurrent"), *clients]


def concurrent_rows(data: dict[str, Any], _: argparse.Namespace) -> list[Row]:
    ours, theirs = data["results"]["pyrsyncd"], data["results"]["rsyncd"]
    settings = data["args"]
    burst = f"{settings['clients']} clients x {settings['size_mib']} MiB burst s"
    ratio = data["ratio"]
    correct = bool(data["all_correct"])
    rows = [
        Row(
            burst,
            ours["seconds"],
            theirs["seconds"],
            ratio,
            "ratio ≤ 1.0, all copies correct",
            ratio <= 1.0 and correct,
        ),
        Row(
            "burst peak total PSS MiB",
            ours["peak_pss_mib"],
            theirs["peak_pss_mib"],
            _ratio(ours["peak_pss_mib"], theirs["peak_pss_mib"]),
            "—",
            None,
            1,
        ),
    ]
    for kind in ("greeted", "silent"):
        a, b = ours[f"idle_{kind}_mib"], theirs[f"idle_{kind}_mib"]
        rows.append(_memory_row(f"idle connection {kind} MiB", a, b, IDLE_GOAL_MIB, digits=2))
    rows.append(
        Row(
            "daemon CPU ms per listing",
            ours["cpu_ms_per_listing"],
            theirs["cpu_ms_per_listing"],
            data["cpu_ratio"],
            "—",
            None,
            1,
        )
    )
    return rows


def startup_argv(_args: argparse.Namespace, _out: Path) -> list[str]:
    return ["startup.py"]


def startup_rows(data: dict[str, Any], _: argparse.Namespace) -> list[Row]:
    ours, theirs = data["results"]["pyrsync"], data["results"]["rsync"]
    wall = ours["wall_median_ms"], theirs["wall_median_ms"]
    cpu = ours["cpu_median_ms"], theirs["cpu_median_ms"]
    return [
        Row(
            "--version ms (median wall)",
            *wall,
            _ratio(*wall),
            f"≤ {VERSION_GOAL_MS:g} ms",
            wall[0] <= VERSION_GOAL_MS,
            1,
        ),
        Row("--version CPU ms (median)", *cpu, _ratio(*cpu), "—", None, 1),
    ]


def delta_argv(args: argparse.Namespace, _: Path) -> list[str]:
    (args.dir / "delta").mkdir(parents=True, exist_ok=True)
    return ["delta_vs_rdiff.py", "--dir", str(args.dir / "delta"), "--size", args.delta_size]


def delta_rows(data: dict[str, Any], _: argparse.Namespace) -> list[Row]:
    rows = []
    for step in data["steps"]:
        name, ratio = step["step"], step["ratio"]
        goal = DELTA_GOALS.get(name, step["target"])
        rows.append(
            Row(
                f"delta: {name} s",
                step["ours_s"],
                step["rdiff_s"],
                ratio,
                f"ratio ≤ {goal:.1f}",
                ratio <= goal,
            )
        )
    for step in data["steps"]:
        ours, theirs = step["ours_mib"], step["rdiff_mib"]
        rows.append(_memory_row(f"delta: {step['step']} RSS MiB", ours, theirs, RSS_GOAL_MIB))
    return rows


def scaling_argv(args: argparse.Namespace, out: Path) -> list[str]:
    plot = ["--plot", str(args.plot or out.with_suffix(".png"))]
    return ["scaling.py", "--dir", str(args.dir / "scaling"), "--sizes", args.scaling_sizes, *plot]


def scaling_rows(data: dict[str, Any], _: argparse.Namespace) -> list[Row]:
    sizes = sorted(int(k) for k in data)
    labels = "/".join(_files(n) for n in sizes)
    cells: dict[tuple[str, str], list[dict[str, float]]] = {}
    for n in sizes:
        for direction, tests in data[str(n)].items():
            for test, row in tests.items():
                cells.setdefault((test, direction), []).append(row)
    rows = []
    for (test, direction), per_size in sorted(cells.items()):
        ratios = [r["ratio"] for r in per_size]
        name = f"scaling {test} {direction} {labels}"
        rows.append(
            Row(
                f"{name} s",
                [r["ours_s"] for r in per_size],
                [r["rsync_s"] for r in per_size],
                ratios,
                f"last ratio ≤ {SCALING_GROWTH:g} x first",
                ratios[-1] <= SCALING_GROWTH * ratios[0],
            )
        )
        side = "daemon" if direction.endswith("daemon") else "client"
        ours = [r[f"ours_{side}_mib"] for r in per_size]
        theirs = [r[f"rsync_{side}_mib"] for r in per_size]
        rows.append(
            Row(
                f"{name} {side} RSS MiB",
                ours,
                theirs,
                [o / t if t else 0.0 for o, t in zip(ours, theirs, strict=True)],
                "—",
                None,
                1,
            )
        )
    return rows


PART_ARGV = {
    "transfers": transfers_argv,
    "concurrent": concurrent_argv,
    "startup": startup_argv,
    "delta": delta_argv,
    "scaling": scaling_argv,
}
PART_ROWS = {
    "transfers": transfers_rows,
    "concurrent": concurrent_rows,
    "startup": startup_rows,
    "delta": delta_rows,
    "scaling": scaling_rows,
}


def _repeat(args: argparse.Namespace, part: str) -> int:
    return int(args.repeat) if args.repeat is not None else DEFAULT_REPEAT[part]


# -- running -----------------------------------------------------------------------------


def run_part(part: str, args: argparse.Namespace, work: Path) -> tuple[list[Row], Any, float]:
    """Run one part's script as a child process; its rows, its JSON and its seconds.

    The child's output goes to stderr line by line. A child that fails, or writes no JSON,
    gives one row naming the part and the reason (its exit code and last line).
    """
    out = work / f"{part}.json"
    script, *rest = PART_ARGV[part](args, out)
    # what every part takes: its runs, its JSON, and the C tool it is measured against
    rest += ["--repeat", str(_repeat(args, part)), "--json", str(out)]
    if part == "delta":
        rest += ["--rdiff", args.rdiff] if args.rdiff else []
    elif args.rsync:
        rest += ["--rsync", args.rsync]
    argv = [sys.executable, str(HERE / script), *rest]
    print(f"== {part}: {' '.join(argv)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    tail: collections.deque[str] = collections.deque(maxlen=5)
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stderr.write(line)
            if line.strip():
                tail.append(line.strip())
    seconds = time.perf_counter() - start
    reason = f"exit code {proc.returncode}" if proc.returncode else ""
    if not reason and not out.exists():
        reason = "no JSON written"
    if not reason:
        data = json.loads(out.read_text())
        try:
            return PART_ROWS[part](data, args), data, seconds
        except (KeyError, TypeError, ValueError) as exc:
            reason = f"unexpected JSON ({exc!r})"
    last = tail[-1] if tail else ""
    failed = Row(
        part,
        f"failed: {reason}" + (f": {last}" if last else ""),
        None,
        None,
        "—",
        None,
        failed=True,
    )
    return [failed], None, seconds


def table(rows: list[Row], theirs: str) -> list[str]:
    lines = [
        f"| target | ours | {theirs} | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.target} | {_cell(r.ours, r.digits)} | {_cell(r.theirs, r.digits)} "
        f"| {_cell(r.ratio, 2)} | {r.goal} | {_met(r)} |"
        for r in rows
    ]
    return lines


def notes(
    rows: list[Row], parts: list[str], seconds: dict[str, float], load: tuple[float, float]
) -> list[str]:
    how = {
        "transfers": "transfers: the median of the per-pair ratios",
        "concurrent": "the burst: the median of the per-run ratios",
        "delta": "delta: each tool's fastest run",
        "scaling": "scaling: the median of the per-pair ratios at each size",
    }
    formed = "; ".join(how[p] for p in parts if p in how)
    out = [
        "Ratios are ours / theirs (rsync or rsyncd; rdiff for the delta rows)"
        + (f"; {formed}" if formed else "")
        + ". RSS and PSS are peaks; the idle connections' MiB are medians of their private"
        " memory.",
    ]
    if "scaling" in parts:
        out.append(
            f"Scaling: the ratio at each tree size, smallest to largest; met when the largest "
            f"size's ratio is at most {SCALING_GROWTH:g} times the smallest's (the ratio does "
            "not grow with the size)."
        )
    goals = [r for r in rows if r.met is not None]
    failed = [r.target for r in rows if r.failed]
    out.append(
        f"{sum(r.met is True for r in goals)} of {len(goals)} goals met"
        + (f"; not measured: {', '.join(failed)}." if failed else ".")
    )
    spent = ", ".join(f"{p} {seconds[p] / 60:.1f} min" for p in parts if p in seconds)
    out.append(f"Load average {load[0]:.1f} at the start, {load[1]:.1f} at the end; {spent}.")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--dir",
        type=Path,
        default=Path("/dev/shm/pyrsync-targets"),
        help="data and destinations, one directory per part (tmpfs; kept for the next run)",
    )
    p.add_argument("--only", default=",".join(PARTS), help="parts to run, comma-separated")
    p.add_argument("--size-mib", type=int, default=1024, help="transfers: T1/T2 file MiB")
    p.add_argument("--files", type=int, default=100_000, help="transfers: T3/T4 files")
    p.add_argument(
        "--repeat",
        type=int,
        help="runs per measurement in every part (default: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_REPEAT.items())
        + ")",
    )
    p.add_argument("--clients", type=int, default=64, help="concurrent: clients at once")
    p.add_argument("--client-mib", type=int, default=64, help="concurrent: MiB each pulls")
    p.add_argument("--delta-size", default="1G", help="delta: file size (e.g. 1G, 64M)")
    p.add_argument("--scaling-sizes", default="10000,100000,1000000", help="scaling: file counts")
    p.add_argument("--rsync", help="the rsync to compare with (default: each script's)")
    p.add_argument("--rdiff", help="the rdiff to compare with (default: on PATH)")
    p.add_argument("--plot", help="scaling: the PNG to draw (default: none kept)")
    p.add_argument("--json", type=Path, help="also write the rows and every part's figures")
    args = p.parse_args()
    parts = [part for part in PARTS if part in args.only.split(",")]
    unknown = set(args.only.split(",")) - set(PARTS)
    if unknown or not parts:
        p.error(f"--only takes a comma list of {', '.join(PARTS)}")
    load_start = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    rows: list[Row] = []
    figures: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="pyrsync-targets-") as tmp:
        for part in parts:
            got, figures[part], seconds[part] = run_part(part, args, Path(tmp))
            rows += got
    load = (load_start, os.getloadavg()[0])
    theirs = "rdiff" if parts == ["delta"] else "rsync (or rdiff)"
    lines = table(rows, theirs)
    text = notes(rows, parts, seconds, load)
    print(f"Targets, {started}:\n")
    print("\n".join(lines))
    print()
    print("\n\n".join(text))
    if args.json:
        settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        out = {
            "args": settings,
            "started": started,
            "load_average": load,
            "seconds": seconds,
            "rows": [asdict(r) for r in rows],
            "notes": text,
            "parts": figures,
        }
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    return 1 if any(r.failed for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
