"""Reports of a matrix run: Markdown, JSON, JUnit XML, one self-contained HTML page; the baseline.

The grid: one row per transport, direction, client and server; one column per protocol; in
each grid cell one mark per scenario. The Markdown table says per grid cell ``ok`` or what
is not; the HTML page colours each scenario's square and links it to the cell's details
(commands, exit codes, output, tree differences), shown by the ``:target`` rule: no script,
no external file, readable offline as a CI artefact.

The baseline (JSON, ``{"cells": {id: status}}``) holds the status each cell is known to
have: a cell whose status changed fails the run (a regression, or an improvement to record
with ``--write-baseline``); a cell not in it fails when it is ``differs``, ``failed`` or
``hung``.

Not here: running anything (see ``matrix``).
"""

from __future__ import annotations

import html
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from xml.etree import ElementTree as ET

from interop.scenarios import BY_NAME

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    from interop.matrix import Cell, MatrixResult

BAD: Final = frozenset({"differs", "failed", "hung"})
SYMBOL: Final = {
    "identical": "ok",
    "differs": "differs",
    "limit": "limit",
    "failed": "FAILED",
    "hung": "HUNG",
    "unclaimed": "-",
}
COLOURS: Final = {
    "identical": "#2e9e44",
    "differs": "#e0a800",
    "limit": "#6c8ebf",
    "failed": "#d32f2f",
    "hung": "#7b1fa2",
    "unclaimed": "#c8c8c8",
}


class BaselineError(ValueError):
    """The baseline file is unreadable or not of the expected shape."""


@dataclass
class Verdict:
    """What the run means for CI: the cells that should fail it, and why."""

    regressions: list[tuple[str, str, str]] = field(default_factory=list)
    """(cell id, baseline status, status now)."""
    unexpected: list[tuple[str, str]] = field(default_factory=list)
    """(cell id, status) of bad cells the baseline does not know."""

    @property
    def ok(self) -> bool:
        """No regression and nothing unexpected."""
        return not self.regressions and not self.unexpected

    def lines(self) -> list[str]:
        """Human-readable lines, one per problem."""
        out = [f"changed: {cid}: {was} -> {now}" for cid, was, now in self.regressions]
        out += [f"unexpected: {cid}: {status}" for cid, status in self.unexpected]
        return out


def load_baseline(path: Path) -> dict[str, str]:
    """Read a baseline file.

    Raises:
        BaselineError: missing, not JSON, or not ``{"cells": {id: status}}``.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read the baseline {path}: {exc.strerror or exc}"
        raise BaselineError(msg) from None
    except ValueError as exc:
        msg = f"the baseline {path} is not JSON: {exc}"
        raise BaselineError(msg) from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in cells.items()
    ):
        msg = f'the baseline {path} must be {{"cells": {{"cell id": "status", ...}}}}'
        raise BaselineError(msg)
    return dict(cells)


def baseline_of(result: MatrixResult) -> dict[str, Any]:
    """The baseline recording every cell's status now."""
    return {
        "comment": "interop matrix baseline: cell id -> status (see docs/interop.md)",
        "cells": {c.spec.id: c.status for c in sorted(result.cells, key=lambda c: c.spec.id)},
    }


def judge(result: MatrixResult, baseline: Mapping[str, str] | None) -> Verdict:
    """Compare the run with the baseline (or, without one, fail on every bad cell)."""
    verdict = Verdict()
    for cell in result.cells:
        known = None if baseline is None else baseline.get(cell.spec.id)
        if known is not None:
            if known != cell.status:
                verdict.regressions.append((cell.spec.id, known, cell.status))
        elif cell.status in BAD:
            verdict.unexpected.append((cell.spec.id, cell.status))
    return verdict


# ---------------------------------------------------------------------------------------------
# Grid


