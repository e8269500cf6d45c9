"""Every `§` reference in the code and the docs resolves to a heading of docs/protocol.md.

The repository must stand on its own: a reference to a section that docs/protocol.md does not
have, or to a document outside the repository, leaves a reader with nothing to open.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROTOCOL_MD = ROOT / "docs" / "protocol.md"
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "build", "dist", "__pycache__"}
PY_TREES = ("packages", "tests-integration", "benchmarks", "scripts")

# "§10.9", "§4.4-4.5" (both ends), "§ 9" ; "Appendix B".
SECTION_REF = re.compile(r"§\s?(\d+(?:\.\d+)*)(?:\s?[-\u2013]\s?(\d+(?:\.\d+)*))?")
APPENDIX_REF = re.compile(r"\bAppendix ([A-Z])\b")
HEADING = re.compile(r"^#{1,6}\s+(?:Appendix\s+([A-Z])|(\d+(?:\.\d+)*))\b", re.MULTILINE)
# Documents that lived outside the repository; spelled in pieces so this file does not match.
OUTSIDE = ("../" + "shared", "shared/" + "rsync-protocol.md", "/work/" + "shared")
OUTSIDE_UNLESS_PRESENT = ("STYLE" + ".md", "DESIGN" + ".md")


def _walk(top: Path, suffix: str) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")]
        for name in filenames:
            path = Path(dirpath) / name
            if name.endswith(suffix) and path.resolve() != Path(__file__).resolve():
                found.append(path)
    return found


def _scanned_files() -> list[Path]:
    files = [p for tree in PY_TREES for p in _walk(ROOT / tree, ".py")]
    files += _walk(ROOT, ".md")
    return sorted(set(files))


def _headings() -> tuple[set[str], set[str]]:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    numbers = {m.group(2) for m in HEADING.finditer(text) if m.group(2)}
    appendices = {m.group(1) for m in HEADING.finditer(text) if m.group(1)}
    return numbers, appendices


def _refs(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in SECTION_REF.finditer(line):
            out.extend((lineno, g) for g in m.groups() if g)
    return out


def test_protocol_md_exists_with_numbered_chapters() -> None:
    numbers, appendices = _headings()
    # Chapters 1 to 15 as the code's references expect them, and the cited appendix.
    assert {str(n) for n in range(1, 16)} <= numbers
    assert "B" in appendices


def test_the_scan_sees_the_code_and_the_docs() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in _scanned_files()}
    assert "packages/rsync-wire/src/rsync_wire/roles/sender.py" in files
    assert "docs/protocol.md" in files
    assert "docs/protocol-notes.md" in files


def test_every_section_reference_resolves() -> None:
    numbers, appendices = _headings()
    missing: list[str] = []
    for path in _scanned_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(ROOT).as_posix()
        missing.extend(
            f"{rel}:{lineno}: §{num}" for lineno, num in _refs(text) if num not in numbers
        )
        for lineno, line in enumerate(text.splitlines(), 1):
            missing.extend(
                f"{rel}:{lineno}: Appendix {m.group(1)}"
                for m in APPENDIX_REF.finditer(line)
                if m.group(1) not in appendices
            )
    assert missing == [], "references without a heading in docs/protocol.md:\n" + "\n".join(missing)


def test_no_reference_leaves_the_repository() -> None:
    present = {
        n for n in OUTSIDE_UNLESS_PRESENT if (ROOT / n).is_file() or (ROOT / "docs" / n).is_file()
    }
    banned = [*OUTSIDE, *(n for n in OUTSIDE_UNLESS_PRESENT if n not in present)]
    hits: list[str] = []
    for path in _scanned_files():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8", errors="replace")
        for lineno, line in enumerate(text.splitlines(), 1):
            hits.extend(f"{rel}:{lineno}: {word}" for word in banned if word in line)
    assert hits == [], "references to documents outside the repository:\n" + "\n".join(hits)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see §10.9 of it", ["10.9"]),
        ("(§4.4-4.5, §6 of it)", ["4.4", "4.5", "6"]),
        ("§9.19).", ["9.19"]),
        ("no reference here", []),
    ],
)
def test_reference_pattern(text: str, expected: list[str]) -> None:
    assert [num for _, num in _refs(text)] == expected
