"""The one option table: its invariants, and a walk over it proving the server's side.

For every option and each server role (a server that sends, one that receives), the
option is either implemented (it parses, changes the parsed options, and is not refused)
or refused (an unknown option, or a refusal naming it) -- never accepted and ignored.
For every option a client forwards, the builder and the parser are each other's inverse.
The client's side of the walk is in rsync-client's tests (test_optable_client.py).
"""

from __future__ import annotations

import msgspec
import pytest

from rsync_wire.proto.args import ArgumentError, build_server_args, parse_server_args
from rsync_wire.proto.optable import (
    OPTIONS,
    SERVER_ROLES,
    Arg,
    Option,
    Role,
    Send,
    When,
    by_long,
    by_short,
    negations,
)
from rsync_wire.proto.options import TransferOptions
from rsync_wire.roles.server import unsupported_options

# A value each option with an argument accepts (by name, else by kind).
_VALUES = {
    "bwlimit": "1m",
    "max-alloc": "2g",
    "chmod": "g+w",
    "compress-choice": "zstd",
    "checksum-choice": "md5",
    "info": "NAME",  # a client forwards names as rsync writes them
    "debug": "flist",
    "protocol": "30",
    "files-from": "-",  # names from the client (a file on the server: see below)
}
_BY_KIND = {Arg.INT: "3", Arg.SIZE: "4k", Arg.STR: "x"}
# What else an option needs on the command line to have any effect.
_WITH = {
    "compress-level": ["-z"],
    "compress-choice": ["-z"],
    "old-compress": ["-z"],
    "new-compress": ["-z"],
    "from0": ["--files-from=-"],
    "implied-dirs": ["-R"],
}


def _words(option: Option, *, short: bool = False) -> list[str]:
    """How a client writes ``option`` (a default-on one: its negation)."""
    if option.default_on:
        return [f"--{option.negations[0]}"]
    if short or not option.long:
        name = f"-{option.short}"
        return [name] if option.arg is Arg.NONE else [name, _value(option)]
    name = f"--{option.long}"
    return [name] if option.arg is Arg.NONE else [f"{name}={_value(option)}"]


def _value(option: Option) -> str:
    return _VALUES.get(option.long, _BY_KIND.get(option.arg, ""))


def _server_argv(words: list[str], *, sender: bool) -> list[str]:
    return ["--server", *(["--sender"] if sender else []), *words, "."]


def _as_dict(opts: TransferOptions) -> dict[str, object]:
    return msgspec.structs.asdict(opts)


def _role_cases() -> list[tuple[str, Option, Role, bool]]:
    cases: list[tuple[str, Option, Role, bool]] = []
    for option in OPTIONS:
        if option.long in ("server", "sender"):
            continue  # they choose the role itself
        forms = [False, True] if option.long and option.short else [not option.long]
        for short in forms:
            if short and option.short == "e":
                continue  # a server reads -e as the client's capabilities (-e.iLsfxCIvu)
            cases.extend(
                (f"{option.name}-{short}-{role.name}", option, role, short)
                for role in (Role.SERVER_SENDER, Role.SERVER_RECEIVER)
            )
    return cases


@pytest.mark.parametrize(
    ("option", "role", "short"), [c[1:] for c in _role_cases()], ids=[c[0] for c in _role_cases()]
)
def test_every_option_is_implemented_or_refused_by_each_server_role(
    option: Option, role: Role, short: bool
) -> None:
    sender = role is Role.SERVER_SENDER
    extra = _WITH.get(option.long, [])
    base = parse_server_args(_server_argv(extra, sender=sender))
    argv = _server_argv([*extra, *_words(option, short=short)], sender=sender)
    if not option.server:  # an option the server does not know: refused
        assert role not in option.roles, option.name
        with pytest.raises(ArgumentError, match="unknown option"):
            parse_server_args(argv)
        return
    parsed = parse_server_args(argv)
    refusals = unsupported_options(parsed, None)
    if role in option.roles:
        assert refusals == [], option.name
        assert _as_dict(parsed.options) != _as_dict(base.options), (
            f"--{option.name} is accepted by a {role.name} and changes nothing"
        )
    else:
        assert len(refusals) == 1, option.name
        names = {option.long, *option.aliases, *option.negations} - {""}
        assert any(f"--{name}" in refusals[0] for name in names), refusals


