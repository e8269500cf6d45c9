"""``--stop-at``'s time forms, read as rsync's parse_time() reads them (local time: UTC)."""

from __future__ import annotations

import calendar
import time
from typing import TYPE_CHECKING

import pytest

from rsync_client.cli import parse_args
from rsync_client.options import OptionError
from rsync_client.stoptime import parse_stop_after, parse_time

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# Sat 2026-12-05 10:30:00 UTC
NOW = calendar.timegm((2026, 12, 5, 10, 30, 0))


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _at(*fields: int) -> float:
    return float(calendar.timegm((*fields, 0)))


@pytest.mark.parametrize(
    ("arg", "want"),
    [
        ("2027-01-02T03:04", _at(2027, 1, 2, 3, 4)),
        ("2027/01/02", _at(2027, 1, 2, 0, 0)),
        ("27-01-02T03:04", _at(2027, 1, 2, 3, 4)),
        ("T11:00", _at(2026, 12, 5, 11, 0)),  # later today
        ("T09:00", _at(2026, 12, 6, 9, 0)),  # passed today: tomorrow
        (":45", _at(2026, 12, 5, 10, 45)),  # minutes only: this hour
        (":15", _at(2026, 12, 5, 11, 15)),  # passed: the next hour
        ("12-31", _at(2026, 12, 31, 0, 0)),  # month-day: this year
        ("12-01", _at(2027, 12, 1, 0, 0)),  # passed: next year
        ("06T12:00", _at(2026, 12, 6, 12, 0)),  # day of this month
        ("04T12:00", _at(2027, 1, 4, 12, 0)),  # passed: next month
        ("bogus", None),
        ("2027-13-01", None),
        ("T25:00", None),
        ("2027-01-02T", _at(2027, 1, 2, 0, 0)),
        ("1:2:3", None),
        ("", None),
    ],
)
def test_parse_time(arg: str, want: float | None) -> None:
    assert parse_time(arg, NOW) == want


def test_stop_after_counts_minutes() -> None:
    assert parse_stop_after("5", NOW) == NOW + 300
    assert parse_stop_after("2x", NOW) == NOW + 120  # atol(): leading digits
    assert parse_stop_after("0", NOW) is None
    assert parse_stop_after("-3", NOW) is None


def test_stop_options_on_the_command_line() -> None:
    opts, _ = parse_args(["--stop-at=2999-12-31T23:59", "a", "b"])
    assert opts.stop_at is not None
    opts, _ = parse_args(["--time-limit=10", "a", "b"])
    assert opts.stop_at is not None
    assert opts.stop_at - time.time() == pytest.approx(600, abs=5)
    with pytest.raises(OptionError, match="--stop-at time is not in the future: 2000-01-01T00:00"):
        parse_args(["--stop-at=2000-01-01T00:00", "a", "b"])
    with pytest.raises(OptionError, match="invalid --stop-at format: soon"):
        parse_args(["--stop-at=soon", "a", "b"])
    with pytest.raises(OptionError, match="invalid --stop-after value: 0"):
        parse_args(["--stop-after=0", "a", "b"])


def test_the_client_stops_at_the_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A server that never answers: at the limit, rsync's line and exit 30."""
    from rsync_client.cli import _run_with_signals
    from rsync_client.output import Output

    shell = tmp_path / "silent-shell"
    shell.write_text("#!/bin/sh\nexec sleep 30\n")
    shell.chmod(0o755)
    opts, rest = parse_args(["-a", "-e", str(shell), "host:/x", str(tmp_path / "dst") + "/"])
    opts.stop_at = time.time() + 1  # --stop-at counts in minutes: set the moment directly
    output = Output(opts)
    assert _run_with_signals(opts, rest, output) == 30
    output.flush()
    assert "stopping at requested limit" in capsys.readouterr().err
    assert not (tmp_path / "dst").exists()
