"""The client's side of the walk over the one option table (rsync_wire.proto.optable).

For every option: pyrsync's parser either refuses it (rsync's "unknown option" words,
saying that it is an rsync option pyrsync does not implement) or it changes the parsed
options. Then, for each client role (a push, a pull, a local copy), the option is either
refused for that role ("... is not supported by pyrsync for a remote destination") or
implemented there; an option the table says a client forwards in that direction changes
the server's argument vector. The server's side is in rsync-wire's test_optable.py.
"""

from __future__ import annotations

import pytest

from rsync_client.cli import PLATFORM_REFUSALS, HelpRequested, parse_args
from rsync_client.options import ClientOptions, OptionError, role_refusal
from rsync_wire.proto.args import build_server_args
from rsync_wire.proto.optable import CLIENT_ROLES, OPTIONS, Arg, Option, Role

_VALUES = {
    "outbuf": "L",
    "compress-choice": "zstd",
    "checksum-choice": "md5",
    "info": "name2",
    "protocol": "30",
    "partial-dir": ".part",
    "suffix": ".bak",
    "remote-option": "--x",
    "chmod": "g+w",
    "debug": "all0",
    "max-alloc": "2g",
    "stop-at": "2999-12-31T23:59",
    "stop-after": "5",
    "stderr": "all",
}
_BY_KIND = {Arg.INT: "3", Arg.SIZE: "4k", Arg.STR: "x"}
# What else an option needs on the command line to have an effect.
_WITH = {"compress-level": ["-z"], "compress-choice": ["-z"], "implied-dirs": ["-R"]}
# Accepted and without effect, by nature: rsync's blocking mode of the remote shell's
# pipes, which anyio's transports do not have (both settings behave the same).
_INERT = {"blocking-io"}
# Forwarded only with a --files-from on the remote side; a local list is read here.
_FORWARDED_WITH_A_REMOTE_LIST = {"from0"}


def _words(option: Option, *, short: bool = False) -> list[str]:
    value = _VALUES.get(option.long, _BY_KIND.get(option.arg, ""))
    if option.default_on:
        return [f"--{option.negations[0]}"]
    if short or not option.long:
        return [f"-{option.short}"] if option.arg is Arg.NONE else [f"-{option.short}", value]
    return [f"--{option.long}"] if option.arg is Arg.NONE else [f"--{option.long}={value}"]


def _forms(option: Option) -> list[bool]:
    return [False, True] if option.long and option.short else [not option.long]


@pytest.mark.parametrize(
    ("option", "short"),
    [(o, s) for o in OPTIONS for s in _forms(o)],
    ids=[f"{o.name}-{s}" for o in OPTIONS for s in _forms(o)],
)
def test_every_option_is_implemented_or_refused_by_the_client(
    option: Option, *, short: bool
) -> None:
    extra = _WITH.get(option.long, [])
    argv = [*extra, *_words(option, short=short), "src/", "dst/"]
    if not option.client:
        with pytest.raises(OptionError) as info:
            parse_args(argv)
        assert str(info.value) == PLATFORM_REFUSALS.get(option.name, str(info.value))
        if option.name not in PLATFORM_REFUSALS:
            assert "unknown option (an rsync option pyrsync does not implement)" in str(info.value)
        assert int(info.value.exit_code) == 1
        return
    if option.name in ("help", "version"):
        with pytest.raises(HelpRequested):
            parse_args(argv[:1])
        return
    base, _ = parse_args([*extra, "src/", "dst/"])
    opts, rest = parse_args(argv)
    assert rest == ["src/", "dst/"]
    if option.name in _INERT:
        assert opts == base
    else:
        assert opts != base, f"{argv[0]} is accepted and changes nothing"
    for role in (Role.CLIENT_SENDER, Role.CLIENT_RECEIVER, Role.LOCAL):
        _check_role(option, role, base, opts)


def _check_role(option: Option, role: Role, base: ClientOptions, opts: ClientOptions) -> None:
    refusal = role_refusal(opts, role)
    if role not in option.roles:
        assert refusal is not None, (option.name, role)
        assert refusal.startswith(f"--{option.long} is not supported by pyrsync for ")
        return
    assert refusal is None, (option.name, role, refusal)
    if role is Role.LOCAL or option.name in _FORWARDED_WITH_A_REMOTE_LIST:
        return
    client_sends = role is Role.CLIENT_SENDER
    if option.forwarded(client_sends=client_sends):
        sender = not client_sends
        before = build_server_args(base.transfer_options(sender=sender), ["p"], protocol=32)
        after = build_server_args(opts.transfer_options(sender=sender), ["p"], protocol=32)
        assert before != after, f"--{option.name} is not forwarded in a {role.name}"


def test_role_refusals_say_the_role() -> None:
    opts, _ = parse_args(["--list-only", "src/", "dst/"])
    assert role_refusal(opts, Role.CLIENT_SENDER) == (
        "--list-only is not supported by pyrsync for a remote destination"
    )
    opts, _ = parse_args(["--files-from=x", "src/", "dst/"])
    assert role_refusal(opts, Role.LOCAL) is None
    assert role_refusal(opts, Role.CLIENT_RECEIVER) is None


def test_every_client_option_names_a_client_role_or_none() -> None:
    for option in OPTIONS:
        assert not option.roles & CLIENT_ROLES or option.client


def test_remote_options_end_the_server_arguments_as_given() -> None:
    """-M words follow every other option, before ``.`` (rsync: server_options())."""
    opts, _ = parse_args(["-a", "-M--foo", "-M", "--bar=1 2", "--stats", "src/", "dst/"])
    for sender in (True, False):
        args = build_server_args(opts.transfer_options(sender=sender), ["p"], protocol=32)
        assert args[-4:] == ["--foo", "--bar=1 2", ".", "p"]
    with pytest.raises(OptionError, match="Remote option must start with a dash: foo"):
        parse_args(["-M", "foo", "src/", "dst/"])
