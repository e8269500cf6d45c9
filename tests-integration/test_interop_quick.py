"""CI runs the quick interop matrix for rsync x pyrsync x pyrsyncd against its baseline.

The baseline (``interop/baseline-quick.json``) records every cell's status; a cell that
changed fails this test, with its details. When a change is an improvement (pyrsync learns
to push, pyrsyncd accepts uploads), record it:

    hatch run interop --quick --only rsync,pyrsync,pyrsyncd \
        --write-baseline tests-integration/interop/baseline-quick.json
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from interop.impls import builtins
from interop.matrix import Config, run_matrix
from interop.report import judge, load_baseline, write_reports

if TYPE_CHECKING:
    from harness.tools import RealRsync

pytestmark = [pytest.mark.interop, pytest.mark.slow]

BASELINE = Path(__file__).resolve().parent / "interop" / "baseline-quick.json"
OURS = ("rsync", "pyrsync", "pyrsyncd")


@pytest.mark.timeout(900)
def test_quick_matrix_matches_the_baseline(real_rsync: RealRsync, tmp_path: Path) -> None:
    impls = {name: impl for name, impl in builtins().items() if name in OURS}
    assert sorted(impls) == sorted(OURS)
    assert impls["rsync"].client == (str(real_rsync.path),)
    config = Config(
        implementations=impls, quick=True, jobs=2, timeout=60, budget=600, work=tmp_path / "work"
    )
    result = run_matrix(config)
    baseline = load_baseline(BASELINE)
    paths = write_reports(result, tmp_path / "report", baseline)

    ran = {c.spec.id for c in result.cells}
    assert ran == set(baseline), (
        f"cells not in the baseline: {sorted(ran - set(baseline))}; "
        f"baseline cells not run: {sorted(set(baseline) - ran)}"
    )
    verdict = judge(result, baseline)
    if not verdict.ok:
        by_id = {c.spec.id: c for c in result.cells}
        details = []
        for line, (cell_id, *_rest) in zip(
            verdict.lines(), [*verdict.regressions, *verdict.unexpected], strict=True
        ):
            cell = by_id[cell_id]
            command = " ".join(cell.run.argv) if cell.run else ""
            details.append(f"{line}\n    {cell.reason}\n    $ {command}")
        pytest.fail(
            f"the quick interop matrix changed (report: {paths['html']}):\n" + "\n".join(details),
            pytrace=False,
        )
    # What the matrix exists to show, beyond "nothing changed": the transfers agree.
    statuses = {c.spec.id: c.status for c in result.cells}
    assert statuses["daemon/pull/rsync>pyrsyncd/p32/delta"] == "identical"
    assert statuses["rsh/pull/pyrsync>rsync/p32/initial"] == "identical"
