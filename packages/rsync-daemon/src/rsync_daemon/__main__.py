"""``python -m rsync_daemon`` runs ``pyrsyncd``."""

from __future__ import annotations

import signal

# Ctrl-C while the program loads ends it quietly (rsync_daemon.cli.main then installs
# handlers that exit with rsync's code 20): no KeyboardInterrupt traceback.
signal.signal(signal.SIGINT, signal.SIG_DFL)

import sys  # noqa: E402 - after the handler, on purpose

from rsync_daemon.cli import main  # noqa: E402 - after the handler, on purpose

sys.exit(main())
