"""Running our client, ``pyrsync``, in tests (beside ``harness.tools`` for the real rsync).

``pyrsync_argv(*args)`` is the command line that runs the client from this interpreter's
environment; ``normalize_output`` masks what legitimately differs between two runs of
rsync-compatible clients (timings, rates, byte counts that depend on the capability
string, the version in ``rsync error`` lines), so that outputs can be compared.
"""

from __future__ import annotations

import re
import sys
from typing import Final

__all__ = ["mask_error_location", "normalize_output", "pyrsync_argv"]


def pyrsync_argv(*args: object) -> list[str]:
    """The command ``pyrsync ARGS...`` run with this interpreter."""
    return [
        sys.executable,
        "-c",
        "import sys; from rsync_client.cli import main; sys.exit(main())",
        *(str(a) for a in args),
    ]


_MASKS: Final = (
    (re.compile(r"^(File list (?:generation|transfer) time:) .*$", re.M), r"\1 <T>"),
    (re.compile(r"^(Total bytes (?:sent|received):) .*$", re.M), r"\1 <N>"),
    (re.compile(r"^(File list size:) .*$", re.M), r"\1 <N>"),
    (re.compile(r"^sent .* bytes  received .* bytes  .* bytes/sec$", re.M), "sent <N>"),
    (re.compile(r"^(total size is [\d,]+)  speedup is .*?( \(DRY RUN\))?$", re.M), r"\1\2"),
)


def mask_error_location(text: str) -> str:
    """Drop the ``at FILE(LINE) [role=version]`` tail of ``rsync error:`` lines."""
    return re.sub(r"(rsync (?:error|warning): .*\(code \d+\)) at .*$", r"\1", text, flags=re.M)


def normalize_output(text: str) -> str:
    """Mask timings, rates and byte counts of rsync-style output (see the module doc)."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return mask_error_location(text)
