"""The command line of the interop matrix (``hatch run interop --help``).

Exit status: 0 when every cell is as the baseline says (or, without a baseline, no cell
``differs``, ``failed`` or ``hung``); 1 otherwise; 2 for a usage error (a bad ``--impl``
file, an unknown name). Every process started is stopped before it returns, also on
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from interop.impls import PROTOCOLS, ImplementationError, builtins, load_implementation
from interop.matrix import DIRECTIONS, TRANSPORTS, Config, MatrixError, run_matrix
from interop.report import BaselineError, baseline_of, judge, load_baseline, write_reports
from interop.scenarios import BY_NAME

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _protocols(text: str) -> tuple[int, ...]:
    out: set[int] = set()
    try:
        for part in _names(text):
            low, _, high = part.partition("-")
            out.update(range(int(low), int(high or low) + 1))
    except ValueError:
        msg = f"expected protocols like 27-32 or 29,32, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    bad = sorted(out - set(PROTOCOLS))
    if bad or not out:
        msg = f"protocols must be within {PROTOCOLS[0]}-{PROTOCOLS[-1]}, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return tuple(sorted(out))


def parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="interop",
        description="Run every client x every server x transport x protocol x scenario and "
        "compare each cell with rsync <-> rsync. Reports go to --out.",
    )
    p.add_argument(
        "--impl",
        action="append",
        default=[],
        metavar="NAME=TOML",
        help="add an implementation described by a TOML file (repeatable; see docs/interop.md)",
    )
    p.add_argument(
        "--only",
        type=_names,
        metavar="NAMES",
        help="use only these implementations (comma-separated; rsync is always the reference)",
    )
    p.add_argument("--clients", type=_names, metavar="NAMES", help="only these as clients")
    p.add_argument("--servers", type=_names, metavar="NAMES", help="only these as servers")
    p.add_argument(
        "--transports",
        type=_names,
        default=TRANSPORTS,
        metavar="LIST",
        help=f"subset of {','.join(TRANSPORTS)}",
    )
    p.add_argument(
        "--directions",
        type=_names,
        default=DIRECTIONS,
        metavar="LIST",
        help="pull, push or both",
    )
    p.add_argument(
        "--protocols", type=_protocols, metavar="LIST", help="for example 27-32 or 30,32"
    )
    p.add_argument(
        "--scenarios", type=_names, metavar="LIST", help=f"subset of {','.join(BY_NAME)}"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a subset: the highest common protocol, scenarios initial, delta, hardlinks, names, "
        "compress",
    )
    p.add_argument("--huge", action="store_true", help="add a sparse file above 4 GiB")
    p.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 2, help="cells run at once (default: cores)"
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds before a run counts as hung"
    )
    p.add_argument(
        "--budget",
        type=float,
        help="seconds for the whole run: cells not started by then fail as not run",
    )
    p.add_argument(
        "--out", type=Path, default=Path("interop-report"), help="directory of the reports"
    )
    p.add_argument("--work", type=Path, help="work directory (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--baseline", type=Path, help="the known status of each cell (JSON)")
    p.add_argument(
        "--write-baseline", type=Path, metavar="FILE", help="record this run's statuses as FILE"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return p


def _usage_error(message: str) -> NoReturn:
    sys.stderr.write(f"interop: {message}\n")
    raise SystemExit(2)


def _terminate(signum: int, _frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the matrix from the command line; return the exit status."""
    args = parser().parse_args(argv)
    impls = builtins()
    try:
        for spec in args.impl:
            impl = load_implementation(spec)
            impls[impl.name] = impl
        baseline = load_baseline(args.baseline) if args.baseline else None
    except (ImplementationError, BaselineError) as exc:
        _usage_error(str(exc))
    if args.only:
        unknown = [n for n in args.only if n not in impls]
        if unknown:
            _usage_error(
                f"unknown implementation(s) {', '.join(unknown)}; known: {', '.join(impls)}"
            )
        impls = {n: i for n, i in impls.items() if n in args.only or n == "rsync"}
    for name in args.transports:
        if name not in TRANSPORTS:
            _usage_error(f"unknown transport {name!r}; known: {', '.join(TRANSPORTS)}")
    for name in args.directions:
        if name not in DIRECTIONS:
            _usage_error(f"unknown direction {name!r}; known: pull, push")
    if args.jobs < 1 or args.timeout <= 0:
        _usage_error("--jobs and --timeout must be positive")

    def say(text: str) -> None:
        if not args.quiet:
            sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")

    config = Config(
        implementations=impls,
        clients=args.clients,
        servers=args.servers,
        transports=tuple(args.transports),
        directions=tuple(args.directions),
        protocols=args.protocols,
        scenarios=args.scenarios,
        quick=args.quick,
        jobs=args.jobs,
        timeout=args.timeout,
        work=args.work,
        keep=args.keep,
        huge=args.huge,
        budget=args.budget,
        progress=say,
    )
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        result = run_matrix(config)
    except MatrixError as exc:
        _usage_error(str(exc))
    except KeyboardInterrupt:
        sys.stderr.write("interop: interrupted; every process it started was stopped\n")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    paths = write_reports(result, args.out, baseline)
    if args.write_baseline:
        args.write_baseline.write_text(json.dumps(baseline_of(result), indent=1) + "\n")
    sys.stdout.write(paths["markdown"].read_text(encoding="utf-8"))
    say("reports: " + ", ".join(str(p) for p in paths.values()))
    verdict = judge(result, baseline)
    for line in verdict.lines():
        sys.stderr.write(f"interop: {line}\n")
    return 0 if verdict.ok else 1
