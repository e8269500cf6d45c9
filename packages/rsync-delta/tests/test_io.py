from __future__ import annotations

import io

import pytest

from rsync_delta._io import iter_chunks, regular_fileno, remaining_length


class Trickle(io.RawIOBase):
    """An unseekable stream returning at most `step` bytes per read."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(len(buf), self._step, len(self._data))
        buf[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


DATA = bytes(range(256)) * 40  # 10240 bytes


@pytest.mark.parametrize("hint", [None, 0, 100, 4095, 4096, 10240, 10**9])
@pytest.mark.parametrize("step", [1, 7, 5000, 10**6])
def test_chunks_are_whole_whatever_the_hint(hint: int | None, step: int) -> None:
    chunks = [bytes(c) for c in iter_chunks(Trickle(DATA, step), 4096, size_hint=hint)]
    assert [len(c) for c in chunks] == [4096, 4096, 2048]
    assert b"".join(chunks) == DATA


def test_bytes_sources_are_sliced() -> None:
    assert [len(c) for c in iter_chunks(DATA, 4096)] == [4096, 4096, 2048]
    assert list(iter_chunks(b"", 4096)) == []
    assert list(iter_chunks(Trickle(b"", 1), 4096, size_hint=0)) == []
    exact = [bytes(c) for c in iter_chunks(io.BytesIO(DATA[:8192]), 4096, size_hint=8192)]
    assert exact == [DATA[:4096], DATA[4096:8192]]


def test_remaining_length_and_fileno() -> None:
    f = io.BytesIO(DATA)
    f.seek(240)
    assert remaining_length(f) == 10000
    assert remaining_length(bytearray(5)) == 5
    assert remaining_length(Trickle(DATA, 1)) is None
    assert regular_fileno(f) is None
    assert regular_fileno(object()) is None
