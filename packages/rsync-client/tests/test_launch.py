"""launch.py: ``pyrsync --version`` prints the parser's text without loading the client."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rsync_client.cli import version_text

_PROBE = (
    "import sys\n"
    "sys.argv = ['pyrsync', *sys.argv[1:]]\n"
    "from rsync_client.launch import main\n"
    "code = main()\n"
    "loaded = sorted(m for m in ('rsync_client.cli', 'msgspec') if m in sys.modules)\n"
    "sys.stderr.write(','.join(loaded))\n"
    "sys.exit(code)\n"
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
