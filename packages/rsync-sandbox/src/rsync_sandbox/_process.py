"""Process-wide preconditions shared by the sandbox steps (no side effects)."""

from __future__ import annotations

import contextlib
import os
import threading

from rsync_sandbox.errors import SandboxError


def ensure_single_threaded() -> None:
    """Raise `SandboxError` unless this process runs exactly one thread.

    ``unshare(CLONE_NEWNS)`` fails in a multi-threaded process, and Landlock and the
    capability bounding set apply to the calling thread only, so every step that
    changes the process must run before any thread (or event loop) starts. Threads
    started outside Python are seen through ``/proc/self/task`` when it is visible.
    """
    count = threading.active_count()
    # Without /proc (already confined), the Python count is all we have.
    with contextlib.suppress(OSError):
        count = max(count, len(os.listdir("/proc/self/task")))
    if count > 1:
        msg = (
            f"the sandbox must be applied in a single-threaded process, found {count} threads:"
            " apply it before starting threads or an event loop"
        )
        raise SandboxError(msg)
