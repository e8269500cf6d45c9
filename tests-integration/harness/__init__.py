"""Helpers of the integration-test harness (imported by ``tests-integration/conftest.py``).

Modules:
    proc: running commands with a hard timeout, free ports, long-running services.
    tools: finding the real rsync, sshd, ssh and rdiff; the skip-locally / fail-in-CI policy.
    daemon: a real ``rsync --daemon`` on loopback, its rsyncd.conf, the module-list probe.
    sshd: a real OpenSSH sshd on loopback with throwaway keys.
    shim: the ``-e`` shim that lets rsync reach a ``--server`` program without ssh.
    trees: the deterministic source tree and its "updated" version.
    compare: ``diff_trees`` and ``assert_trees_equal``.
    stats: parsing ``rsync --stats`` output.

Nothing here imports our own packages: the harness must work before they exist.
"""

from __future__ import annotations
