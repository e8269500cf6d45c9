"""Fixtures every package's tests share (pytest loads this file for any test in the repository).

`check_public_interface` is the one checker of a package's public interface, used by each
package's ``tests/test_import.py``. It lives here, not in a package, because no package is
below all four that have a public interface (rsync_sandbox may not import rsync_wire), and
it must not be copied into each. tests-integration/test_public_interface_checker.py shows
that each of its rules catches what it is for.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

SIBLINGS = ("rsync-delta", "rsync-wire", "rsync-sandbox", "rsync-daemon", "rsync-client")


def _sort_key(name: str) -> tuple[bool, bool, str]:
    """Ruff's order for ``__all__`` (RUF022): CONSTANTS, Classes, functions."""
    return (not name.isupper(), name[0].islower(), name)


def public_interface_problems(
    package: ModuleType, readme: Path, distribution: str | None = None
) -> list[str]:
    """What is wrong with ``package``'s public interface (its ``__all__``); empty: nothing.

    - ``__all__`` is a list of unique names in ruff's order;
    - each name resolves, shows in ``dir()``, and each class or function has a docstring
      and is defined inside the package (not a sibling's internal re-exported);
    - the package's README names each in backquotes;
    - ``from package import *`` gives exactly ``__all__``, and an unknown name is an
      AttributeError (a lazy ``__getattr__`` must not invent names);
    - a fresh interpreter imports the package and each name (no import-order accident);
    - with ``distribution``: its pins on siblings name its own version, and the installed
      siblings have that version (the lockstep rule of CHANGELOG.md).
    """
    name = package.__name__
    problems: list[str] = []
    names = getattr(package, "__all__", None)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return [f"{name}.__all__ is not a list of names: {names!r}"]
    if len(names) != len(set(names)):
        problems.append(f"__all__ repeats {sorted({n for n in names if names.count(n) > 1})}")
    if names != sorted(names, key=_sort_key):
        problems.append(f"__all__ is not sorted: {names}")
    for attr in names:
        try:
            value = getattr(package, attr)
        except AttributeError:
            problems.append(f"{attr} is in __all__ but does not resolve")
            continue
        if attr not in dir(package):
            problems.append(f"{attr} is not in dir({name})")
        if inspect.isclass(value) or inspect.isfunction(value):
            if not inspect.getdoc(value):
                problems.append(f"{attr} has no docstring")
            if not value.__module__.startswith(name):
                problems.append(f"{attr} comes from {value.__module__}, not {name}")
    text = readme.read_text() if readme.exists() else ""
    missing = [n for n in names if not re.search(rf"`{re.escape(n)}`", text)]
    if missing:
        problems.append(f"not documented in {readme}: {missing}")
    namespace: dict[str, object] = {}
    try:
        exec(f"from {name} import *", namespace)  # noqa: S102 - the import under test
    except (AttributeError, ImportError) as exc:
        problems.append(f"import * fails: {exc}")
    else:
        star = set(namespace) - {"__builtins__"}
        if star != set(names):
            problems.append(
                f"import * gives {sorted(star ^ set(names))} beyond or short of __all__"
            )
    if hasattr(package, "no_such_name_in_any_package"):
        problems.append("an unknown name is not an AttributeError")
    code = f"import {name} as p; [getattr(p, n) for n in p.__all__]"
    where = str(Path(package.__file__ or ".").resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [where, os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(  # noqa: S603 - this interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env
    )
    if result.returncode != 0:
        problems.append(f"a fresh interpreter cannot import it: {result.stderr.strip()}")
    if distribution is not None:
        problems.extend(_lockstep_problems(distribution))
    return problems


def _lockstep_problems(distribution: str) -> list[str]:
    problems = []
    version = importlib.metadata.version(distribution)
    for requirement in importlib.metadata.requires(distribution) or []:
        match = re.match(r"(rsync-[a-z]+)\s*(==|~=|>=)\s*([^\s;,]+)", requirement)
        if match and match.group(1) in SIBLINGS and match.group(3) != version:
            problems.append(f"{distribution} {version} requires {requirement}")
    for sibling in SIBLINGS:
        try:
            other = importlib.metadata.version(sibling)
        except importlib.metadata.PackageNotFoundError:
            continue  # the package's tests run without the siblings it does not need
        if other != version:
            problems.append(f"{sibling} is {other}, {distribution} is {version}")
    return problems


@pytest.fixture
def check_public_interface() -> Callable[..., None]:
    """``check(package, readme, distribution)``: fails listing every problem found."""

    def check(package: ModuleType, readme: Path, distribution: str | None = None) -> None:
        problems = public_interface_problems(package, readme, distribution)
        if problems:
            pytest.fail("\n".join(problems))

    return check


@pytest.fixture
def public_interface_checker() -> Callable[..., list[str]]:
    """`public_interface_problems` itself, for the checker's own tests."""
    return public_interface_problems


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:  # noqa: ARG001 - hookspec
    """Workers for ``-n auto`` (what ``hatch test`` passes): three for every two cores.

    An integration test spends about a quarter of its time waiting for its peers (a daemon
    coming up, rsync's own processes, a socket) with no core busy; a third worker on two
    cores fills that time (the daemon and push tests: 120 s with two, 90 s with three or
    four). ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when set.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return max(1, len(os.sched_getaffinity(0)) * 3 // 2)
