"""The public interface of rsync_wire: ``__all__`` imports, is documented, and moves in step."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
import subprocess
import sys
from pathlib import Path

import rsync_wire as package

SIBLINGS = ("rsync-delta", "rsync-wire", "rsync-sandbox", "rsync-daemon", "rsync-client")
README = Path(__file__).resolve().parents[1] / "README.md"


def test_installed_version_moves_in_lockstep_with_its_siblings() -> None:
    versions = {name: importlib.metadata.version(name) for name in SIBLINGS}
    assert len(set(versions.values())) == 1, versions


def test_all_is_a_sorted_list_of_unique_names() -> None:
    names = package.__all__
    assert len(names) == len(set(names))
    assert names == sorted(names, key=lambda n: (not n.isupper(), n[0].islower(), n))


def test_every_public_name_imports_and_states_its_contract() -> None:
    for name in package.__all__:
        value = getattr(package, name)  # AttributeError: a name that does not resolve
        assert name in dir(package)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"
            assert value.__module__.startswith("rsync_wire"), (
                f"{name} comes from {value.__module__}"
            )


def test_every_public_name_is_in_the_readme() -> None:
    text = README.read_text()
    missing = [n for n in package.__all__ if not re.search(rf"`{re.escape(n)}`", text)]
    assert missing == [], f"not documented in {README.name}: {missing}"


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from rsync_wire import *", namespace)  # noqa: S102 - the import under test
    assert set(namespace) - {"__builtins__"} == set(package.__all__)


def test_unknown_names_are_attribute_errors() -> None:
    assert not hasattr(package, "no_such_name")


def test_importing_the_package_alone_works_in_a_fresh_interpreter() -> None:
    code = "import rsync_wire as p; [getattr(p, n) for n in p.__all__]"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
