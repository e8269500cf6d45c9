"""Fuzzing the RSDS (signature) and RSDD (delta) file readers (issue 9).

Property: arbitrary bytes, mutations of valid files, and headers carrying extreme values
(block length 0 or 2**32-1, basis lengths near 2**64, counts near 2**31) only ever raise
DeltaError (SignatureError / PatchError) -- never struct.error, ValueError,
OverflowError or MemoryError. A small budget by default; PYRSYNC_FUZZ_EXAMPLES for more.
"""

from __future__ import annotations

import io
import os
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rsync_delta.delta import delta
from rsync_delta.errors import DeltaError
from rsync_delta.fileformat import DeltaReader, DeltaWriter, read_signature, write_signature
from rsync_delta.hashes import ChecksumRule
from rsync_delta.signature import signature

_EXAMPLES = int(os.environ.get("PYRSYNC_FUZZ_EXAMPLES", "0") or 0) or 60
FUZZ = settings(
    max_examples=_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_BASIS = bytes(range(256)) * 20
_NEW = _BASIS[:1000] + b"changed" + _BASIS[1500:]
_RULE = ChecksumRule.plain("md5")


def _valid_signature() -> bytes:
    out = io.BytesIO()
    write_signature(out, signature(_BASIS, rule=_RULE, block_length=700), checksum="md5")
    return out.getvalue()


def _valid_delta() -> bytes:
    sig = signature(_BASIS, rule=_RULE, block_length=700)
    out = io.BytesIO()
    writer = DeltaWriter(out, checksum="md5", block_length=700, basis_length=len(_BASIS))
    writer.write(delta(sig, _NEW, _RULE))
    writer.finish(len(_NEW), _RULE.file_hasher().digest())
    return out.getvalue()


_VALID_SIG = _valid_signature()
_VALID_DELTA = _valid_delta()

_EXTREMES = [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**64 - 1]


@st.composite
def _mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    data = bytearray(valid)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.integers(0, 3))
        if op == 0 and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == 1:
            width = draw(st.sampled_from([4, 8]))
            value = draw(st.sampled_from(_EXTREMES)) & ((1 << (8 * width)) - 1)
            data[at : at + width] = value.to_bytes(width, "little")
        elif op == 2:
            del data[at : at + draw(st.integers(1, 64))]
        else:
            data[at:at] = draw(st.binary(max_size=16))
    return bytes(data)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200), _mutated(_VALID_SIG)))
def test_signature_reader(raw: bytes) -> None:
    try:
        read_signature(io.BytesIO(raw))
    except DeltaError:
        return


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200), _mutated(_VALID_DELTA)))
def test_delta_reader_and_patch(raw: bytes) -> None:
    try:
        reader = DeltaReader(io.BytesIO(raw))
        list(reader.ops())
    except DeltaError:
        pass
    try:
        reader = DeltaReader(io.BytesIO(raw))
        reader.patch(_BASIS, io.BytesIO())
    except DeltaError:
        return


@FUZZ
@given(
    blen=st.sampled_from(_EXTREMES),
    slen=st.sampled_from([0, 16, 17, 2**31 - 1, 2**32 - 1]),
    flen=st.sampled_from(_EXTREMES),
)
def test_signature_header_extremes(blen: int, slen: int, flen: int) -> None:
    layout = struct.Struct("<4sBBHIIQ")  # magic, version, checksum id, reserved, blen, slen, flen
    fields = list(layout.unpack_from(_VALID_SIG))
    fields[4], fields[5], fields[6] = blen & 0xFFFFFFFF, slen & 0xFFFFFFFF, flen
    try:
        read_signature(io.BytesIO(layout.pack(*fields) + b"\0" * 64))
    except DeltaError:
        return
