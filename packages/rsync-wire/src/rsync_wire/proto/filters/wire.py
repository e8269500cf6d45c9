"""The rule list on the wire: which rules travel and how, and the reader of a received list.

Old protocols spell some rules differently, or cannot say them at all.

rsync: exclude.c send_filter_list(), send_rules(), recv_filter_list().
"""

from __future__ import annotations

import operator
import struct
from itertools import chain
from typing import TYPE_CHECKING, Final

from rsync_wire.errors import (
    AllocationLimitError,
    LocalProtocolError,
    RemoteProtocolError,
)
from rsync_wire.proto.codec import NeedMoreData, decode_int32, encode_int32_into
from rsync_wire.proto.filters.chain import FilterList
from rsync_wire.proto.filters.parse import _make_rule
from rsync_wire.proto.filters.rules import (
    _F,
    _LOCAL_RULE,
    _NEWEST_PROTOCOL,
    _REMOTE_RULE,
    DEFAULT_CVSIGNORE,
    MAX_RULE_TEXT,
    RULE_COST,
    FilterRule,
    _rule_prefix,
)
from rsync_wire.proto.options import DEFAULT_MAX_ALLOC

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


def _default_cvs_rules(protocol: int) -> list[FilterRule]:
    perishable = _F.PERISHABLE if protocol >= 30 else _F(0)
    return [_make_rule(w, perishable, 0, b"") for w in DEFAULT_CVSIGNORE.split()]


def filter_rule_texts(
    rules: FilterList | Iterable[FilterRule],
    *,
    protocol: int,
    client_is_sender: bool,
    delete_excluded: bool = False,
) -> list[bytes]:
    """The rule texts a client sends for ``rules``, in order (without the terminator).

    Rules that only concern the client's own side are left out; ``-C`` becomes the
    CVS ignore list when the client sends or the protocol is below 29; below
    protocol 29 the old spelling is used (bare pattern for an exclude).

    Args:
        rules: a :class:`FilterList` (its top-level rules and its CVS list) or rules.
        protocol: the negotiated protocol version.
        client_is_sender: the client sends files (a push).
        delete_excluded: ``--delete-excluded`` is on.

    Returns:
        The texts; a directory-only rule ends in ``/``.

    Raises:
        LocalProtocolError: "filter rules are too modern for remote rsync" (exit
            code 2) when a rule needs more than ``protocol`` can express.

    rsync: exclude.c:send_rules().
    """
    if isinstance(rules, FilterList):
        top: Sequence[FilterRule] = rules.rules
        cvs = rules.cvs_rules
    else:
        top = list(rules)
        cvs = None
    out: list[bytes] = []
    am_sender = client_is_sender

    def walk(seq: Sequence[FilterRule], *, send: bool) -> None:
        nonlocal cvs
        for rule in seq:
            f = rule.flags
            elide = 0
            if f & _F.SENDER_SIDE:
                elide = _LOCAL_RULE if am_sender else _REMOTE_RULE
            if f & _F.RECEIVER_SIDE:
                elide = 0 if elide else (_REMOTE_RULE if am_sender else _LOCAL_RULE)
            elif delete_excluded and not elide and (not f & _F.PERDIR_MERGE or f & _F.NO_PREFIXES):
                elide = _LOCAL_RULE if am_sender else _REMOTE_RULE
            if elide == _LOCAL_RULE:
                continue
            if f & _F.CVS_IGNORE and not f & _F.MERGE_FILE:
                if cvs is None:
                    cvs = _default_cvs_rules(protocol)
                expand = am_sender or protocol < 29
                walk(cvs, send=send and expand)
                if expand:
                    continue
            prefix = _rule_prefix(
                rule,
                for_xfer=True,
                protocol=protocol,
                am_sender=am_sender,
                delete_excluded=delete_excluded,
            )
            if prefix is None:
                msg = "filter rules are too modern for remote rsync."
                raise LocalProtocolError(msg)
            if not send:
                continue
            text = prefix + rule.pattern + (b"/" if f & _F.DIRECTORY else b"")
            if text:
                out.append(text)

    walk(top, send=True)
    return out