def _rows(cells: Iterable[Cell]) -> dict[tuple[str, str, str, str], dict[int, list[Cell]]]:
    rows: dict[tuple[str, str, str, str], dict[int, list[Cell]]] = defaultdict(
        lambda: defaultdict(list)
    )
    order = {"daemon": 0, "rsh": 1, "rsh-daemon": 2, "local": 3}
    for cell in sorted(
        cells,
        key=lambda c: (
            order.get(c.spec.key.transport, 9),
            c.spec.key.direction,
            c.spec.client,
            c.spec.server,
            c.spec.key.protocol,
            _scenario_index(c.spec.key.scenario),
        ),
    ):
        rows[cell.spec.row][cell.spec.key.protocol].append(cell)
    return rows


def _scenario_index(name: str) -> int:
    return list(BY_NAME).index(name) if name in BY_NAME else 99


def _protocols(result: MatrixResult) -> list[int]:
    return sorted({c.spec.key.protocol for c in result.cells})


def _row_label(row: tuple[str, str, str, str]) -> tuple[str, str, str]:
    transport, direction, client, server = row
    if transport == "local":
        return ("local", "", f"{client} (local copy)")
    arrow = "<-" if direction == "pull" else "->"
    return (transport, direction, f"{client} {arrow} {server}")


def grid_summary(cells: list[Cell]) -> str:
    """One grid cell in words: ``ok``, or ``limit (pyrsync)``, or ``differs: hardlinks``."""
    if not cells:
        return ""
    statuses = {c.status for c in cells}
    if statuses == {"identical"}:
        return "ok"
    if statuses == {"unclaimed"}:
        return "-"
    if statuses <= {"limit", "unclaimed"}:
        owners = sorted({c.owner for c in cells if c.owner})
        return f"limit ({', '.join(owners)})"
    parts = []
    for status in ("failed", "hung", "differs", "limit"):
        names = [_named(c) for c in cells if c.status == status]
        if names:
            parts.append(f"{SYMBOL[status]}: {', '.join(names)}")
    return "; ".join(parts)


def _named(cell: Cell) -> str:
    """The scenario, and for ``differs`` what differs: ``(tree)``, ``(output)`` or both."""
    name = cell.spec.key.scenario
    if cell.status != "differs":
        return name
    what = [w for w, lines in (("tree", cell.tree_diff), ("output", cell.output_diff)) if lines]
    return f"{name} ({'+'.join(what)})" if what else name


