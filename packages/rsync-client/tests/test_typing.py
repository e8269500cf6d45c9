"""mypy (strict) accepts the public API used as documented, and rejects a wrong keyword.

The accepted side is tests/typing/test_api_types.py; the rejected side is written here,
one call per line with the error mypy must report on it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GOOD = Path(__file__).parent / "typing" / "test_api_types.py"

BAD = """\
from __future__ import annotations

from rsync_client import Stats, sync

sync("src/", "dst/", archiv=True)  # E: Unexpected keyword argument "archiv"
sync("src/", "dst/", archive="yes")  # E: Argument "archive" to "sync" has incompatible type
sync("src/", "dst/", exclude=[1])  # E: List item 0 has incompatible type "int"
sync("src/", "dst/", timeout="10")  # E: Argument "timeout" to "sync" has incompatible type
stats: Stats = sync("src/", "dst/")
stats.xferred_files  # E: "Stats" has no attribute "xferred_files"
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


def expected_errors(path: Path) -> dict[int, str]:
    """``{line: message}`` of the ``# E: message`` comments in ``path``."""
    found = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if "# E: " in line:
            found[number] = line.split("# E: ", 1)[1]
    return found


@pytest.mark.slow
def test_mypy_accepts_the_documented_use_and_rejects_wrong_keywords(tmp_path: Path) -> None:
    bad = tmp_path / "bad_use.py"
    bad.write_text(BAD)
    status, output = run_mypy(GOOD, bad)
    assert status == 1, output
    errors: dict[int, list[str]] = {}
    for match in re.finditer(r"^(.*?):(\d+): error: (.*)$", output, re.MULTILINE):
        assert Path(match[1]).name == bad.name, f"mypy rejects documented use: {match[0]}"
        errors.setdefault(int(match[2]), []).append(match[3])
    wanted = expected_errors(bad)
    assert set(errors) == set(wanted), output
    for line, text in wanted.items():
        assert any(text in e for e in errors[line]), (line, text, errors[line])