@pytest.mark.parametrize(
    "option",
    [o for o in OPTIONS if o.send is not Send.NEVER],
    ids=lambda o: o.long or o.short,  # stable across processes (pytest-xdist)
)
@pytest.mark.parametrize("client_sends", [True, False], ids=["push", "pull"])
def test_what_a_client_forwards_the_server_parses_back(
    option: Option, *, client_sends: bool
) -> None:
    """build_server_args() and parse_server_args() are each other's inverse, per option."""
    words = [*_WITH.get(option.long, []), *_words(option)]
    wanted = parse_server_args(_server_argv(words, sender=not client_sends)).options
    wanted.server = False
    argv = build_server_args(wanted, ["p"], protocol=32)
    back = parse_server_args(argv).options
    if option.forwarded(client_sends=client_sends):
        assert getattr(back, option.sets) == getattr(wanted, option.sets), argv
    else:
        assert getattr(back, option.sets) == getattr(TransferOptions(), option.sets), argv


def test_the_table_hangs_together() -> None:
    fields = set(TransferOptions.__struct_fields__)
    emitters = {o.long for o in OPTIONS if o.send is Send.CUSTOM}
    for option in OPTIONS:
        assert option.long or option.short
        if option.sets:
            assert option.sets in fields, option.name
        if option.server and not option.server.startswith(("refuse", "protocol")):
            assert option.sets, option.name  # a server sets a field for it
        if option.send is Send.CUSTOM:
            assert option.emit is not None, option.name
        if option.send is Send.VIA:
            assert option.via in emitters, option.name
        if option.send is not Send.NEVER:
            assert option.sets, option.name
            # forwarded options reach a server that implements them, or refuses them
            assert option.server, option.name
        if option.default_on:
            assert option.negations, option.name
        assert option.when != When(0)
        for name in (option.long, *option.aliases):
            if name:
                assert by_long(name) is option
        if option.short:
            assert by_short(option.short) is option
    for name, option in negations().items():
        assert by_long(name) is None, name
        assert name.startswith("no-"), option.name


def test_roles_name_server_parts_only_for_what_a_server_parses() -> None:
    for option in OPTIONS:
        if option.roles & SERVER_ROLES:
            assert option.server, option.name
            assert not option.server.startswith("refuse"), option.name


def test_protocol_floors_follow_rsync() -> None:
    """rsync: compat.c setup_protocol() refuses these below the protocol named."""
    floors = {o.name: o.protocol for o in OPTIONS if o.protocol > 27}
    assert floors == {
        "prune-empty-dirs": 29,
        "fuzzy": 29,
        "acls": 30,
        "xattrs": 30,
        "inc-recursive": 30,
    }


@pytest.mark.parametrize("sender", [True, False])
def test_a_files_from_file_on_the_server_is_read_there(*, sender: bool) -> None:
    parsed = parse_server_args(_server_argv(["--files-from=list.txt"], sender=sender))
    assert unsupported_options(parsed, None) == []
    assert parsed.options.files_from == "list.txt"


def test_capabilities_ride_on_e() -> None:
    parsed = parse_server_args(_server_argv(["-e.iLsfxCIvu"], sender=True))
    assert parsed.options.capabilities == ".iLsfxCIvu"


# What a receiving server implements that a pushing client still does not send, and why.
_PUSH_KEEPS = {
    "copy-links": "the sending client follows the links itself",
    "copy-dirlinks": "the sending client follows the links itself",
    "debug": "rsync forwards no --debug: a server's debug output follows its -v",
    "filter": "rules travel in the filter list",
    "exclude": "rules travel in the filter list",
    "include": "rules travel in the filter list",
    "exclude-from": "the client reads the file; its rules travel in the filter list",
    "include-from": "the client reads the file; its rules travel in the filter list",
    "P": "it travels as --partial",
    "skip-compress": "only the sender compresses: a push's client applies it itself",
    "compress-threads": "only the sender compresses; rsync never forwards it (-M does)",
    "qsort": "rsync forwards --use-qsort, which its own server refuses; it only turns"
    " incremental recursion off, which the client decides",
    "chmod": "the sending client applies it to the modes it sends",
    "munge-links": "each side has its own (rsync: pipe.c local_child())",
    "protocol": "each side announces its own; the lower is spoken (rsync: compat.c)",
    "log-file": "each side has its own (a server's comes with -M)",
    "log-file-format": "each side has its own (a server's comes with -M)",
    "inc-recursive": "the client leaves the 'i' out of -e instead (rsync: options.c)",
    "ignore-missing-args": "the sending client skips the missing names itself",
    "fake-super": "each side has its own (a server's comes with -M or the module's setting)",
    "insecure-links": "local only: a remote-shell server's comes with --rsync-path, and a"
    " daemon refuses it (rsync: options.c server_options())",
    "copy-as": "each side switches itself (a server's comes with -M; rsync: main.c)",
}


def test_a_push_forwards_what_the_receiving_server_acts_on() -> None:
    """The bug class of -u: implemented by both ends of a push, yet never sent."""
    for option in OPTIONS:
        both = Role.CLIENT_SENDER | Role.SERVER_RECEIVER
        if option.roles & both == both and option.name not in _PUSH_KEEPS:
            assert option.forwarded(client_sends=True), option.name
