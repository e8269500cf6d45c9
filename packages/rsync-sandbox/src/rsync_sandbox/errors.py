"""Exceptions raised by rsync_sandbox.

Three kinds, so that a caller's policy can tell them apart:

- `SandboxError`: the sandbox could not be set up (bad policy, a mount failed, the
  process is multi-threaded). The base class of the other two.
- `SandboxUnavailable`: the kernel (or the environment) lacks a feature, for example
  Landlock is not built in or disabled at boot. A best-effort policy downgrades this to a
  warning; an explicit one treats it as fatal.
- `SandboxViolation`: a self-check after confinement failed: the process could regain
  root, could write where it must not, or could see outside its allowed paths. Always
  fatal: the process must not go on serving.

This module does no I/O.
"""

from __future__ import annotations

__all__ = ["SandboxError", "SandboxUnavailable", "SandboxViolation"]


class SandboxError(Exception):
    """The sandbox could not be set up as asked."""


class SandboxUnavailable(SandboxError):  # noqa: N818 (public name, kept without the Error suffix)
    """The kernel or environment lacks a sandboxing feature (Landlock, namespaces)."""


class SandboxViolation(SandboxError):  # noqa: N818 (public name, kept without the Error suffix)
    """A self-check failed: the confined process still has access it must not have."""