def encode_filter_list_into(
    buf: bytearray,
    rules: FilterList | Iterable[FilterRule],
    *,
    protocol: int,
    client_is_sender: bool,
    delete_excluded: bool = False,
) -> None:
    """Append the client's filter list to ``buf``: each rule as i32 length + text, then i32 0.

    Call it only when the list is sent at all (:func:`filter_list_is_sent`);
    otherwise rsync writes nothing, not even the terminator.

    Raises:
        LocalProtocolError: see :func:`filter_rule_texts`.

    rsync: exclude.c:send_filter_list() and send_rules().
    """
    texts = filter_rule_texts(
        rules, protocol=protocol, client_is_sender=client_is_sender, delete_excluded=delete_excluded
    )
    for text in texts:
        encode_int32_into(buf, len(text))
        buf += text
    encode_int32_into(buf, 0)


def decode_filter_list(
    buf: bytes | bytearray | memoryview,
    pos: int,
    *,
    resume: object = None,
    max_alloc: int = DEFAULT_MAX_ALLOC,
) -> tuple[list[bytes], int]:
    """Decode a whole filter list (rule texts up to the i32 0 terminator).

    Sans-IO: when ``buf`` ends before the terminator this raises
    :class:`~rsync_wire.proto.codec.NeedMoreData`; read more and call again from
    the same ``pos``, passing the exception's ``resume`` back (a million-rule list
    arrives in many reads; without it every read decoded the list from its start).
    A rule text is cut at its first NUL, as rsync's C string is.

    Returns:
        The rule texts and the position after the terminator. Parse them with
        :meth:`FilterList.add_received`.

    Args:
        buf: the input buffer.
        pos: where the list starts.
        resume: the ``resume`` of the last :class:`NeedMoreData` raised for this list.
        max_alloc: ``--max-alloc``: a list whose rules would hold more (each is charged
            :data:`RULE_COST` bytes plus its text) is refused.

    Raises:
        NeedMoreData: the list is not complete yet.
        RemoteProtocolError: a negative length, or a rule longer than
            :data:`MAX_RULE_TEXT` bytes.
        AllocationLimitError: the list outgrows ``max_alloc``.

    rsync: exclude.c:recv_filter_list().
    """
    first = pos
    out: list[bytes] = []
    if isinstance(resume, _ListProgress):
        out = resume.texts
        pos = first + resume.consumed
    while True:
        start = pos
        try:
            length, pos = decode_int32(buf, pos)
        except NeedMoreData:
            raise NeedMoreData(_ListProgress(start - first, out)) from None
        if length == 0:
            return out, pos
        if length < 0 or length > MAX_RULE_TEXT:
            msg = (
                f"filter rule length {length} at offset {start} is out of range "
                f"(expected 1..{MAX_RULE_TEXT})"
            )
            raise RemoteProtocolError(msg)
        if pos + length > len(buf):
            raise NeedMoreData(_ListProgress(start - first, out))
        out.append(bytes(buf[pos : pos + length]).split(b"\0", 1)[0])
        pos += length
        if (pos - first) + len(out) * RULE_COST > max_alloc:
            msg = f"[sender] exceeded --max-alloc={max_alloc} setting (file=exclude.c)"
            raise AllocationLimitError(msg)


class _ListProgress:
    """How far :func:`decode_filter_list` got: bytes consumed from the start, texts so far."""

    __slots__ = ("consumed", "texts")

    def __init__(self, consumed: int, texts: list[bytes]) -> None:
        self.consumed = consumed
        self.texts = texts


_I32 = struct.Struct("<i")

_PLUS1: Final = bytes(range(1, 256)) + b"\0"
"""``bytes.translate`` table: a length byte plus one (255: none)."""

_LAST: Final = operator.itemgetter(-1)
_DROP_LAST: Final = operator.itemgetter(slice(0, -1))

_MIN_WINDOW: Final = 256
_MAX_WINDOW: Final = 1 << 20


