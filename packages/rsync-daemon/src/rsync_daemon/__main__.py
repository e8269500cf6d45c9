"""``python -m rsync_daemon`` runs ``pyrsyncd``."""

from __future__ import annotations

import sys

from rsync_daemon.cli import main

sys.exit(main())
