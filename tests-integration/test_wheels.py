"""Each package's wheel, built from this checkout, installs alone and runs its program.

What the README promises someone who wants one package without the monorepo: build the
wheels (``hatch build``; here ``pip wheel``, which builds with the same hatchling backend),
install one with pip into a fresh virtual environment, its siblings found among the built
wheels and nothing taken from the checkout. Needs ``python -m venv`` with pip, and the
package registry for the third-party dependencies and the build backend.
"""

from __future__ import annotations

import os
import venv
from pathlib import Path

import pytest

from harness.proc import run

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rsync-delta", "rsync-wire", "rsync-sandbox", "rsync-daemon", "rsync-client")
INSTALL_TIMEOUT = 600


def _venv(path: Path, *, with_pip: bool = False) -> Path:
    """A fresh virtual environment; its ``bin`` directory.

    Only the build environment gets pip of its own; the others are installed into by that
    pip (``pip --python``), which spares each one ensurepip's few seconds.
    """
    venv.EnvBuilder(with_pip=with_pip, clear=True).create(path)
    return path / "bin"


def _env() -> dict[str, str]:
    """This environment without what would let the checkout leak in."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def pip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pip of its own environment, which builds the wheels and installs them elsewhere."""
    return _venv(tmp_path_factory.mktemp("build-env"), with_pip=True) / "pip"


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory, pip: Path) -> Path:
    """The five wheels, built from the checkout into one directory."""
    base = tmp_path_factory.mktemp("wheels")
    out = base / "dist"
    r = run(
        [pip, "wheel", "--no-deps", "-w", out, *(ROOT / "packages" / p for p in PACKAGES)],
        timeout=INSTALL_TIMEOUT,
        env=_env(),
        cwd=base,
    )
    if r.returncode != 0 and "No matching distribution" in r.stderr + r.stdout:
        if os.environ.get("CI"):
            pytest.fail("no package registry for the build backend: " + r.stderr)
        pytest.skip("no package registry for the build backend")
    assert r.returncode == 0, r.stdout + r.stderr
    built = sorted(p.name for p in out.glob("*.whl"))
    assert len(built) == len(PACKAGES), built
    return out


def _install(pip: Path, wheels: Path, where: Path, package: str) -> Path:
    """A fresh environment with ``package``'s wheel and what it needs; its ``bin``."""
    bindir = _venv(where)
    (wheel,) = wheels.glob(package.replace("-", "_") + "-*.whl")
    r = run(
        [pip, "--python", bindir / "python", "install", "--find-links", wheels, wheel],
        timeout=INSTALL_TIMEOUT,
        env=_env(),
        cwd=where,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return bindir


def _installed_from(bindir: Path, module: str) -> Path:
    """Where ``module`` is imported from in that environment."""
    r = run(
        [bindir / "python", "-c", f"import {module}; print({module}.__file__)"],
        env=_env(),
        cwd=bindir,
    )
    assert r.returncode == 0, r.stderr
    return Path(r.stdout.strip())


def test_client_wheel_copies_a_tree(pip: Path, wheels: Path, tmp_path: Path) -> None:
    """rsync-client alone: ``pyrsync -a src/ dst/`` copies, from site-packages."""
    bindir = _install(pip, wheels, tmp_path / "env", "rsync-client")
    for module in ("rsync_client", "rsync_wire", "rsync_delta", "rsync_sandbox"):
        where = _installed_from(bindir, module)
        assert tmp_path in where.parents, (module, where)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "file").write_bytes(b"payload\n" * 1000)
    r = run([bindir / "pyrsync", "-a", f"{src}/", f"{tmp_path / 'dst'}/"], env=_env())
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "dst" / "sub" / "file").read_bytes() == b"payload\n" * 1000
    r = run([bindir / "pyrsync", "--version"], env=_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("pyrsync")


def test_daemon_wheel_starts(pip: Path, wheels: Path, tmp_path: Path) -> None:
    """rsync-daemon alone: ``pyrsyncd --version`` and a config check run from site-packages."""
    bindir = _install(pip, wheels, tmp_path / "env", "rsync-daemon")
    assert tmp_path in _installed_from(bindir, "rsync_daemon").parents
    r = run([bindir / "pyrsyncd", "--version"], env=_env())
    assert r.returncode == 0, r.stderr
    assert "pyrsyncd" in r.stdout


def test_delta_wheel_round_trips(pip: Path, wheels: Path, tmp_path: Path) -> None:
    """rsync-delta alone: signature, delta and patch give the new file back."""
    bindir = _install(pip, wheels, tmp_path / "env", "rsync-delta")
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_bytes(bytes(range(256)) * 400)
    new.write_bytes(bytes(range(256)) * 200 + b"changed" + bytes(range(256)) * 200)
    tool = bindir / "rsync-delta"
    sig, delta, out = tmp_path / "sig", tmp_path / "delta", tmp_path / "out"
    for argv in (
        [tool, "signature", old, sig],
        [tool, "delta", sig, new, delta],
        [tool, "patch", old, delta, out],
    ):
        r = run(argv, env=_env())
        assert r.returncode == 0, (argv, r.stderr)
    assert out.read_bytes() == new.read_bytes()
