"""Errors of the daemon's own making (configuration, authentication, module lookup)."""

from __future__ import annotations

from rsync_wire.errors import ExitCode, RsyncError

__all__ = ["AuthError", "ConfigError", "ModuleNotFound"]


class ConfigError(RsyncError):
    """A bad flag or configuration file; the message names the file, line and expectation."""

    exit_code = ExitCode.SYNTAX


class AuthError(RsyncError):
    """A client failed authentication."""

    exit_code = ExitCode.STARTCLIENT


class ModuleNotFound(RsyncError):  # noqa: N818 - named after what happened
    """A client asked for a module that does not exist (or that it may not see)."""

    exit_code = ExitCode.STARTCLIENT
