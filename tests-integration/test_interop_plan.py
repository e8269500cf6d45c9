"""Which cells the matrix plans: seats by role, protocols both ends claim, unclaimed options."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from interop.impls import Implementation, parse_implementation
from interop.matrix import Config, MatrixError, plan

if TYPE_CHECKING:
    from interop.matrix import Cell

RSYNC = Implementation(
    name="rsync",
    client=("/usr/bin/rsync",),
    server=("/usr/bin/rsync",),
    daemon=("/usr/bin/rsync", "--daemon", "--config={config}", "--port={port}"),
    rsh_daemon=("/usr/bin/rsync", "--config={config}"),
)
OLD = parse_implementation(
    {
        "client": ["/opt/old/rsync"],
        "server": ["/opt/old/rsync"],
        "protocol": 29,
        "min_protocol": 28,
        "options": ["--archive", "--delete", "--rsh", "--protocol"],
    },
    name="old",
    where="old.toml",
)


def _ids(cells: list[Cell]) -> dict[str, str]:
    return {c.spec.id: c.reason for c in cells}


def test_seats_protocols_and_claims() -> None:
    cells = _ids(plan(Config(implementations={"rsync": RSYNC, "old": OLD})))
    # old has no daemon: no daemon cells with old as the server, but it is a daemon client.
    assert not [i for i in cells if i.startswith("daemon/") and i.split("/")[2].endswith(">old")]
    assert "daemon/pull/old>rsync/p29/initial" in cells
    assert "rsh/push/rsync>old/p28/delete" in cells
    assert "rsh-daemon/pull/old>rsync/p28/initial" in cells
    # Only the protocols both ends claim; rsync <-> rsync keeps all of its own.
    assert "rsh/pull/old>rsync/p27/initial" not in cells
    assert "rsh/pull/old>rsync/p30/initial" not in cells
    assert "rsh/pull/rsync>rsync/p27/initial" in cells
    assert "local/old/p28/delta" in cells
    # Claims: a scenario needing an option old does not claim is planned but not run.
    assert cells["rsh/pull/old>rsync/p29/hardlinks"] == "not claimed: --hard-links"
    assert cells["daemon/pull/old>rsync/p28/compress"] == "not claimed: --compress"
    assert cells["rsh/pull/old>rsync/p29/delete"] == ""
    assert cells["rsh/pull/rsync>old/p29/filters"] == "not claimed: --exclude, --filter"


def test_quick_is_the_highest_common_protocol_and_five_scenarios() -> None:
    cells = _ids(plan(Config(implementations={"rsync": RSYNC, "old": OLD}, quick=True)))
    protocols = {i.split("/")[-2] for i in cells if "old" in i}
    assert protocols == {"p29"}
    assert {i.split("/")[-1] for i in cells} == {
        "initial",
        "delta",
        "hardlinks",
        "names",
        "compress",
    }


def test_reference_cells_are_added_for_every_key() -> None:
    config = Config(
        implementations={"rsync": RSYNC, "old": OLD}, clients=("old",), servers=("old",)
    )
    cells = _ids(plan(config))
    assert "rsh/pull/old>old/p28/initial" in cells
    assert "rsh/pull/rsync>rsync/p28/initial" in cells


def test_plan_refuses_without_rsync_or_with_unknown_names() -> None:
    with pytest.raises(MatrixError, match="rsync not found"):
        plan(Config(implementations={"old": OLD}))
    with pytest.raises(MatrixError, match="unknown implementation 'nope'"):
        plan(Config(implementations={"rsync": RSYNC}, clients=("nope",)))
    with pytest.raises(MatrixError, match="unknown scenario"):
        plan(Config(implementations={"rsync": RSYNC}, scenarios=("juggling",)))
