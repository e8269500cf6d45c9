"""The output-level model: -v rows, the user's words, the server's forwarded --info."""

from __future__ import annotations

import pytest

from rsync_wire.proto.outlevels import (
    OutputLevels,
    UnknownWord,
    forwarded_info,
    output_words,
    unimplemented_debug,
)


def test_verbose_rows_add_items() -> None:
    assert OutputLevels.build().info == {"NONREG": 1}
    one = OutputLevels.build(verbose=1)
    assert (one.info_gte("NAME"), one.info_gte("BACKUP"), one.debug_gte("DEL")) == (1, 0, 0)
    two = OutputLevels.build(verbose=2)
    assert (two.info_gte("BACKUP"), two.info_gte("NAME", 2), two.debug_gte("DELTASUM")) == (1, 1, 1)
    assert not two.debug_gte("DELTASUM", 2)
    three = OutputLevels.build(verbose=3)
    assert (three.debug_gte("DEL", 2), three.debug_gte("FUZZY")) == (1, 1)


def test_user_words_beat_verbose_in_any_order() -> None:
    levels = OutputLevels.build(verbose=2, info=["backup0"], debug=["deltasum0,del3"])
    assert not levels.info_gte("BACKUP")
    assert not levels.debug_gte("DELTASUM")
    assert levels.debug_gte("DEL", 3)
    later = OutputLevels.build(info=["all2", "name0"])
    assert (later.info_gte("SKIP", 2), later.info_gte("NAME")) == (1, 0)
    assert OutputLevels.build(info=["none"], verbose=1).info == dict.fromkeys(
        OutputLevels.build(info=["all"]).info, 0
    )


def test_stats_and_limit() -> None:
    assert OutputLevels.build(stats=True).info["STATS"] == 2
    assert OutputLevels.build(stats=True, verbose=2).info["STATS"] == 3
    levels = OutputLevels.build(debug=["del3"], info=["backup2"])
    levels.limit(2)
    assert (levels.debug["DEL"], levels.info["BACKUP"]) == (1, 1)


def test_words() -> None:
    assert output_words("info", "name2,NONE,stats9,,help") == [
        ("NAME", 2),
        ("ALL", 0),
        ("STATS", 4),
        ("HELP", 1),
    ]
    with pytest.raises(UnknownWord, match='Unknown --debug item: "bogus"'):
        output_words("debug", "del,bogus3")


@pytest.mark.parametrize(
    ("words", "client_sends", "expected"),
    [
        (["backup2,name,progress,flist0"], True, "--info=BACKUP2,NAME"),
        (["backup2,name,progress,flist0"], False, "--info=NAME"),
        (["all0"], True, "--info=NONE"),
        (["all0"], False, "--info=NONE"),
        (["all2,stats1"], False, "--info=ALL2,STATS"),
        (["skip2"], False, None),
        ([], True, None),
    ],
)
def test_forwarded_info_is_rsyncs(
    words: list[str], *, client_sends: bool, expected: str | None
) -> None:
    """What rsync 3.5's client sent in the same cases (rsync: options.c server_options())."""
    assert forwarded_info(words, client_sends=client_sends) == expected


def test_unimplemented_debug_names_the_item() -> None:
    assert unimplemented_debug([("DEL", 4), ("NSTR", 1), ("BACKUP", 2)]) is None
    assert unimplemented_debug([("FUZZY", 4)]) is None  # FUZZY has two levels
    assert unimplemented_debug([("DELTASUM", 2)]) == ("DELTASUM", 2)
    assert unimplemented_debug([("FLIST", 2)]) == ("FLIST", 2)
    assert unimplemented_debug([("ALL", 0), ("FLIST", 0)]) is None
    assert unimplemented_debug([("ALL", 1)]) == ("ACL", 1)