def _common_prefix(a: bytes, b: bytes) -> int:
    """How many bytes ``a`` and ``b`` start with in common (by halving: memcmp, not a loop)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _is_plain(part: bytes) -> bool:
    """``part`` (a rule's text and the next length byte) holds a ``- PAT``/``+ PAT`` text."""
    return len(part) > 3 and part[1] == 0x20 and part[0] in (0x2B, 0x2D) and 0 not in part


def _plain_run(raw: bytes, pos: int, stop: int) -> tuple[int, int, bytes]:
    """The ``- PAT``/``+ PAT`` rules at ``raw[pos:stop]``, read in bulk.

    Returns (rules, bytes they take on the wire, their :class:`_Packed` plain records).
    Stops before the first rule that is something else, or longer than 253 bytes, or
    not followed by the next rule's length within ``stop`` (the general loop reads
    those). How: rule texts hold no NUL and a length below 256 is one byte and three
    NULs, so splitting at three NULs cuts the list at every length; the cut is
    trusted only as far as each length is that of the text after it (compared in bulk),
    which makes it the one the lengths say, and a header is then the only place a NUL is.
    """
    if raw[pos + 1 : pos + 4] != b"\0\0\0" or raw[pos + 5 : pos + 6] != b" ":
        return 0, 0, b""  # not even the first rule
    region = raw[pos:stop]
    parts = region.split(b"\0\0\0")
    # parts[0] is the first length; parts[i] the text of rule i-1 and the next length
    if len(parts[0]) != 1 or len(parts) < 3:
        return 0, 0, b""
    parts.pop()  # a text not followed by a whole length, or what follows the list
    n = len(parts) - 1
    declared = bytes(map(_LAST, parts[:n])).translate(_PLUS1)
    try:
        actual = bytes(map(len, parts[1:]))
    except ValueError:  # a part of 256 bytes or more: a long rule, or not a rule
        n = next(i for i, part in enumerate(parts[1:]) if len(part) > 255)
        actual = bytes(map(len, parts[1 : n + 1]))
        declared = declared[:n]
    if declared != actual:
        n = _common_prefix(declared, actual)
    texts = b"\0".join(chain((b"",), map(_DROP_LAST, parts[1 : n + 1])))
    if 3 in actual[:n] or texts.count(0) != n or texts.count(b"\0- ") + texts.count(b"\0+ ") != n:
        # a text with a NUL, without a pattern ("- "), or another kind of rule: stop
        # before the first
        n = next((i for i, part in enumerate(parts[1 : n + 1]) if not _is_plain(part)), 0)
        texts = b"\0".join(chain((b"",), map(_DROP_LAST, parts[1 : n + 1])))
    if not n:
        return 0, 0, b""
    records = texts.replace(b"\0- ", b"\0-").replace(b"\0+ ", b"\0+")
    return n, 3 * n + sum(actual[:n]), records[1:] + b"\0"


class FilterListReader:
    """Reads the client's filter list into a :class:`FilterList` as its bytes arrive.

    Sans-IO: call :meth:`decode_some` with the input buffer and the position to read
    from; it adds every complete rule there and returns ``(done, position)``, or raises
    :class:`~rsync_wire.proto.codec.NeedMoreData` when not even one rule is complete.
    Call it until ``done`` (``WireStream.decode`` does the reading); the caller's buffer
    never holds more than one read of the list. The checks are those of
    :func:`decode_filter_list`. With ``flist=None`` the rules are checked and dropped
    (a server that refuses the transfer still reads the list, as rsync does).

    Runs of ``- PAT``/``+ PAT`` rules, what rsync's clients send, are read in bulk
    (:func:`_plain_run`): a million rules must not cost a million turns of a Python loop.
    Anything else goes through the loop, and after a bulk read that found nothing the
    loop reads more and more rules before the next try, so that no input costs more than
    the loop alone would.

    rsync: exclude.c:recv_filter_list().
    """

    __slots__ = ("backoff", "charged", "flist", "max_alloc", "protocol", "skip", "window")

    def __init__(
        self,
        flist: FilterList | None,
        *,
        protocol: int = _NEWEST_PROTOCOL,
        max_alloc: int = DEFAULT_MAX_ALLOC,
    ) -> None:
        self.flist = flist
        self.protocol = protocol
        self.max_alloc = max_alloc
        self.charged = 0
        self.window = 1 << 16  # bytes the next bulk read looks at
        self.skip = 0  # rules the loop reads before the next bulk read
        self.backoff = 0

    def decode_some(self, buf: bytes | bytearray | memoryview, pos: int) -> tuple[bool, int]:
        """Add the complete rules at ``buf[pos:]``: (whether the list ended, new position).

        Raises:
            NeedMoreData: not one complete rule (or terminator) at ``pos``.
            RemoteProtocolError: a negative length, or a rule longer than
                :data:`MAX_RULE_TEXT` bytes; a ``.`` merge rule.
            FilterError: a rule that does not parse.
            AllocationLimitError: the list outgrows ``max_alloc``.
        """
        # one copy of what is left of this read; offsets below are into it
        raw = bytes(memoryview(buf)[pos:])
        base = pos
        pos = start = 0
        end = len(raw)
        texts: list[bytes] = []
        append = texts.append
        done = False
        unpack = _I32.unpack_from
        limit = self.max_alloc
        flist = self.flist
        skip = self.skip
        try:
            while end - pos >= 4:
                if skip:
                    skip -= 1
                else:
                    n, consumed, records = _plain_run(raw, pos, min(end, pos + self.window))
                    cost = consumed + n * RULE_COST
                    if n and self.charged + cost <= limit:
                        if flist is not None:
                            if texts:
                                flist.add_received_texts(texts, self.protocol)
                                texts.clear()
                            local = flist.plain_records()
                            if local is None:
                                flist.add_received_texts(_plain_texts(records), self.protocol)
                            else:
                                local.extend_plain(records, n)
                        self.charged += cost
                        pos += consumed
                        # the next read looks about as far as this one got
                        self.window = min(_MAX_WINDOW, max(_MIN_WINDOW, 2 * consumed))
                        self.backoff = 0
                        continue
                    skip = self.backoff
                    self.backoff = min(2 * self.backoff + 1, 4096)
                (length,) = unpack(raw, pos)
                if length == 0:
                    pos += 4
                    done = True
                    break
                if length < 0 or length > MAX_RULE_TEXT:
                    msg = (
                        f"filter rule length {length} is out of range (expected 1..{MAX_RULE_TEXT})"
                    )
                    raise RemoteProtocolError(msg)
                nxt = pos + 4 + length
                if nxt > end:
                    break
                self.charged += 4 + length + RULE_COST
                if self.charged > limit:
                    msg = f"[sender] exceeded --max-alloc={limit} setting (file=exclude.c)"
                    raise AllocationLimitError(msg)
                text = raw[pos + 4 : nxt]
                append(text.split(b"\0", 1)[0] if b"\0" in text else text)
                pos = nxt
        finally:
            self.skip = skip
            # the rules before a bad one are kept, as when they were added one by one
            if flist is not None and texts:
                flist.add_received_texts(texts, self.protocol)
        if pos == start:
            raise NeedMoreData(None)
        return done, base + pos


def _plain_texts(records: bytes) -> list[bytes]:
    """The ``- PAT``/``+ PAT`` texts of plain records (for the rule-by-rule path)."""
    return [r[:1] + b" " + r[1:] for r in records.split(b"\0")[:-1]]


def filter_list_is_sent(
    *,
    client_is_sender: bool,
    local: bool,
    delete_mode: bool,
    delete_excluded: bool,
    prune_empty_dirs: bool,
    protocol: int,
) -> bool:
    """Whether the client sends (and the server reads) a filter list at all.

    Always when the server is the sender; to a receiving server only when it wants
    the rules (a delete mode, unless ``--delete-excluded`` below protocol 29, or
    ``--prune-empty-dirs``); never in a local copy.

    rsync: exclude.c:send_filter_list()/recv_filter_list() (receiver_wants_list).
    """
    if local:
        return False
    receiver_wants_list = prune_empty_dirs or (
        delete_mode and (not delete_excluded or protocol >= 29)
    )
    return not client_is_sender or receiver_wants_list


def cvs_exclude_rules(
    *, protocol: int, am_sender: bool, am_server: bool, local: bool = False
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The rules the ``-C`` option adds, as (before sending/after receiving, after sending).

    A client adds the first tuple with :meth:`FilterList.add_filter` before
    encoding its list and the second after; a server adds the first tuple right
    after :meth:`FilterList.add_received` (its second tuple is empty).

    rsync: exclude.c:send_filter_list() and recv_filter_list() (the cvs_exclude parts).
    """
    if am_server:
        first: list[bytes] = []
        if local or am_sender or protocol < 29:
            first.append(b":C")
        if local or am_sender:
            first.append(b"-C")
        return tuple(first), ()
    if am_sender:
        before = (b":C", b"-C") if protocol >= 29 else (b"-C",)
        after = (b":C",) if protocol < 29 else ()
        return before, after
    return (), (b":C", b"-C")
