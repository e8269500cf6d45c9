"""``SyncOptions`` and the keywords of ``sync()``: generated from the option table, in step."""

from __future__ import annotations

import typing

import pytest

from rsync_client import _syncopts_gen as gen
from rsync_client._syncopts import SyncOptions
from rsync_client.api import SyncOptionError, command_line, make_options
from rsync_client.cli import parse_args
from rsync_client.options import OptionError
from rsync_wire.proto.optable import OPTIONS, Arg


def test_generated_file_is_current() -> None:
    current = gen.TARGET.read_text(encoding="utf-8")
    assert current == gen.render(), (
        "rsync_client/_syncopts.py differs from the option table: "
        "run `python -m rsync_client._syncopts_gen` and commit the result"
    )


def test_every_option_pyrsync_implements_has_a_keyword() -> None:
    keys = set(SyncOptions.__annotations__)
    implemented = {o for o in OPTIONS if o.client and o.name not in ("help", "version")}
    missing = [o.name for o in implemented if o.long and gen.key_for(o) not in keys]
    assert missing == []
    # the short-only ones are spelled with their long equivalents
    assert {o.name for o in implemented if not o.long} == {"D", "P", "F"}
    refused = {gen.key_for(o) for o in OPTIONS if o.long and not o.client}
    assert keys & refused == set()
    assert all(k.isidentifier() for k in keys)


def _sample(key: str) -> object:
    option = next(o for o in gen.client_options() if gen.key_for(o) == key)
    samples: dict[str, object] = {
        "protocol": 30,
        "outbuf": "L",
        "port": 8730,
        "compress_choice": "zstd",
        "checksum_choice": "md5",
        "chmod": "u+rwx",
        "chown": "1:1",
        "usermap": "1:2",
        "groupmap": "1:2",
        "remote_option": "--fake",
        "info": "progress2",
        "debug": "none",
        "max_alloc": "2M",
        "stop_after": "5",
        "stop_at": "2099-01-01T00:00",
        "compress_level": 3,
        "stderr": "all",
    }
    if key in samples:
        return samples[key]
    if option.default_on and key != "sandbox":  # on already: its negation does something
        return False
    return {Arg.NONE: True, Arg.INT: 7, Arg.SIZE: "2k", Arg.STR: "value"}[option.arg]


@pytest.mark.parametrize("key", sorted(SyncOptions.__annotations__))
def test_each_keyword_means_what_its_option_means_on_the_command_line(key: str) -> None:
    value = _sample(key)
    words = command_line({key: value})
    opts = make_options(**{key: value})
    expected, rest = parse_args(words)
    assert rest == []
    if key != "sandbox":
        expected.sandbox = False  # the API does not confine its caller unless asked
    if key == "stop_after":  # "minutes from now": each parse has its own now
        assert opts.stop_at is not None
        assert expected.stop_at is not None
        expected.stop_at = opts.stop_at
    assert opts == expected
    if key != "blocking_io":  # pyrsync's pipes never block, as rsync's --blocking-io: no-op
        assert opts != make_options(), f"{key}={value!r} changed nothing"


def test_values_become_rsync_words_in_keyword_order() -> None:
    words = command_line(
        {"archive": True, "owner": False, "verbose": 2, "exclude": ["*.o", "b"], "bwlimit": "1M"}
    )
    assert words == [
        "--archive",
        "--no-owner",
        "--verbose",
        "--verbose",
        "--exclude=*.o",
        "--exclude=b",
        "--bwlimit=1M",
    ]
    opts = make_options(archive=True, owner=False, bwlimit=100, exclude="x", include=["y"])
    assert opts.recursive
    assert not opts.owner
    assert opts.bwlimit == 100  # KiB per second, as --bwlimit=100
    assert opts.filters == [("exclude", "x"), ("include", "y")]
    assert make_options(bwlimit="1.5M").bwlimit == 1536
    assert make_options(archive=False).recursive is False


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"exclud": "x"}, "unknown option 'exclud' (did you mean exclude=?)"),
        ({"hardlinks": True}, "unknown option 'hardlinks' (did you mean hard_links=?)"),
        ({"log_format": "%n"}, "rsync's alias --log-format is out_format="),
        (
            {"crtimes": True},
            "--crtimes: unknown option (an rsync option pyrsync does not implement)",
        ),
        ({"archive": "yes"}, "archive= takes True or False, not 'yes'"),
        ({"verbose": -1}, "verbose= takes True, False or a count, not -1"),
        ({"timeout": "10"}, "timeout= takes an int, not '10'"),
        ({"port": True}, "port= takes an int, not True"),
        ({"rsh": ["ssh"]}, "rsh= takes a string, not ['ssh']"),
        ({"exclude": [1]}, "exclude= takes strings, not 1"),
    ],
)
def test_unknown_keywords_and_wrong_types_are_type_errors(
    keywords: dict[str, object], message: str
) -> None:
    with pytest.raises(TypeError) as info:
        make_options(**keywords)
    assert isinstance(info.value, SyncOptionError)
    assert isinstance(info.value, OptionError)
    assert message in str(info.value)


def test_values_rsync_refuses_are_option_errors() -> None:
    with pytest.raises(OptionError, match="--bwlimit=fast"):
        make_options(bwlimit="fast")
    with pytest.raises(OptionError, match="--protocol must be between 27 and"):
        make_options(protocol=26)


def test_typed_dict_keys_are_all_optional() -> None:
    assert SyncOptions.__required_keys__ == frozenset()
    hints = typing.get_type_hints(SyncOptions)
    assert hints["archive"] is bool
    assert hints["verbose"] == bool | int
