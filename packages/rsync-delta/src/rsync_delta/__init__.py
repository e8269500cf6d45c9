"""rsync_delta: rsync's checksums, signature, delta and patch, without the protocol.

Pure and synchronous, usable like librsync::

    import io
    from rsync_delta import ChecksumRule, delta, patch, signature

    rule = ChecksumRule.plain("xxh128")
    sig = signature(b"old contents", rule=rule)
    ops = list(delta(sig, b"new contents", rule))
    out = io.BytesIO()
    patch(b"old contents", ops, out, block_length=sig.block_length)

Names are imported on first use (PEP 562), so that a caller that only patches (the CLI's
``patch`` command) does not pay the 0.2 s of importing numpy. See README.md for the API
and the CLI's file formats.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rsync_delta.blocks import block_length_for, strong_length_for
    from rsync_delta.delta import DeltaGenerator, delta
    from rsync_delta.errors import DeltaError, PatchError, SignatureError
    from rsync_delta.hashes import HASHES, ChecksumRule, HashInfo, new_hasher
    from rsync_delta.ops import MAX_LITERAL, BlockMatch, LiteralData, Op
    from rsync_delta.patch import Patcher, apply_patch, patch
    from rsync_delta.rolling import (
        RollingChecksum,
        block_weak_sums,
        weak_sum,
        weak_sums_at_every_offset,
    )
    from rsync_delta.signature import Signature, signature

__all__ = [
    "HASHES",
    "MAX_LITERAL",
    "BlockMatch",
    "ChecksumRule",
    "DeltaError",
    "DeltaGenerator",
    "HashInfo",
    "LiteralData",
    "Op",
    "PatchError",
    "Patcher",
    "RollingChecksum",
    "Signature",
    "SignatureError",
    "apply_patch",
    "block_length_for",
    "block_weak_sums",
    "delta",
    "new_hasher",
    "patch",
    "signature",
    "strong_length_for",
    "weak_sum",
    "weak_sums_at_every_offset",
]

_HOME = {
    "block_length_for": "blocks",
    "strong_length_for": "blocks",
    "DeltaGenerator": "delta",
    "delta": "delta",
    "DeltaError": "errors",
    "PatchError": "errors",
    "SignatureError": "errors",
    "HASHES": "hashes",
    "ChecksumRule": "hashes",
    "HashInfo": "hashes",
    "new_hasher": "hashes",
    "MAX_LITERAL": "ops",
    "BlockMatch": "ops",
    "LiteralData": "ops",
    "Op": "ops",
    "Patcher": "patch",
    "apply_patch": "patch",
    "patch": "patch",
    "RollingChecksum": "rolling",
    "block_weak_sums": "rolling",
    "weak_sum": "rolling",
    "weak_sums_at_every_offset": "rolling",
    "Signature": "signature",
    "signature": "signature",
}


# `signature`, `delta` and `patch` each name a submodule and the function inside it. The
# import system binds a submodule as an attribute of its package when it is first loaded;
# the function must win, whatever is imported first.
_SHADOWED = frozenset({"signature", "delta", "patch"})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: object) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
