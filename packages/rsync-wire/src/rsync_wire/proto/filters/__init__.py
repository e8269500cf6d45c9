"""rsync's filter rules: parsing, the wire list, and matching (no I/O).

What is here:

* :func:`parse_rule` turns one rule text (``--filter``, ``--exclude`` or
  ``--include`` syntax, or a rule received from the peer) into a
  :class:`FilterRule`;
* :class:`FilterList` is an ordered rule list built the way rsync builds its own
  (``.`` merge files expanded through a callback, ``!`` clearing, ``-C`` and
  ``:C`` CVS rules, the ``e`` self-exclusion), answering "is this name
  excluded?" exactly as rsync's ``check_filter()`` does, including per-directory
  merge files (``:`` rules, ``-F``) that the caller loads while it walks the tree
  with :meth:`FilterList.enter_dir` / :meth:`FilterList.leave_dir`;
* :func:`encode_filter_list_into` and :func:`decode_filter_list` are the wire
  codec of the list a client sends to the server, with rsync's choice of which
  rules travel and how they are spelled for old protocols;
* :meth:`FilterList.from_daemon_config` builds a daemon module's own rule chain
  from its ``filter``/``include``/``exclude`` parameters.

What is not here: no file is opened and no directory is read. Merge files reach
this module as bytes returned by a ``read_file(path)`` callback, which the caller
owns (and confines: rsync refuses symlinks planted by a peer, keeps reads inside
a daemon module, and treats files hidden by the daemon's own rules as missing).
The wildcard matcher itself is :mod:`rsync_wire.proto.wildmatch`.

How matching works (rsync: exclude.c:rule_matches()): a pattern with no ``/``
(other than a trailing one) and no ``**`` is matched against the last path
component only. Otherwise it is matched against the path relative to the
transfer root: a leading ``/`` anchors it there, else it may match any trailing
part of the path that starts after a ``/`` (with no ``**``: exactly the last
N+1 components for N slashes; with an inner ``**``: from the start or after any
``/``; a pattern starting with ``**`` also sees a leading ``/``). A trailing
``/`` limits a rule to directories, and a trailing ``***`` lets ``dir/***``
match the directory itself too. The first rule that matches decides.

Per-directory merge files (rsync: exclude.c:push_local_filters()): every ``:``
rule owns a sub-list that sits at the rule's place in the list. Entering a
directory reads the merge file there; its rules go in front of the rules
inherited from the parent directories (none with the ``n`` modifier), and a
``!`` in it drops everything inherited. Anchored rules in such a file are
anchored at the file's directory. Leaving the directory restores the sub-lists.
A ``:`` rule whose file name contains a directory that is a parent of the
transfer root (``-F`` is ``: /.rsync-filter``) first reads the file in each
directory from there down to the root's parent.

Deliberate differences from rsync, none visible with lists rsync itself builds:
side modifiers are honoured when asking (``for_sender``) instead of through
rsync's per-process "elide" marks and parse-time drops, so a server given an
``s`` rule by a foreign client applies it only as a sender; a ``.`` merge rule
received from a client is refused rather than read; "filter rules are too
modern" is raised when encoding, not also when the list is not sent at all.
"""

from __future__ import annotations

from rsync_wire.proto.filters.chain import DirToken, FilterList
from rsync_wire.proto.filters.parse import parse_rule, parse_rules
from rsync_wire.proto.filters.rules import (
    DEFAULT_CVSIGNORE,
    F_OPTION_RULES,
    MAX_RULE_TEXT,
    RULE_COST,
    FilterAction,
    FilterError,
    FilterRule,
    ReadFile,
    RuleFlag,
)
from rsync_wire.proto.filters.wire import (
    FilterListReader,
    cvs_exclude_rules,
    decode_filter_list,
    encode_filter_list_into,
    filter_list_is_sent,
    filter_rule_texts,
)

__all__ = [
    "DEFAULT_CVSIGNORE",
    "F_OPTION_RULES",
    "MAX_RULE_TEXT",
    "RULE_COST",
    "DirToken",
    "FilterAction",
    "FilterError",
    "FilterList",
    "FilterListReader",
    "FilterRule",
    "ReadFile",
    "RuleFlag",
    "cvs_exclude_rules",
    "decode_filter_list",
    "encode_filter_list_into",
    "filter_list_is_sent",
    "filter_rule_texts",
    "parse_rule",
    "parse_rules",
]
