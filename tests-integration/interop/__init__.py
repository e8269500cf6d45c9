"""The interop matrix: every client x every server x transport x protocol x scenario.

Run it with ``hatch run interop`` (or ``python tests-integration/interop``); see
docs/interop.md. Modules:

    impls: the implementations under test (built in: rsync, pyrsync, pyrsyncd; more by TOML).
    scenarios: the source trees and the command-line flags of each scenario.
    matrix: planning the cells, running them, classifying each against rsync <-> rsync.
    report: Markdown, JSON, JUnit XML and one self-contained HTML page; the baseline.
    cli: the command line.

Built on ``harness`` (trees, compare, proc, shim, daemon), imported as a sibling folder.
"""

from __future__ import annotations
