"""The reports of a real (small) matrix run: Markdown, JSON, JUnit XML, the baseline, and the
HTML page as headless Chromium shows it (colours, a click to a cell's details)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import pytest

from harness.tools import unavailable
from interop.impls import builtins, load_implementation
from interop.matrix import Config, MatrixResult, run_matrix
from interop.report import (
    COLOURS,
    baseline_of,
    judge,
    load_baseline,
    write_reports,
)

if TYPE_CHECKING:
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[MatrixResult, Path]:
    """rsync and a client that crashes, daemon and local, one scenario: green and red cells."""
    tmp = tmp_path_factory.mktemp("interop-report")
    crash = tmp / "crash"
    crash.write_text('#!/bin/sh\necho "crashing now" >&2\nkill -SEGV $$\n')
    crash.chmod(0o755)
    toml = tmp / "crash.toml"
    toml.write_text(f'client = ["{crash}"]\nversion = "0.0-test"\n')
    rsync = builtins().get("rsync")
    if rsync is None:
        unavailable("rsync not found")
    impls = {"rsync": rsync, "crash": load_implementation(f"crash={toml}")}
    config = Config(
        implementations=impls,
        transports=("daemon", "local"),
        protocols=(30, 32),
        scenarios=("initial", "names"),
        timeout=60,
        work=tmp / "work",
    )
    result = run_matrix(config)
    write_reports(result, tmp / "report")
    return result, tmp / "report"


def test_statuses_of_the_small_run(small_run: tuple[MatrixResult, Path]) -> None:
    result, _ = small_run
    statuses = {c.spec.id: c.status for c in result.cells}
    assert statuses["local/rsync/p32/names"] == "identical"
    assert statuses["daemon/pull/rsync>rsync/p30/initial"] == "identical"
    assert statuses["local/crash/p30/initial"] == "failed"
    # rsync pushes to its own daemon; the crashing client fails there too.
    assert statuses["daemon/push/rsync>rsync/p32/initial"] == "identical"
    assert statuses["daemon/push/crash>rsync/p32/initial"] == "failed"


def test_markdown_json_junit(small_run: tuple[MatrixResult, Path]) -> None:
    result, report = small_run
    md = (report / "matrix.md").read_text()
    assert "| daemon | pull | rsync <- rsync | ok | ok |" in md
    assert (
        "| local |  | crash (local copy) | FAILED: initial, names | FAILED: initial, names |" in md
    )

    data = json.loads((report / "matrix.json").read_text())
    assert data["counts"] == dict(result.counts())
    cell = next(c for c in data["cells"] if c["id"] == "local/crash/p32/names")
    assert cell["reason"] == "killed by SIGSEGV"
    assert "crashing now" in cell["run"]["stderr"]
    assert cell["run"]["argv"][0].endswith("/crash")
    assert {i["name"] for i in data["implementations"]} == {"rsync", "crash"}

    suites = ET.parse(report / "junit.xml").getroot()  # noqa: S314 -- our own file
    cases = suites.findall(".//testcase")
    assert len(cases) == len(result.cells)
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {c.spec.id for c in result.cells if c.status == "failed"}
    assert failed  # the crashing client's cells
    total = sum(int(s.get("failures", "0")) for s in suites.findall("testsuite"))
    assert total == len(failed)


def test_baseline_lets_known_cells_pass_and_fails_changes(
    small_run: tuple[MatrixResult, Path], tmp_path: Path
) -> None:
    result, _ = small_run
    assert not judge(result, None).ok  # red cells nobody expected
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline_of(result)))
    baseline = load_baseline(path)
    assert judge(result, baseline).ok
    changed = dict(
        baseline, **{"local/crash/p32/names": "limit", "local/rsync/p32/names": "differs"}
    )
    verdict = judge(result, changed)
    assert sorted(verdict.regressions) == [
        ("local/crash/p32/names", "limit", "failed"),
        ("local/rsync/p32/names", "differs", "identical"),
    ]
    path.write_text('{"cells": ["not", "a", "table"]}')
    with pytest.raises(ValueError, match="must be"):
        load_baseline(path)


# ---------------------------------------------------------------------------------------------
# The HTML page in headless Chromium, driven over the DevTools protocol on a pipe.

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)


_EXEC_WITH_PIPE = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)
"""Put the two pipe ends on fds 3 and 4, where --remote-debugging-pipe wants them."""


def _high_fd(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """Chromium with ``--remote-debugging-pipe``: commands in on fd 3, answers out on fd 4."""

    def __init__(self, chromium: str, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Above 4, so that moving one end to 3 or 4 cannot overwrite the other.
        to_chrome_r, from_chrome_w = (_high_fd(to_chrome_r), _high_fd(from_chrome_w))
        self.log_path = profile.with_name("chromium.log")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _EXEC_WITH_PIPE,
                str(to_chrome_r),
                str(from_chrome_w),
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
            ],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            msg = f"chromium exited ({self.proc.poll()}):\n{self.log()}"
            raise AssertionError(msg) from None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._next_id:
                    if "error" in answer:
                        msg = f"{method}: {answer['error']}"
                        raise AssertionError(msg)
                    result: dict[str, Any] = answer["result"]
                    return result
            chunk = os.read(self._from_chrome, 65536)
            if not chunk:
                msg = f"chromium closed the pipe during {method}:\n{self.log()}"
                raise AssertionError(msg)
            self._buffer += chunk
        msg = f"no answer to {method} in 30 s"
        raise AssertionError(msg)

    def log(self) -> str:
        self._log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(ln for ln in lines[-30:] if "dbus" not in ln)

    def close(self) -> None:
        with contextlib.suppress(AssertionError, OSError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        self._log.close()


def _evaluate(browser: Browser, session: str, expression: str) -> Any:
    answer = browser.call(
        "Runtime.evaluate",
        {"expression": expression, "returnByValue": True, "awaitPromise": True},
        session=session,
    )
    if "exceptionDetails" in answer:
        msg = f"page script failed: {answer['exceptionDetails']}"
        raise AssertionError(msg)
    return answer["result"].get("value")


def _loaded(browser: Browser, session: str) -> bool:
    expression = 'location.href.startsWith("file:") && document.readyState === "complete"'
    try:
        return bool(_evaluate(browser, session, expression))
    except AssertionError as exc:  # the old page's context went away while navigating
        if "Execution context was destroyed" in str(exc):
            return False
        raise


CHECK_PAGE = """
(async () => {
  const squares = [...document.querySelectorAll("a.sq")];
  const red = document.querySelector('a.sq[data-cell="local/crash/p32/names"]');
  const green = document.querySelector('a.sq[data-cell="local/rsync/p32/names"]');
  const detail = document.getElementById(red.getAttribute("href").slice(1));
  const hiddenBefore = getComputedStyle(detail).display;
  const box = red.getBoundingClientRect();
  red.click();
  await new Promise(r => setTimeout(r, 200));
  return {
    squares: squares.length,
    rows: document.querySelectorAll("table.grid tbody tr").length,
    red: getComputedStyle(red).backgroundColor,
    green: getComputedStyle(green).backgroundColor,
    visibleSize: [box.width, box.height],
    hiddenBefore,
    shownAfter: getComputedStyle(detail).display,
    hash: location.hash,
    detailText: detail.innerText,
    otherShown: [...document.querySelectorAll("section.detail")]
      .filter(s => getComputedStyle(s).display !== "none").length,
    external: [...document.querySelectorAll("link, script[src], img")].length,
  };
})()
"""


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.mark.timeout(180)
def test_html_page_in_headless_chromium(
    small_run: tuple[MatrixResult, Path], real_rsync: RealRsync, tmp_path: Path
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        unavailable("chromium not found (apt-get install chromium)")
    result, report = small_run
    browser = Browser(chromium, tmp_path / "profile")
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})
        attached = browser.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        session = attached["sessionId"]
        browser.call("Page.navigate", {"url": (report / "matrix.html").as_uri()}, session=session)
        deadline = time.monotonic() + 30
        while not _loaded(browser, session):
            assert time.monotonic() < deadline, "the page did not load in 30 s"
            time.sleep(0.1)
        shown = _evaluate(browser, session, CHECK_PAGE)
    finally:
        browser.close()

    assert shown["squares"] == len(result.cells)
    assert shown["rows"] == len({c.spec.row for c in result.cells})
    assert shown["red"] == _rgb(COLOURS["failed"])
    assert shown["green"] == _rgb(COLOURS["identical"])
    assert min(shown["visibleSize"]) > 5
    assert shown["hiddenBefore"] == "none"
    assert shown["shownAfter"] == "block"
    assert shown["otherShown"] == 1
    assert shown["hash"].startswith("#cell-")
    text = shown["detailText"]
    assert "local/crash/p32/names" in text
    assert "killed by SIGSEGV" in text
    assert "crashing now" in text
    assert "/crash -a -i" in text  # the command
    assert shown["external"] == 0  # self-contained: readable offline