def markdown(result: MatrixResult) -> str:
    """The grid as a Markdown table, with the legend and the counts."""
    protocols = _protocols(result)
    lines = [
        "| transport | direction | client <-> server | "
        + " | ".join(str(p) for p in protocols)
        + " |",
        "|---|---|---|" + "---|" * len(protocols),
    ]
    for row, by_protocol in _rows(result.cells).items():
        transport, direction, pair = _row_label(row)
        marks = [grid_summary(by_protocol.get(p, [])) or " " for p in protocols]
        lines.append(f"| {transport} | {direction} | {pair} | " + " | ".join(marks) + " |")
    counts = result.counts()
    scenarios = sorted({c.spec.key.scenario for c in result.cells}, key=_scenario_index)
    lines += [
        "",
        "Scenarios per grid cell: " + ", ".join(scenarios) + ".",
        "`ok`: every scenario identical to rsync <-> rsync; `limit (X)`: X refuses, as it does "
        "with rsync in the other seat; `differs`, `FAILED`, `HUNG`: the scenarios named "
        "(for `differs`: in the tree, the output lines or both); `-`: not claimed.",
        "",
        "Cells: "
        + ", ".join(
            f"{counts[s]} {s}"
            for s in ("identical", "differs", "limit", "failed", "hung", "unclaimed")
            if counts[s]
        )
        + f"; {result.seconds:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def as_json(result: MatrixResult) -> dict[str, Any]:
    """Everything, as plain data."""
    return {
        "quick": result.quick,
        "seconds": round(result.seconds, 1),
        "counts": dict(result.counts()),
        "implementations": [i.describe() for i in result.implementations],
        "scenarios": {s.name: {"title": s.title, "flags": list(s.flags)} for s in BY_NAME.values()},
        "cells": [c.as_dict() for c in result.cells],
        "daemon_logs": result.daemons,
    }


def _details_text(cell: Cell) -> str:
    lines = [f"status: {cell.status}", f"reason: {cell.reason}"]
    run = cell.run
    if run is not None:
        lines += [f"$ {' '.join(run.argv)}", f"exit code {run.returncode}"]
        if run.stdout:
            lines += ["--- stdout ---", run.stdout.rstrip("\n")]
        if run.stderr:
            lines += ["--- stderr ---", run.stderr.rstrip("\n")]
    if cell.tree_diff:
        lines += ["--- tree differences (reference -> this cell) ---", *cell.tree_diff]
    if cell.output_diff:
        lines += ["--- output lines (- reference only, + this cell only) ---", *cell.output_diff]
    return "\n".join(lines)


def junit(result: MatrixResult, baseline: Mapping[str, str] | None = None) -> str:
    """JUnit XML: one test case per cell; bad cells (not known to the baseline) fail."""
    suites = ET.Element("testsuites", name="interop matrix")
    by_suite: dict[str, list[Cell]] = defaultdict(list)
    for cell in result.cells:
        k = cell.spec.key
        by_suite[f"{k.transport}.{k.direction}"].append(cell)
    for name, cells in sorted(by_suite.items()):
        suite = ET.SubElement(suites, "testsuite", name=name, tests=str(len(cells)))
        failures = skipped = 0
        for cell in cells:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"interop.{name}",
                name=cell.spec.id,
                time=f"{cell.run.seconds:.3f}" if cell.run else "0",
            )
            known = None if baseline is None else baseline.get(cell.spec.id)
            text = _details_text(cell)
            if known is not None and known != cell.status:
                failures += 1
                node = ET.SubElement(
                    case, "failure", message=f"changed: {known} -> {cell.status}: {cell.reason}"
                )
                node.text = text
            elif cell.status in BAD and known is None:
                failures += 1
                node = ET.SubElement(case, "failure", message=f"{cell.status}: {cell.reason}")
                node.text = text
            elif cell.status in ("unclaimed", "limit") or cell.status in BAD:
                skipped += 1
                ET.SubElement(case, "skipped", message=f"{cell.status}: {cell.reason}")
            if cell.run is not None:
                ET.SubElement(case, "system-out").text = text
        suite.set("failures", str(failures))
        suite.set("skipped", str(skipped))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


