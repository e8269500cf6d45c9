"""rsync_sandbox: confinement for rsync servers and clients on Linux.

One call does it: build a `SandboxPolicy` and pass it to `apply` in a single-threaded
process, after every import, before any event loop. The steps (mount namespace with
read-only binds and ``pivot_root``, privilege drop, ``no_new_privs``, Landlock, the
writable-module refusal) also exist on their own in `rsync_sandbox.namespaces`,
`rsync_sandbox.privileges`, `rsync_sandbox.landlock` and `rsync_sandbox.writeprobe`.
A daemon's connection process adds a layer of its own with `confine_connection`
(`rsync_sandbox.connection`: a Landlock domain per process that denies TCP bind and
connect and scopes signals and abstract sockets, and a seccomp filter from
`rsync_sandbox.seccomp`). See this package's README.md for the sequence and how to check
it from outside.
"""

from __future__ import annotations

from rsync_sandbox.connection import (
    ConnectionPolicy,
    ConnectionReport,
    confine_connection,
    confine_reads,
    confine_writes,
)
from rsync_sandbox.errors import SandboxError, SandboxUnavailable, SandboxViolation
from rsync_sandbox.landlock import LandlockStatus, abi_version
from rsync_sandbox.namespaces import attach_module
from rsync_sandbox.policy import (
    Mechanism,
    Mode,
    SandboxPolicy,
    SandboxReport,
    apply,
    python_runtime_paths,
)
from rsync_sandbox.privileges import (
    NOBODY,
    SwitchError,
    drop_privileges,
    keep_capabilities,
    switch_user,
    verify_dropped,
)
from rsync_sandbox.writeprobe import WriteCheck, check_writable, find_writable, refuse_writable

__all__ = [
    "NOBODY",
    "ConnectionPolicy",
    "ConnectionReport",
    "LandlockStatus",
    "Mechanism",
    "Mode",
    "SandboxError",
    "SandboxPolicy",
    "SandboxReport",
    "SandboxUnavailable",
    "SandboxViolation",
    "SwitchError",
    "WriteCheck",
    "abi_version",
    "apply",
    "attach_module",
    "check_writable",
    "confine_connection",
    "confine_reads",
    "confine_writes",
    "drop_privileges",
    "find_writable",
    "keep_capabilities",
    "python_runtime_paths",
    "refuse_writable",
    "switch_user",
    "verify_dropped",
]
