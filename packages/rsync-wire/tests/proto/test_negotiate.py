"""Two :class:`Negotiation` machines, a client's and a server's, run back to back."""

from __future__ import annotations

import pytest

from rsync_wire.errors import ProtocolError, RemoteProtocolError, UnsupportedError
from rsync_wire.proto import codec
from rsync_wire.proto.constants import CF
from rsync_wire.proto.negotiate import Negotiation, Offer, Session, agree

# what rsync 3.x clients send with -e. (rsync: compat.c)
CAPS = "iLsfxCIvu"


class _Pipe:
    """One direction's bytes, decoded with the reader's codec functions."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pos = 0

    def decode(self, machine: Negotiation) -> bool:
        decoder = machine.expecting
        if decoder is None:
            return False
        try:
            value, self.pos = decoder(self.buf, self.pos)
        except codec.NeedMoreData:
            return False
        machine.receive(value)
        return True


def _run(client: Negotiation, server: Negotiation) -> tuple[Session, Session, bytes, bytes]:
    """Pump bytes both ways until neither machine can move; returns both sessions and streams."""
    to_server, to_client = _Pipe(), _Pipe()
    while True:
        to_server.buf += client.data_to_send()
        to_client.buf += server.data_to_send()
        if not (to_server.decode(server) or to_client.decode(client)):
            break
    assert client.session is not None, "the client did not finish"
    assert server.session is not None, "the server did not finish"
    assert to_server.pos == len(to_server.buf), "the server left client bytes unread"
    assert to_client.pos == len(to_client.buf), "the client left server bytes unread"
    return client.session, server.session, bytes(to_server.buf), bytes(to_client.buf)


def _pair(
    *, protocol: int | None, client: Offer, server: Offer, ours: int = 32
) -> tuple[Negotiation, Negotiation]:
    return (
        Negotiation(server=False, offer=client, protocol=protocol, ours=ours),
        Negotiation(server=True, offer=server, protocol=protocol),
    )


@pytest.mark.parametrize("ours", [27, 28, 29, 30, 31, 32])
@pytest.mark.parametrize("remote_shell", [True, False], ids=["remote-shell", "daemon"])
def test_both_sides_agree_at_every_protocol(ours: int, remote_shell: bool) -> None:
    protocol = None if remote_shell else ours
    client, server = _pair(
        protocol=protocol,
        ours=ours,
        client=Offer(),
        server=Offer(capabilities=CAPS, inc_recurse=True, seed=-12345),
    )
    c, s, up, _down = _run(client, server)
    assert c == s
    assert c.protocol == ours
    assert c.seed == -12345
    if ours < 30:
        assert c.compat_flags == 0
        assert c.checksum == "md4"
        assert not c.checksum_negotiated
    else:
        assert c.compat_flags & CF.VARINT_FLIST_FLAGS
        assert c.inc_recurse
        assert c.checksum == "xxh128"
        assert c.checksum_negotiated
    # over a remote shell the client's first four bytes are its version
    assert (up[:4] == ours.to_bytes(4, "little")) is remote_shell


def test_the_lower_version_wins() -> None:
    client, server = _pair(protocol=None, ours=29, client=Offer(), server=Offer(seed=7))
    c, s, _up, down = _run(client, server)
    assert c.protocol == s.protocol == 29
    assert down[:4] == (32).to_bytes(4, "little")


@pytest.mark.parametrize(
    ("choice", "expected"), [("xxh3", "xxh3"), ("MD4", "md4"), ("xxhash", "xxh64")]
)
def test_a_checksum_choice_skips_the_checksum_lists(choice: str, expected: str) -> None:
    client, server = _pair(
        protocol=31,
        client=Offer(checksum_choice=choice),
        server=Offer(checksum_choice=choice, capabilities=CAPS),
    )
    c, s, up, _down = _run(client, server)
    assert c.checksum == s.checksum == expected
    assert c.checksum_negotiated
    assert up == b""  # no list from the client


def test_compression_is_negotiated_by_name_with_z() -> None:
    client, server = _pair(
        protocol=31,
        client=Offer(compress=True, compress_level=3),
        server=Offer(compress=True, capabilities=CAPS, compress_level=3),
    )
    c, s, _up, _down = _run(client, server)
    assert c.compression == s.compression == "zstd"
    assert c.compress_level == 3


def test_a_client_without_v_gets_the_flags_as_one_byte() -> None:
    client, server = _pair(protocol=30, client=Offer(), server=Offer(capabilities="LsfxCI"))
    c, s, _up, _down = _run(client, server)
    assert c.compat_flags == s.compat_flags
    assert not c.varint_flist_flags
    assert c.checksum == "md5"
    server_v = Negotiation(server=True, protocol=30, offer=Offer(capabilities="LsfxCIV"))
    assert len(server_v.data_to_send()) == 1 + 4  # the flags byte and the seed


def test_no_common_checksum_is_an_error() -> None:
    server = Negotiation(server=True, protocol=31, offer=Offer(capabilities=CAPS))
    assert server.data_to_send()  # the flags and our list
    with pytest.raises(UnsupportedError, match="Failed to negotiate a checksum choice"):
        server.receive(b"sha1 crc32")  # a peer's list with nothing we know
    client = Negotiation(server=False, protocol=31, offer=Offer())
    client.receive(int(CF.VARINT_FLIST_FLAGS))
    with pytest.raises(UnsupportedError, match="Failed to negotiate a checksum choice"):
        client.receive(b"blake9")


def test_a_version_that_is_text_is_refused() -> None:
    client = Negotiation(server=False, offer=Offer(), protocol=None)
    assert client.data_to_send() == (32).to_bytes(4, "little")
    value, _ = codec.decode_int32(b"rsyn", 0)
    with pytest.raises(RemoteProtocolError, match="is your shell clean"):
        client.receive(value)


def test_an_unknown_checksum_choice_is_refused_before_any_byte() -> None:
    with pytest.raises(UnsupportedError, match="unknown checksum name: sha9"):
        Negotiation(server=False, offer=Offer(checksum_choice="sha9"), protocol=None)


def test_checksum_choice_below_30_is_refused_by_the_client() -> None:
    client, server = _pair(protocol=29, client=Offer(checksum_choice="md5"), server=Offer())
    with pytest.raises(UnsupportedError, match="needs protocol 30"):
        _run(client, server)


def test_agree_runs_the_two_machines_in_memory() -> None:
    session = agree(
        Negotiation(server=False, offer=Offer(compress=True), protocol=None, ours=31),
        Negotiation(server=True, offer=Offer(compress=True, capabilities=CAPS, seed=5)),
    )
    assert (session.protocol, session.checksum, session.compression, session.seed) == (
        31,
        "xxh128",
        "zstd",
        5,
    )


@pytest.mark.parametrize(("cap", "agreed"), [(29, 29), (33, 32), (99, 32)])
def test_a_server_given_protocol_announces_it_and_speaks_at_most_it(cap: int, agreed: int) -> None:
    # rsync: compat.c setup_protocol() writes protocol_version as --protocol set it
    server = Negotiation(server=True, offer=Offer(seed=1), protocol=None, ours=cap)
    assert server.data_to_send()[:4] == cap.to_bytes(4, "little")
    server.receive(32)
    assert server.protocol == agreed


@pytest.mark.parametrize(
    ("cap", "theirs", "message"),
    [
        (19, 32, "--protocol must be at least 27 on the Server."),
        (35, 34, "--protocol must be no more than 32 on the Server."),
    ],
)
def test_a_server_given_protocol_out_of_range_fails_after_the_exchange(
    cap: int, theirs: int, message: str
) -> None:
    server = Negotiation(server=True, offer=Offer(seed=1), protocol=None, ours=cap)
    assert server.data_to_send()[:4] == cap.to_bytes(4, "little")
    with pytest.raises(ProtocolError) as info:
        server.receive(theirs)
    assert str(info.value) == message
