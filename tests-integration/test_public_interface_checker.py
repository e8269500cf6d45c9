"""The shared checker of a package's public interface (conftest.py at the repository's root)
finds each kind of fault it is for, and nothing in a package without one."""

from __future__ import annotations

import importlib
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pytest


def _package(root: Path, name: str, init: str, readme: str) -> Path:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text(textwrap.dedent(init))
    (root / name / "README.md").write_text(readme)
    return root / name / "README.md"


GOOD = '''
    """A package with a clean interface."""
    __all__ = ["LIMIT", "Thing", "make"]
    LIMIT = 3

    class Thing:
        """A thing."""

    def make() -> Thing:
        """Make one."""
        return Thing()
'''


def test_a_clean_package_has_no_problem(
    public_interface_checker: Callable[..., list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readme = _package(tmp_path, "pic_good", GOOD, "`LIMIT`, `Thing` and `make`.\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert public_interface_checker(importlib.import_module("pic_good"), readme) == []


BAD = '''
    """Every fault the checker knows."""
    from json import JSONDecoder
    __all__ = ["make", "Undocumented", "JSONDecoder", "ghost", "make"]

    class Undocumented:
        pass

    def make() -> None:
        """Make nothing."""
'''


def test_each_fault_is_reported(
    public_interface_checker: Callable[..., list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readme = _package(tmp_path, "pic_bad", BAD, "Only `make`.\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    problems = public_interface_checker(importlib.import_module("pic_bad"), readme)
    text = "\n".join(problems)
    assert "__all__ repeats ['make']" in text
    assert "__all__ is not sorted" in text
    assert "ghost is in __all__ but does not resolve" in text
    assert "Undocumented has no docstring" in text
    assert "JSONDecoder comes from json.decoder, not pic_bad" in text
    assert "not documented in" in text
    assert "'Undocumented'" in text
    assert "import * fails: module 'pic_bad' has no attribute 'ghost'" in text
    assert "a fresh interpreter cannot import it" in text


LAZY = '''
    """A lazy __getattr__ that invents names, and an import that needs another first."""
    import sys
    if "pytest" not in sys.modules:
        raise ImportError("works only after pytest was imported")
    __all__ = ["make"]

    def make() -> None:
        """Make nothing."""

    def __getattr__(name: str) -> object:
        return make
'''


def test_invented_names_and_import_order_accidents_are_reported(
    public_interface_checker: Callable[..., list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readme = _package(tmp_path, "pic_lazy", LAZY, "`make`\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    problems = public_interface_checker(importlib.import_module("pic_lazy"), readme)
    assert problems[0] == "an unknown name is not an AttributeError"
    assert problems[1].startswith("a fresh interpreter cannot import it:")
    assert "works only after pytest was imported" in problems[1]
    assert len(problems) == 2


def test_a_sibling_pinned_at_another_version_is_reported(
    public_interface_checker: Callable[..., list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readme = _package(tmp_path, "pic_pinned", GOOD, "`LIMIT`, `Thing` and `make`.\n")
    info = tmp_path / "pic_pinned-9.9.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pic-pinned\nVersion: 9.9.9\n"
        "Requires-Dist: rsync-wire==0.0.1\nRequires-Dist: anyio>=4\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    problems = public_interface_checker(importlib.import_module("pic_pinned"), readme, "pic-pinned")
    assert problems[0] == "pic-pinned 9.9.9 requires rsync-wire==0.0.1"
    assert any(p.startswith("rsync-wire is ") for p in problems[1:]), problems