_CSS: Final = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table.grid { border-collapse: collapse; }
.grid th, .grid td { border: 1px solid #bbb; padding: 4px 6px; text-align: left; }
.grid td.p { white-space: nowrap; }
a.sq { display: inline-block; width: 14px; height: 14px; margin: 1px; border-radius: 2px;
       vertical-align: middle; }
a.sq:hover, a.sq:focus { outline: 2px solid #000; }
.legend span { display: inline-block; margin-right: 1em; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
            vertical-align: middle; }
section.detail { display: none; border: 2px solid #444; padding: 0.5em 1em; margin: 1em 0;
                 background: #fafafa; }
section.detail:target { display: block; }
pre { white-space: pre-wrap; word-break: break-all; background: #fff; border: 1px solid #ddd;
      padding: 0.5em; max-height: 30em; overflow: auto; }
"""


def _status_css() -> str:
    return "".join(
        f".s-{status} {{ background: {colour}; }}\n" for status, colour in COLOURS.items()
    )


def html_page(result: MatrixResult) -> str:
    """One self-contained page: the coloured grid; a cell's details one click away."""
    esc = html.escape
    protocols = _protocols(result)
    index = {id(c): n for n, c in enumerate(result.cells)}
    counts = result.counts()
    scenarios = sorted({c.spec.key.scenario for c in result.cells}, key=_scenario_index)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>rsync interop matrix</title>",
        f"<style>{_CSS}{_status_css()}</style></head><body>",
        '<h1 id="top">rsync interop matrix</h1>',
        '<p class="summary">'
        + esc(
            ", ".join(f"{counts[s]} {s}" for s in COLOURS if counts[s])
            + f" cells; {result.seconds:.0f} s"
            + ("; quick subset" if result.quick else "")
        )
        + "</p>",
        '<p class="legend">'
        + "".join(f'<span><i class="s-{s}"></i>{esc(s)}</span>' for s in COLOURS)
        + "</p>",
        "<p>Each square is one scenario ("
        + esc(", ".join(scenarios))
        + "), compared with the same run rsync &lt;-&gt; rsync. Click a square for its "
        "details.</p>",
        '<table class="grid"><thead><tr><th>transport</th><th>direction</th>'
        "<th>client &lt;-&gt; server</th>"
        + "".join(f"<th>protocol {p}</th>" for p in protocols)
        + "</tr></thead><tbody>",
    ]
    for row, by_protocol in _rows(result.cells).items():
        transport, direction, pair = _row_label(row)
        out.append(f"<tr><td>{esc(transport)}</td><td>{esc(direction)}</td><td>{esc(pair)}</td>")
        for p in protocols:
            squares = "".join(
                f'<a class="sq s-{c.status}" href="#cell-{index[id(c)]}" '
                f'data-cell="{esc(c.spec.id)}" data-status="{c.status}" '
                f'title="{esc(c.spec.key.scenario)}: {esc(c.status)}"></a>'
                for c in by_protocol.get(p, [])
            )
            out.append(f'<td class="p">{squares}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    out.append("<h2>Implementations</h2><ul>")
    for impl in result.implementations:
        roles = [r for r in ("client", "server", "daemon") if getattr(impl, r)]
        out.append(
            f"<li><b>{esc(impl.name)}</b> {esc(impl.version)} ({esc(', '.join(roles))}; "
            f"protocols {impl.min_protocol}-{impl.protocol}; {esc(impl.source)})</li>"
        )
    out.append("</ul><h2>Cell details</h2><p>Click a square above.</p>")
    for cell in result.cells:
        n = index[id(cell)]
        out.append(
            f'<section class="detail" id="cell-{n}" data-cell="{esc(cell.spec.id)}">'
            f"<h3>{esc(cell.spec.id)}: "
            f'<span class="status s-{cell.status}">&nbsp;{esc(cell.status)}&nbsp;</span></h3>'
            f"<p>{esc(BY_NAME[cell.spec.key.scenario].title)}. {esc(cell.reason)}</p>"
        )
        run = cell.run
        if run is not None:
            out.append(f'<h4>command</h4><pre class="command">{esc(" ".join(run.argv))}</pre>')
            if run.remote:
                out.append(f"<p>remote side: <code>{esc(' '.join(run.remote))}</code></p>")
            out.append(
                f"<p>exit code {run.returncode}"
                + (f" (reference: {cell.exit_codes[1]})" if cell.exit_codes[1] is not None else "")
                + f"; {run.seconds:.2f} s</p>"
            )
            for name, text in (("stdout", run.stdout), ("stderr", run.stderr)):
                if text:
                    out.append(f'<h4>{name}</h4><pre class="{name}">{esc(text)}</pre>')
            if run.outside:
                out.append(
                    f"<h4>outside the destination</h4><pre>{esc(chr(10).join(run.outside))}</pre>"
                )
        if cell.tree_diff:
            out.append(
                "<h4>tree differences (reference, then this cell)</h4>"
                f'<pre class="tree-diff">{esc(chr(10).join(cell.tree_diff))}</pre>'
            )
        if cell.output_diff:
            out.append(
                "<h4>output lines (- reference only, + this cell only)</h4>"
                f'<pre class="output-diff">{esc(chr(10).join(cell.output_diff))}</pre>'
            )
        out.append('<p><a href="#top">back to the grid</a></p></section>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_reports(
    result: MatrixResult, directory: Path, baseline: Mapping[str, str] | None = None
) -> dict[str, Path]:
    """Write matrix.md, matrix.json, junit.xml and matrix.html into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": directory / "matrix.md",
        "json": directory / "matrix.json",
        "junit": directory / "junit.xml",
        "html": directory / "matrix.html",
    }
    paths["markdown"].write_text(markdown(result), encoding="utf-8")
    paths["json"].write_text(
        json.dumps(as_json(result), indent=1, ensure_ascii=False, default=os.fspath) + "\n",
        encoding="utf-8",
    )
    paths["junit"].write_text(junit(result, baseline), encoding="utf-8")
    paths["html"].write_text(html_page(result), encoding="utf-8")
    return paths
