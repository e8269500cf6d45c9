"""The ``pyrsync`` program's entry point: ``--version`` without loading the client.

``pyrsync --version`` (or ``-V``) alone is what scripts and package managers run to see
what is installed; it prints the same text as the full parser does (`cli.version_text`),
from `capabilities` only, so that it does not pay for the option parser, msgspec and
the output machinery (about half of its start-up). Every other command line goes to
`rsync_client.cli.main`.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> int:
    """Run ``pyrsync`` as its console script; returns the exit code."""
    if sys.argv[1:] in (["--version"], ["-V"]):
        from rsync_client.capabilities import version_text

        sys.stdout.write(version_text())
        sys.stdout.flush()
        return 0
    from rsync_client.cli import main as cli_main

    return cli_main()
