"""The compiled rule list and its index: rules packed in one buffer, matched as rsync does.

rsync: exclude.c rule_matches().
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from itertools import accumulate, repeat
from operator import add
from typing import TYPE_CHECKING, Final

from rsync_wire.errors import (
    AllocationLimitError,
)
from rsync_wire.proto.filters.parse import _rule_flag
from rsync_wire.proto.filters.rules import _I, _I_SIDES, _I_WILD_FLAGS, FilterRule
from rsync_wire.proto.wildmatch import compile_wildmatch

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rsync_wire.proto.wildmatch import WildPattern


# -- the list ------------------------------------------------------------------------------

_NEVER: Final = compile_wildmatch(b"[")  # placeholder for literal rules; matches nothing

_PLAIN: Final = 0
_SLOT: Final = 1
_CVS: Final = 2

_MODE_LIT_EQ: Final = 0  # literal, compare whole string
_MODE_LIT_SUFFIX: Final = 1  # literal, compare a trailing part starting after '/'
_MODE_WILD: Final = 2  # wildcard, whole string
_MODE_WILD_TAIL: Final = 3  # wildcard, last n elements
_MODE_WILD_ANY: Final = 4  # wildcard, from the start or after any '/'


class _MergeSlot:
    """The state of one per-directory merge rule (rsync: a mergelist_parents entry)."""

    __slots__ = ("entries", "from_file", "name", "needs_setup", "rule", "shown")

    def __init__(self, rule: FilterRule, *, from_file: bool = False, shown: str = "") -> None:
        self.rule = rule
        self.name = rule.pattern
        self.needs_setup = True
        self.entries: list[_Entry] = []
        self.from_file = from_file  # the name came out of a file: never shown
        # the name as --debug=FILTER shows it (rsync: the list's debug_type), fixed when
        # the rule is added: where it was read when that was a file
        self.shown = shown


class _Entry:
    """A rule prepared for matching."""

    __slots__ = (
        "abs_prefix",
        "basename",
        "dir_only",
        "from_file",
        "include",
        "kind",
        "lit",
        "mode",
        "n",
        "negate",
        "perishable",
        "rule",
        "sides",
        "slot",
        "w2_prefix",
        "w3_suffix",
        "wp",
        "xattr",
    )

    def __init__(self, rule: FilterRule, slot: _MergeSlot | None = None) -> None:
        f = int(rule.flags)
        self.rule = rule
        self.slot = slot
        self.from_file = False  # the rule's text came out of a file (set by _Packed.entry())
        if f & _I.PERDIR_MERGE:
            self.kind = _SLOT
        elif f & _I.CVS_IGNORE:
            self.kind = _CVS
        else:
            self.kind = _PLAIN
        self.sides = f & _I_SIDES
        self.perishable = bool(f & _I.PERISHABLE)
        self.include = bool(f & _I.INCLUDE)
        self.negate = bool(f & _I.NEGATE)
        self.xattr = bool(f & _I.XATTR)
        self.dir_only = bool(f & _I.DIRECTORY)
        wild2 = bool(f & _I.WILD2)
        self.basename = rule.slash_cnt == 0 and not wild2
        self.abs_prefix = bool(f & _I.ABS_PATH)
        self.w2_prefix = bool(f & _I.WILD2_PREFIX)
        self.w3_suffix = bool(f & _I.WILD3_SUFFIX)
        pattern = rule.pattern
        anchored = pattern.startswith(b"/")
        if anchored:
            pattern = pattern[1:]
        self.lit = pattern
        self.n = rule.slash_cnt + 1
        self.wp: WildPattern | None = _NEVER
        if f & _I.WILD:
            self.wp = None  # compiled on first use: most of a long list may never be reached
            if not anchored and rule.slash_cnt and not wild2:
                self.mode = _MODE_WILD_TAIL
            elif not anchored and not self.w2_prefix and wild2:
                self.mode = _MODE_WILD_ANY
            else:
                self.mode = _MODE_WILD
        else:
            self.mode = _MODE_LIT_EQ if anchored else _MODE_LIT_SUFFIX

    def matches(self, fname: bytes, *, is_dir: bool, xattr: bool, root_rel: bytes) -> bool:
        """rsync: exclude.c:rule_matches() (True when the rule applies, negation included)."""
        lead = fname.startswith(b"/")
        name = fname[1:] if lead else fname
        if not name or xattr != self.xattr:
            return False
        if self.basename:
            name = name[name.rfind(b"/") + 1 :]
        elif self.abs_prefix and not lead and root_rel:
            name = root_rel + b"/" + name
        elif self.w2_prefix and not lead:
            name = b"/" + name
        if is_dir:
            if self.w3_suffix:
                name += b"/"
        elif self.dir_only:
            return self.negate
        mode = self.mode
        if mode == _MODE_LIT_SUFFIX:
            lit = self.lit
            hit = name.endswith(lit) and (
                len(name) == len(lit) or name[len(name) - len(lit) - 1] == 0x2F
            )
        elif mode == _MODE_LIT_EQ:
            hit = name == self.lit
        else:
            wp = self.wp
            if wp is None:
                wp = self.wp = compile_wildmatch(self.lit)
            if mode == _MODE_WILD:
                hit = wp.match(name)
            elif mode == _MODE_WILD_TAIL:
                hit = wp.match_tail(name, self.n)
            else:
                hit = wp.match_any_start(name)
        return hit != self.negate


_INDEX_MIN: Final = 32
"""Lists shorter than this are checked rule by rule; longer ones get an :class:`_Index`."""

_CACHE_MAX: Final = 1024
"""How many prepared :class:`_Entry` objects a :class:`_Packed` list keeps (its first ones)."""

_WILD_BYTES: Final = frozenset(b"*?[\\")

_CLASS_BITS: Final = _I.DIRECTORY | _I.PERISHABLE | _I_SIDES
"""The flags that decide whether a rule applies to a query at all (not what it matches)."""


class _Packed:
    """The rules of one list, packed into one byte string.

    A rule held as Python objects (text, :class:`FilterRule`, :class:`_Entry`, compiled
    matcher) costs about 700 bytes; a hostile client may send a million rules, and a
    connection process must stay under 64 MiB. Here a rule is a record in :attr:`blob`,
    ended by a NUL (a pattern never holds one: rsync cuts rule texts at the first), of
    one of two kinds:

    * a *plain* rule (``- PAT`` or ``+ PAT`` as rsync's clients send almost every rule,
      with this list's :attr:`side`): ``-`` or ``+``, then the pattern as it was written,
      a directory rule's trailing ``/`` included. Every other flag follows from the
      pattern (:func:`_plain_flags`), so a received list becomes records in bulk
      (:meth:`extend_plain`), and the index hashes a record's bytes as they are;
    * any other rule: a code byte numbering its flags (in :attr:`fvals`; never NUL,
      ``-``, ``+`` or 255), or 255 and its flags in four NUL-free bytes, then the pattern.

    A rule is named by the offset of its record, so offsets sort in list order.
    :class:`_Entry` objects are made when a rule is matched, and kept only for the first
    :data:`_CACHE_MAX` rules made (all of them in a list as long as people write) and for
    per-directory merge rules.
    """

    __slots__ = ("blob", "cache", "count", "fmap", "fvals", "side", "slots")

    def __init__(self, side: int = 0) -> None:
        self.blob = bytearray()
        self.count = 0
        self.side = side  # the side flags of this list's plain rules (--delete-excluded)
        self.fvals: list[int] = [0] * 256  # flags by code byte
        self.fmap: dict[int, int] = {}  # code byte by flags
        self.slots: dict[int, _MergeSlot] = {}
        self.cache: dict[int, _Entry] = {}

    def __len__(self) -> int:
        return self.count

    def append(self, flags: int, pattern: bytes, slot: _MergeSlot | None = None) -> None:
        blob = self.blob
        if len(blob) + len(pattern) + 7 > _MAX_BLOB:
            msg = "filter rules outgrow 4 GiB"
            raise AllocationLimitError(msg)
        if slot is not None:
            self.slots[len(blob)] = slot
        if flags & ~_PLAIN_FREE == self.side and slot is None:
            blob.append(0x2B if flags & _I.INCLUDE else 0x2D)
            blob += pattern
            if flags & _I.DIRECTORY:
                blob.append(0x2F)
            blob.append(0)
            self.count += 1
            return
        code = self.fmap.get(flags)
        if code is None and len(self.fmap) < len(_CODES):
            code = self.fmap[flags] = _CODES[len(self.fmap)]
            self.fvals[code] = flags
        if code is None:
            blob.append(255)
            blob += bytes(0x80 | (flags >> k) & 0x7F for k in (0, 7, 14, 21))
        else:
            blob.append(code)
        blob += pattern
        blob.append(0)
        self.count += 1

    def extend_plain(self, records: bytes, count: int) -> None:
        """Append ``count`` plain records (each ``-``/``+``, a pattern, a NUL; see above)."""
        if len(self.blob) + len(records) > _MAX_BLOB:
            msg = "filter rules outgrow 4 GiB"
            raise AllocationLimitError(msg)
        self.blob += records
        self.count += count

    def flags_pattern(self, off: int) -> tuple[int, bytes]:
        """The flags and the pattern (as :class:`FilterRule` holds it) of the record at ``off``."""
        blob = self.blob
        k = blob[off]
        stop = blob.index(0, off + 1)
        if k == 0x2D or k == 0x2B:
            return _plain_flags(k, bytes(blob[off + 1 : stop]), self.side)
        if k == 255:
            b = blob[off + 1 : off + 5]
            fl = (b[0] & 0x7F) | (b[1] & 0x7F) << 7 | (b[2] & 0x7F) << 14 | (b[3] & 0x7F) << 21
            return fl, bytes(blob[off + 5 : stop])
        return self.fvals[k], bytes(blob[off + 1 : stop])

    def entry(self, off: int) -> _Entry:
        e = self.cache.get(off)
        if e is None:
            slot = self.slots.get(off)
            fl, pattern = self.flags_pattern(off)
            slash = 0 if fl & _I.PERDIR_MERGE else pattern.count(b"/")
            rule = FilterRule(
                flags=_rule_flag(fl & ~_I.FROM_FILE), pattern=pattern, slash_cnt=slash
            )
            e = _Entry(rule, slot)
            e.from_file = bool(fl & _I.FROM_FILE)
            if len(self.cache) < _CACHE_MAX or slot is not None:
                self.cache[off] = e
            elif e.wp is None:
                # Past the cache, a pattern is compiled for this use only: through
                # compile_wildmatch's own LRU cache, a long list of distinct wildcards
                # would keep 4,096 compiled patterns alive (a few MiB).
                e.wp = compile_wildmatch.__wrapped__(e.lit)
        return e

    def offsets(self) -> Iterator[int]:
        """The offset of every rule, in order."""
        blob = self.blob
        off = 0
        end = len(blob)
        while off < end:
            yield off
            off = blob.index(0, off + (5 if blob[off] == 255 else 1)) + 1

    def __iter__(self) -> Iterator[_Entry]:
        for off in self.offsets():
            yield self.entry(off)


_CODES: Final = bytes(k for k in range(1, 255) if k not in (0x2B, 0x2D))
"""The code bytes of :class:`_Packed`'s other records."""

_PLAIN_CODES: Final = frozenset(b"-+")

_NOT_SIMPLE: Final = (
    _I.PERDIR_MERGE | _I.CVS_IGNORE | _I.NEGATE | _I.XATTR | _I_WILD_FLAGS | _I.ABS_PATH
)
"""Flags after which a rule's key is not simply its literal pattern (see _index_key())."""

_PROBES_BLIND: Final = 8
"""Occupied slots a plain record passes before it is compared with those it meets."""

_PLAIN_FREE: Final = _I.INCLUDE | _I.DIRECTORY | _I_WILD_FLAGS
"""The flags a plain record may have besides its list's side (see :func:`_plain_flags`)."""


def _plain_flags(code: int, stored: bytes, side: int) -> tuple[int, bytes]:
    """The flags and the pattern of a plain record: rsync's add_rule() for ``- PAT``/``+ PAT``.

    rsync: exclude.c:add_rule() (the trailing ``/`` and the FILTRULE_WILD* flags).
    """
    fl = side | (_I.INCLUDE if code == 0x2B else 0)
    pat = stored
    if len(pat) > 1 and pat[-1] == 0x2F:
        pat = pat[:-1]
        fl |= _I.DIRECTORY
    if b"*" in pat or b"?" in pat or b"[" in pat:
        fl |= _I.WILD
        k = pat.find(b"**")
        if k >= 0:
            fl |= _I.WILD2
            if k == 0:
                fl |= _I.WILD2_PREFIX
            if pat.endswith(b"***"):
                fl |= _I.WILD3_SUFFIX
    return fl, pat


_MAX_BLOB: Final = (1 << 32) - 1
"""Offsets are kept in 32-bit arrays (a list this long is past any sane ``--max-alloc``)."""


def _index_key(flags: int, pattern: bytes) -> tuple[int, bytes] | None:
    """Which table of :class:`_Index` can find a rule by lookup (None: checked in order).

    Mirrors :class:`_Entry` (its mode) and :meth:`_Entry.matches`.
    """
    if flags & (_I.PERDIR_MERGE | _I.CVS_IGNORE | _I.NEGATE | _I.XATTR):
        return None
    wild2 = flags & _I.WILD2
    anchored = pattern.startswith(b"/")
    lit = pattern[1:] if anchored else pattern
    basename = not wild2 and b"/" not in pattern
    if not flags & _I.WILD:
        if anchored:
            return None if flags & _I.ABS_PATH else (_TBL_EQ, lit)
        if basename:
            return _TBL_BASE, lit
        return (_TBL_TAIL, lit) if not flags & _I.ABS_PATH and lit else None
    if basename and len(lit) > 1 and not anchored:
        # '*' matches any run without '/', and a last component has none.
        if lit[0] == 0x2A and not _WILD_BYTES.intersection(lit[1:]):
            return _TBL_SUFFIX, lit[1:]
        if lit[-1] == 0x2A and not _WILD_BYTES.intersection(lit[:-1]):
            return _TBL_PREFIX, lit[:-1]
    return None


_NOT_LITERAL: Final = re.compile(rb"[*?/]+")

_NOT_WILD: Final = bytes(k for k in range(256) if k not in b"\0*?[")
"""What ``bytes.translate`` deletes to leave each record's wildcard characters."""

_BATCH: Final = 1 << 18
"""Bytes of :attr:`_Packed.blob` the index splits and hashes at a time."""


def _pick_gram(pattern: bytes, grams: dict[bytes, array[int]]) -> bytes | None:
    """A 3-byte piece that every name matching ``pattern`` contains (None: there is none).

    The literal runs of a pattern (between ``*``, ``?`` and ``/``, and before any ``[`` or
    backslash, past which the text is not read) occur as they are in whatever the pattern
    matches. Of their pieces, the one fewest earlier rules were filed under is chosen, so
    that the candidate lists stay short.
    """
    cut = len(pattern)
    for stop in (b"[", b"\\"):
        k = pattern.find(stop)
        if 0 <= k < cut:
            cut = k
    best: bytes | None = None
    best_n = 0
    for run in _NOT_LITERAL.split(pattern[:cut]):
        for i in range(len(run) - 2):
            piece = run[i : i + 3]
            offs = grams.get(piece)
            if offs is None:
                return piece
            if best is None or len(offs) < best_n:
                best, best_n = piece, len(offs)
    return best


_TBL_BASE: Final = 0  # literal matched against the last component: base == lit
_TBL_EQ: Final = 1  # anchored literal: name == lit
_TBL_TAIL: Final = 2  # literal with a '/': the trailing components of name == lit
_TBL_SUFFIX: Final = 3  # "*lit" on the last component: base.endswith(lit)
_TBL_PREFIX: Final = 4  # "lit*" on the last component: base.startswith(lit)


def _slot_hash(tbl: int, cls: int, key: bytes) -> int:
    return hash(key) ^ (tbl * 0x9E3779B97F4A7C15 + cls * 0xC2B2AE3D27D4EB4F)


class _Index:
    """The first matching rule of a long list, found without trying every rule.

    rsync tries the rules one by one (exclude.c:check_filter()); at about a microsecond
    a rule in Python, 100,000 rules against 1,000 names took 86 s. Most rules of long
    lists are literal names, anchored paths or ``*.ext``: each of those has a key, and an
    open-addressing hash table (one flat array of record offsets; no Python object per
    rule) finds the first rule with a key. A query looks up every key a matching rule
    could have, keeps the earliest rule found, then tries in order only the other rules
    placed before it. The answer is the one the plain loop gives.

    Two kinds of key share the table:

    * a plain record (see :class:`_Packed`) is hashed as its bytes are (``-*.o``,
      ``+dir/``), so that a million of them are hashed without being parsed; a query
      builds the records that would match it (``-`` or ``+``, then the name, a trailing
      part of it, ``/`` and the name, ``*`` and an ending of the last component, or a
      beginning of it and ``*``; a directory also with a ``/`` after each) and looks for
      those bytes. Plain records with another wildcard shape are tried in order instead;
    * any other rule is hashed as (table, class, key) (:func:`_index_key`), where the
      class is what decides whether a rule applies to a query at all (directory-only,
      perishable, side); :attr:`fps` holds a byte of that hash, so that a probe compares
      only the rules that may have the key.
    """

    __slots__ = (
        "classes",
        "fps",
        "generic",
        "grams",
        "length",
        "lengths",
        "must",
        "packed",
        "plain",
        "size",
        "table",
    )

    def __init__(self, packed: _Packed) -> None:
        self.packed = packed
        n = len(packed)
        blob = packed.blob
        self.length = end = len(blob)  # past every offset: "no rule"
        self.generic = array("I")  # the rules without a key, in order
        # ... of which those a query must always try, and the others by a 3-byte piece of
        # text that a name must contain for the rule to match (see generic_before())
        self.must = array("I")
        self.grams: dict[bytes, array[int]] = {}
        self.classes: set[int] = set()
        # key lengths: of the other rules by table, then of the plain "*lit" and "lit*"
        lengths: list[set[int]] = [set() for _ in range(7)]
        self.size = size = n + n * 2 // 3 + 1
        self.table = table = array("I", [0]) * size  # (from bytes: twice the memory)
        self.fps = fps = bytearray()  # made with the first record that is not plain
        fvals = packed.fvals
        classes = self.classes
        pos = 0
        while pos < end:
            # a batch of whole records, split and hashed in bulk
            stop = blob.index(0, min(pos + _BATCH, end - 1)) + 1
            region = bytes(memoryview(blob)[pos:stop])
            recs = region.split(b"\0")
            recs.pop()
            # per record: its wildcard characters, if any (b"" for most)
            wilds = region.translate(None, _NOT_WILD).split(b"\0")
            offs = accumulate(map(add, map(len, recs), repeat(1)), initial=pos)
            for rec, w, h, off in zip(recs, wilds, map(hash, recs), offs, strict=False):
                if w:
                    # "*lit" (inlined: "*.o" is the common case) and "lit*" on the last
                    # component have a key; any other wildcard pattern is tried in order
                    k = rec.find(b"/")
                    if not (
                        rec[0] in _PLAIN_CODES
                        and w == b"*"
                        and len(rec) > 2
                        and rec[1] == 0x2A
                        and (k < 0 or k == len(rec) - 1 > 2)
                        and b"\\" not in rec
                    ):
                        if not self._add_other(off, rec, w, lengths):
                            continue
                    else:
                        lengths[5].add(len(rec) - (3 if k > 0 else 2))
                elif rec[0] != 0x2D and rec[0] != 0x2B:
                    # another kind of record: filed by (table, class, key); a literal one
                    # inlined (see _add_other())
                    fl = fvals[rec[0]]
                    if rec[0] == 255 or fl & _NOT_SIMPLE or len(rec) == 1:
                        self._add_other(off, rec, w, lengths)
                        continue
                    if rec[1] == 0x2F:
                        tbl, key = _TBL_EQ, rec[2:]
                    elif rec.find(b"/", 1) > 0:  # (the code byte may be a "/")
                        tbl, key = _TBL_TAIL, rec[1:]
                    else:
                        tbl, key = _TBL_BASE, rec[1:]
                    cls = fl & _CLASS_BITS
                    h = hash(key) ^ (tbl * 0x9E3779B97F4A7C15 + cls * 0xC2B2AE3D27D4EB4F)
                    fp = (h >> 40) & 0xFF | 1
                    if not fps:
                        fps = self._fps()
                    j = h % size
                    while p := table[j]:
                        if fps[j] == fp and self._key_at(p - 1) == (tbl, cls, key):
                            break  # an earlier rule has this key: it always wins
                        j += 1
                        if j == size:
                            j = 0
                    else:
                        table[j] = off + 1
                        fps[j] = fp
                        if cls not in classes:
                            classes.add(cls)
                        lengths[tbl].add(len(key))
                    continue
                # a plain record with a key: the table
                j = h % size
                if table[j]:
                    j = self._free_slot(j, rec)
                    if j < 0:
                        continue
                table[j] = off + 1
            pos = stop
        # the signs of the plain records: a query builds records with those only
        head = bytes(blob[:1])
        self.plain = tuple(sign for sign in (b"-", b"+") if head == sign or b"\0" + sign in blob)
        self.lengths = [sorted(x) for x in lengths]

    def _fps(self) -> bytearray:
        """:attr:`fps`, made when the first record that is not plain is filed."""
        if not self.fps:
            self.fps = bytearray(self.size)
        return self.fps

    def _free_slot(self, j: int, rec: bytes) -> int:
        """The free slot from ``j`` on for the plain record ``rec`` (-1: it is there).

        Records are compared only past the first few occupied slots: a record met again
        is then dropped (the earlier one always wins), so that a million copies of one
        rule do not pile up in one run of slots. Copies kept before that are harmless: a
        lookup stops at the first, the earliest (slots fill in list order).
        """
        table = self.table
        size = self.size
        blob = self.packed.blob
        probes = 0
        while p := table[j]:
            probes += 1
            if (
                probes > _PROBES_BLIND
                and blob.startswith(rec, p - 1)
                and blob[p - 1 + len(rec)] == 0
            ):
                return -1
            j += 1
            if j == size:
                j = 0
        return j

    def _add_other(self, off: int, rec: bytes, wild: bytes, lengths: list[set[int]]) -> bool:
        """Index the record ``rec`` at ``off`` that is not a literal plain one.

        Returns whether it is a plain record the table takes as it is (``*lit`` or ``lit*``
        on the last component); any other wildcard pattern is tried in order (see
        :meth:`generic_before`), any other kind of record is filed by (table, class, key).
        """
        if rec[0] == 0x2D or rec[0] == 0x2B:
            pat = rec[1:-1] if len(rec) > 2 and rec[-1] == 0x2F else rec[1:]
            if (
                wild == b"*"
                and len(pat) > 1
                and (pat[0] == 0x2A or pat[-1] == 0x2A)
                and b"/" not in pat
                and b"\\" not in pat
            ):
                lengths[5 if pat[0] == 0x2A else 6].add(len(pat) - 1)
                return True
            self.generic.append(off)
            gram = _pick_gram(pat, self.grams)
            if gram is None:
                self.must.append(off)
            else:
                self.grams.setdefault(gram, array("I")).append(off)
            return False
        c = rec[0]
        if c == 255:
            fl, pattern = self.packed.flags_pattern(off)
        else:
            fl, pattern = self.packed.fvals[c], rec[1:]
        if fl & _NOT_SIMPLE or not pattern:
            key = _index_key(fl, pattern)
        elif pattern[0] == 0x2F:  # _index_key()'s answers for a literal rule, inlined
            key = (_TBL_EQ, pattern[1:])
        elif b"/" in pattern:
            key = (_TBL_TAIL, pattern)
        else:
            key = (_TBL_BASE, pattern)
        if key is None:
            self.generic.append(off)
            skip = _I.PERDIR_MERGE | _I.CVS_IGNORE | _I.NEGATE | _I.XATTR
            gram = None if fl & skip else _pick_gram(pattern, self.grams)
            if gram is None:
                self.must.append(off)
            else:
                self.grams.setdefault(gram, array("I")).append(off)
            return False
        tbl, k = key
        cls = fl & _CLASS_BITS
        h = _slot_hash(tbl, cls, k)
        fp = (h >> 40) & 0xFF | 1
        size = self.size
        table = self.table
        fps = self._fps()
        j = h % size
        while True:
            p = table[j]
            if not p:
                table[j] = off + 1
                fps[j] = fp
                self.classes.add(cls)
                lengths[tbl].add(len(k))
                return False
            if fps[j] == fp and self._key_at(p - 1) == (tbl, cls, k):
                return False  # an earlier rule has this key: it always wins
            j += 1
            if j == size:
                j = 0

    def generic_before(self, path: bytes, root_rel: bytes, best: int) -> list[int]:
        """The rules without a key, placed before ``best``, that could match ``path``, in order.

        rsync tries every rule (exclude.c:check_filter()); 100,000 wildcard rules against
        1,000 names took minutes one by one in Python. A rule kept by a 3-byte piece of
        its literal text is only a candidate when the piece occurs in the path (or in
        ``root_rel``, which a rule with the absolute-path modifier matches against): a
        name without it cannot match. The candidates are then tried one by one in list
        order, as before, so the answer is the plain loop's.
        """
        must = self.must
        out = must[: bisect_left(must, best)].tolist()
        grams = self.grams
        if grams:
            text = root_rel + b"/" + path if root_rel else path
            found: set[int] = set()
            for piece in {text[i : i + 3] for i in range(len(text) - 2)}:
                offs = grams.get(piece)
                if offs is not None:
                    found.update(offs[: bisect_left(offs, best)])
            if found:
                found.update(out)
                return sorted(found)
        return out

    def _key_at(self, off: int) -> tuple[int, int, bytes] | None:
        fl, pattern = self.packed.flags_pattern(off)
        key = _index_key(fl, pattern)
        return None if key is None else (key[0], fl & _CLASS_BITS, key[1])

    def _lookup(self, tbl: int, cls: int, key: bytes) -> int:
        h = _slot_hash(tbl, cls, key)
        fp = (h >> 40) & 0xFF | 1
        size = self.size
        table = self.table
        fps = self.fps
        j = h % size
        while True:
            p = table[j]
            if not p:
                return self.length
            if fps[j] == fp and self._key_at(p - 1) == (tbl, cls, key):
                return p - 1
            j += 1
            if j == size:
                j = 0

    def first_indexed(
        self,
        path: bytes,
        *,
        is_dir: bool,
        want: int | None,
        ignore_perishable: bool,
    ) -> int:
        """Position of the first indexed rule that matches ``path`` (``length``: none)."""
        best = self.length
        name = path[1:] if path.startswith(b"/") else path
        if not name:
            return best
        base = name[name.rfind(b"/") + 1 :]
        n = len(name)
        nb = len(base)
        queries: list[tuple[int, bytes]] = [(_TBL_BASE, base), (_TBL_EQ, name)]
        queries.extend(
            (_TBL_TAIL, name[n - length :])
            for length in self.lengths[_TBL_TAIL]
            if length == n or (length < n and name[n - length - 1] == 0x2F)
        )
        queries.extend(
            (_TBL_SUFFIX, base[nb - length :])
            for length in self.lengths[_TBL_SUFFIX]
            if length <= nb
        )
        queries.extend(
            (_TBL_PREFIX, base[:length]) for length in self.lengths[_TBL_PREFIX] if length <= nb
        )
        for cls in self.classes:
            if (
                (ignore_perishable and cls & _I.PERISHABLE)
                or (want is not None and cls & _I_SIDES and not cls & want)
                or (cls & _I.DIRECTORY and not is_dir)
            ):
                continue
            for tbl, key in queries:
                if tbl >= _TBL_TAIL or self.lengths[tbl]:
                    best = min(best, self._lookup(tbl, cls, key))
        side = self.packed.side
        if self.plain and not (want is not None and side and not side & want):
            best = min(best, self._first_plain(name, base, is_dir=is_dir))
        return best

    def _first_plain(self, name: bytes, base: bytes, *, is_dir: bool) -> int:
        """Position of the first plain record that matches ``name`` (``length``: none).

        The records that would match are built and looked up (see the class docstring).
        A record found is the rule's own text; when the name holds wildcard characters, the
        rule is asked whether it matches, since a wildcard pattern need not match its own
        text (``[ab]``).
        """
        nb = len(base)
        keys = [b"/" + name, name]
        k = name.find(b"/")
        while k >= 0:
            keys.append(name[k + 1 :])
            k = name.find(b"/", k + 1)
        keys.extend(b"*" + base[nb - length :] for length in self.lengths[5] if length <= nb)
        keys.extend(base[:length] + b"*" for length in self.lengths[6] if length <= nb)
        best = self.length
        blob = self.packed.blob
        startswith = blob.startswith
        table = self.table
        size = self.size
        if is_dir:
            keys += [key + b"/" for key in keys]
        for key in keys:
            for sign in self.plain:
                rec = sign + key
                j = hash(rec) % size
                while p := table[j]:
                    if startswith(rec, p - 1) and blob[p - 1 + len(rec)] == 0:
                        if p - 1 < best and self._plain_hit(p - 1, name, is_dir=is_dir):
                            best = p - 1
                        break
                    j += 1
                    if j == size:
                        j = 0
        return best

    def _plain_hit(self, off: int, name: bytes, *, is_dir: bool) -> bool:
        """Whether the plain record at ``off``, whose text a lookup built, matches ``name``.

        For a clean name (no wildcard character, no empty component) it does; otherwise
        the rule itself is asked.
        """
        if (
            _WILD_BYTES.isdisjoint(name)
            and b"//" not in name
            and name[:1] != b"/"
            and name[-1:] != b"/"
        ):
            return True
        return self.packed.entry(off).matches(name, is_dir=is_dir, xattr=False, root_rel=b"")


class _Target:
    """Where parsed rules go: a list's local part, in front of its inherited part."""

    __slots__ = ("inherited", "local")

    def __init__(self, local: _Packed, inherited: list[_Entry]) -> None:
        self.local = local
        self.inherited = inherited

    def entries(self) -> list[_Entry]:
        return [*self.local, *self.inherited]
