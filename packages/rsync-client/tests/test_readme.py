"""The README's Python examples run, in order, as a reader would paste them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown text (``python skip``: shown, not run)."""
    blocks = re.findall(r"^```python([^\n]*)\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    return [body for info, body in blocks if "skip" not in info]


def test_readme_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    for number, block in enumerate(blocks, 1):
        code = compile(block, f"{README.name} block {number}", "exec")
        exec(code, namespace)  # noqa: S102 - our own README, run as its reader would
