"""``python -m rsync_client`` runs ``pyrsync``."""

from __future__ import annotations

import sys

from rsync_client.launch import main

sys.exit(main())
