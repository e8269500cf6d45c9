"""launch.py: ``pyrsync --version`` without loading the client; the exit without teardown."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from rsync_client.cli import version_text

if TYPE_CHECKING:
    from pathlib import Path

# what was loaded is written by an exit function: the client's run ends the process
# without returning, after the exit functions
_PROBE = (
    "import atexit, sys\n"
    "sys.argv = ['pyrsync', *sys.argv[1:]]\n"
    "def loaded():\n"
    "    names = sorted(m for m in ('rsync_client.cli', 'msgspec') if m in sys.modules)\n"
    "    sys.stderr.write(','.join(names))\n"
    "atexit.register(loaded)\n"
    "from rsync_client.launch import main\n"
    "sys.exit(main())\n"
)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_alone_is_the_parsers_text_without_the_parser(flag: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, flag], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert proc.stdout == version_text()
    assert proc.stderr == ""  # neither the option parser nor msgspec was imported


def test_anything_else_goes_to_the_client() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, "--version", "--no-such-option"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "--no-such-option" in proc.stderr
    assert proc.stderr.endswith("msgspec,rsync_client.cli")


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=False, timeout=60
    )


def test_exit_now_runs_exit_functions_flushes_and_ends() -> None:
    proc = _python(
        "-c",
        "import atexit, sys\n"
        "from rsync_client.launch import _exit_now\n"
        "atexit.register(sys.stderr.write, 'exit function')\n"
        "sys.stdout.write('buffered')\n"
        "_exit_now(3)\n"
        "print('not reached')\n",
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "buffered", "exit function")


def test_exit_now_leaves_a_running_thread_to_the_normal_exit() -> None:
    proc = _python(
        "-c",
        "import threading\n"
        "from rsync_client.launch import _exit_now\n"
        "done = threading.Event()\n"
        "worker = threading.Thread(target=done.wait, args=(5,))\n"
        "worker.start()\n"
        "code = _exit_now(4)\n"
        "done.set()\n"
        "print('returned', code)\n",
    )
    assert (proc.returncode, proc.stdout) == (0, "returned 4\n")


def test_exit_now_leaves_a_profiled_run_to_the_normal_exit(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(
        "from rsync_client.launch import _exit_now\ncode = _exit_now(5)\nprint('returned', code)\n"
    )
    stats = tmp_path / "run.prof"
    proc = _python("-m", "cProfile", "-o", str(stats), str(script))
    assert (proc.returncode, proc.stdout) == (0, "returned 5\n")
    assert stats.stat().st_size > 0  # the profiler wrote its figures at the end
