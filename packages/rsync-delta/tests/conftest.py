from __future__ import annotations

from hypothesis import HealthCheck, settings

# numpy's first calls and the CI machines' noise make per-example timings meaningless.
settings.register_profile(
    "rsync-delta",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("rsync-delta")
