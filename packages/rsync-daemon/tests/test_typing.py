"""mypy (strict) accepts the daemon's API used as documented, and rejects misuse.

The accepted side is tests/typing/api_types.py; the rejected side is written here, one
call per line with the error mypy must report on it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GOOD = Path(__file__).parent / "typing" / "api_types.py"

BAD = """\
from __future__ import annotations

from rsync_daemon import serve, start

serve({"pub": "/srv"}, listn="127.0.0.1:873")  # E: Unexpected keyword argument "listn"
serve({"pub": 42})  # E: Dict entry 0 has incompatible type "str": "int"
start({"pub": "/srv"}, sandbox="chroot")  # E: Argument "sandbox" to "start" has incompatible
start({"pub": "/srv"}).url(8730)  # E: Argument 1 to "url" of "RunningDaemon" has incompatible
"""


def run_mypy(*paths: Path) -> tuple[int, str]:
    """mypy with the repository's configuration (strict), as ``hatch run types`` runs it."""
    if not os.environ.get("CI"):
        pytest.importorskip("mypy.api", reason="mypy is not installed here")
    from mypy import api

    stdout, stderr, status = api.run(
        ["--config-file", str(ROOT / "pyproject.toml"), *map(str, paths)]
    )
    return status, stdout + stderr


@pytest.mark.slow
def test_mypy_accepts_the_documented_use_and_rejects_misuse(tmp_path: Path) -> None:
    bad = tmp_path / "bad_use.py"
    bad.write_text(BAD)
    status, output = run_mypy(GOOD, bad)
    assert status == 1, output
    errors: dict[int, list[str]] = {}
    for match in re.finditer(r"^(.*?):(\d+): error: (.*)$", output, re.MULTILINE):
        assert Path(match[1]).name == bad.name, f"mypy rejects documented use: {match[0]}"
        errors.setdefault(int(match[2]), []).append(match[3])
    wanted = {
        number: line.split("# E: ", 1)[1]
        for number, line in enumerate(BAD.splitlines(), 1)
        if "# E: " in line
    }
    assert set(errors) == set(wanted), output
    for line, text in wanted.items():
        assert any(text in e for e in errors[line]), (line, text, errors[line])
