"""The ``pyrsync`` program's entry point: ``--version`` without loading the client.

``pyrsync --version`` (or ``-V``) alone is what scripts and package managers run to see
what is installed; it prints the same text as the full parser does (`cli.version_text`),
from `capabilities` only, so that it does not pay for the option parser, msgspec and
the output machinery (about half of its start-up). Every other command line goes to
`rsync_client.cli.main`, and the process then ends without the interpreter's teardown
(`_exit_now`).
"""

from __future__ import annotations

import os
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

    return _exit_now(cli_main())


def _exit_now(code: int) -> int:
    """End the process with ``code`` now, without freeing every module's objects.

    Python's teardown frees the objects of every module loaded, one by one: about 17 ms
    at the end of a pull (30 ms with numpy loaded), a tenth of a small transfer's time.
    What the teardown does that matters happens first: the exit functions (logging's
    flush among them) run and the standard streams are flushed. The normal exit is kept
    (``code`` is returned) when another thread is still running (a run ends with none),
    and under a profiler or a tracer (``python -m cProfile``, coverage), which write
    their figures after the program returns.
    """
    import atexit

    threading = sys.modules.get("threading")
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if (
        run_exitfuncs is None
        or (threading is not None and threading.active_count() > 1)
        or sys.getprofile() is not None
        or sys.gettrace() is not None
    ):
        return code
    run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1  # what Python's own exit does when the flush fails
    os._exit(code)
