"""rsync-compatible text: numbers, permissions, itemize strings, names, list and stats lines."""

from __future__ import annotations

import io
import stat

import pytest

from rsync_client.options import ClientOptions
from rsync_client.output import (
    Output,
    comma_dnum,
    escape_name,
    human_num,
    itemize_string,
    list_line,
    permstring,
    rsync_error_line,
    summary_lines,
)
from rsync_client.progress import progress_line
from rsync_wire.proto.constants import Item, Msg
from rsync_wire.proto.flist import FileEntry
from rsync_wire.roles.receiving import ReceiveStats


@pytest.mark.parametrize(
    ("n", "level", "text"),
    [
        (0, 1, "0"),
        (999, 1, "999"),
        (1000, 1, "1,000"),
        (1234567, 1, "1,234,567"),
        (-1234, 1, "-1,234"),
        (1234567, 0, "1234567"),
        (1234567, 2, "1.23M"),
        (1536, 3, "1.50K"),
        (999, 2, "999"),
    ],
)
def test_human_num(n: int, level: int, text: str) -> None:
    assert human_num(n, level) == text


def test_decimal_numbers() -> None:
    assert comma_dnum(6002236.0, 2) == "6,002,236.00"
    assert comma_dnum(0.5, 2) == "0.50"


@pytest.mark.parametrize(
    ("mode", "text"),
    [
        (stat.S_IFDIR | 0o755, "drwxr-xr-x"),
        (stat.S_IFREG | 0o4755, "-rwsr-xr-x"),
        (stat.S_IFREG | 0o2644, "-rw-r-Sr--"),
        (stat.S_IFDIR | 0o1777, "drwxrwxrwt"),
        (stat.S_IFLNK | 0o777, "lrwxrwxrwx"),
        (stat.S_IFIFO | 0o600, "prw-------"),
        (stat.S_IFSOCK | 0o755, "srwxr-xr-x"),
        (stat.S_IFCHR | 0o640, "crw-r-----"),
    ],
)
def test_permstring(mode: int, text: str) -> None:
    assert permstring(mode) == text


REG = stat.S_IFREG | 0o644


@pytest.mark.parametrize(
    ("mode", "iflags", "text"),
    [
        (REG, Item.TRANSFER | Item.IS_NEW, ">f+++++++++"),
        (stat.S_IFDIR | 0o755, Item.LOCAL_CHANGE | Item.IS_NEW, "cd+++++++++"),
        (stat.S_IFLNK | 0o777, Item.LOCAL_CHANGE | Item.IS_NEW | Item.REPORT_CHANGE, "cL+++++++++"),
        (stat.S_IFDIR | 0o755, Item.REPORT_TIME, ".d..t......"),
        (REG, Item.TRANSFER | Item.REPORT_TIME | Item.REPORT_SIZE, ">f.st......"),
        (REG, Item.REPORT_PERMS | Item.REPORT_OWNER | Item.REPORT_GROUP, ".f...pog..."),
        (REG, 0, ".f         "),
        (REG, Item.LOCAL_CHANGE | Item.XNAME_FOLLOWS | Item.IS_NEW, "hf+++++++++"),
        (stat.S_IFCHR | 0o600, Item.REPORT_CHANGE, ".Dc........"),
        (stat.S_IFIFO | 0o600, Item.LOCAL_CHANGE | Item.IS_NEW, "cS+++++++++"),
    ],
)
def test_itemize_string(mode: int, iflags: int, text: str) -> None:
    assert itemize_string(mode, iflags, preserve_times=True) == text


def test_itemize_without_times_shows_capital_t() -> None:
    assert (
        itemize_string(REG, Item.TRANSFER | Item.REPORT_TIME, preserve_times=False) == ">f..T......"
    )


def test_escape_name() -> None:
    assert escape_name(b"new\nline") == "new\\#012line"
    assert escape_name(b"tab\there") == "tab\there"
    assert escape_name(b"latin1-\xe9") == "latin1-\\#351"


def test_list_line() -> None:
    e = FileEntry(name=b"f", mode=REG, size=1234567, mtime=0)
    line = list_line(e, b"f")
    assert line.startswith("-rw-r--r--      1,234,567 ")
    assert line.endswith(" f")
    link = FileEntry(name=b"l", mode=stat.S_IFLNK | 0o777, size=1, mtime=0, link_target=b"t")
    assert list_line(link, b"l").endswith(" l -> t")
    assert list_line(e, b"f", human=0).startswith("-rw-r--r--     1234567 ")


def test_summary_lines() -> None:
    s = ReceiveStats(
        num_files=6,
        num_dirs=2,
        num_symlinks=1,
        created_files=6,
        created_dirs=2,
        created_symlinks=1,
        xferred_files=3,
        total_size=3000017,
        total_transferred_size=3000012,
        literal_data=3000012,
        flist_size=139,
        flist_buildtime_ms=1,
        total_written=90,
        total_read=3001028,
    )
    lines = summary_lines(s, protocol=32, full=True, brief=True)
    assert lines[1] == "Number of files: 6 (reg: 3, dir: 2, link: 1)"
    assert "Number of deleted files: 0" in lines
    assert "File list generation time: 0.001 seconds" in lines
    assert lines[-2].startswith("sent 90 bytes  received 3,001,028 bytes  ")
    assert lines[-1] == "total size is 3,000,017  speedup is 1.00"
    assert "Number of deleted files" not in "\n".join(
        summary_lines(s, protocol=30, full=True, brief=False)
    )


def test_output_decides_what_prints() -> None:
    out, err = io.StringIO(), io.StringIO()
    o = Output(ClientOptions(verbose=1), stdout=out, stderr=err)
    d = FileEntry(name=b"d", mode=stat.S_IFDIR | 0o755)
    f = FileEntry(name=b"f", mode=REG)
    o.item(d, b"d", Item.LOCAL_CHANGE | Item.IS_NEW, None)
    o.item(f, b"f", Item.REPORT_PERMS, None)  # an attribute change: not with -v alone
    o.item(f, b"f", Item.TRANSFER, None)
    o.deleted(b"old", stat.S_IFDIR)
    o.message(Msg.ERROR, b"bad thing\n")
    assert out.getvalue() == "d/\nf\ndeleting old/\n"
    assert err.getvalue() == "bad thing\n"
    out = io.StringIO()
    o = Output(ClientOptions(itemize_changes=1), stdout=out, stderr=err)
    o.item(f, b"f", Item.REPORT_PERMS, None)
    o.deleted(b"x", REG)
    assert out.getvalue() == ".f...p..... f\n*deleting   x\n"


def test_error_line_and_progress_line() -> None:
    assert rsync_error_line(23).startswith(
        "rsync error: some files/attrs were not transferred (see previous errors) (code 23)"
    )
    assert rsync_error_line(24).startswith("rsync warning:")
    line = progress_line(1048576, 1048576, 2048.0, 0.5, " (xfr#1, to-chk=0/1)")
    assert line == "      1,048,576 100%    2.00MB/s    0:00:00 (xfr#1, to-chk=0/1)"
