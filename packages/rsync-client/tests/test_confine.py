"""The Landlock rules derived from the command line, checked against the client's option table."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import msgspec
import pytest

from rsync_client import cli
from rsync_client.confine import (
    NON_PATH_OPTIONS,
    PATH_OPTIONS,
    LandlockRules,
    PathUse,
    landlock_rules,
)
from rsync_client.options import ClientOptions, OptionError
from rsync_wire.proto.optable import OPTIONS, Arg

if TYPE_CHECKING:
    from pathlib import Path


class _Later(ClientOptions, kw_only=True):
    """The options the client refuses today, as fields (what accepting them would add)."""

    link_dest: list[str] = msgspec.field(default_factory=list)
    copy_dest: list[str] = msgspec.field(default_factory=list)
    compare_dest: list[str] = msgspec.field(default_factory=list)
    backup_dir: str | None = None
    temp_dir: str | None = None
    partial_dir: str | None = None
    log_file: str | None = None
    write_batch: str | None = None
    only_write_batch: str | None = None
    read_batch: str | None = None
    early_input: str | None = None
    copy_unsafe_links: bool = False


def _table() -> tuple[set[str], set[str]]:
    """(accepted options with an argument, refused long options with an argument)."""
    with_arg = [o for o in OPTIONS if o.arg is not Arg.NONE]
    accepted = {n for o in with_arg if o.client for n in (o.long, *o.aliases) if n}
    refused = {n for o in with_arg if not o.client for n in (o.long, *o.aliases) if n}
    return accepted, refused


def _readable(rules: LandlockRules, path: str) -> bool:
    trees = (*rules.read_only, *rules.read_write, *rules.optional_read_only)
    return any(t == "/" or os.path.commonpath([path, t]) == t for t in trees)


def _writable(rules: LandlockRules, path: str) -> bool:
    return any(t == "/" or os.path.commonpath([path, t]) == t for t in rules.read_write)


def test_every_option_with_an_argument_is_classified() -> None:
    accepted, refused = _table()
    unclassified = (accepted | refused) - set(PATH_OPTIONS) - NON_PATH_OPTIONS
    assert not unclassified, f"say in confine.py whether these name a path: {unclassified}"
    assert not set(PATH_OPTIONS) & NON_PATH_OPTIONS


def _tree(tmp_path: Path) -> tuple[Path, Path, Path]:
    src = tmp_path / "src"
    dest = tmp_path / "dest"
    other = tmp_path / "other"
    for d in (src, dest, other):
        d.mkdir()
    return src, dest, other


@pytest.mark.parametrize("option", sorted(PATH_OPTIONS))
def test_accepted_path_options_are_covered_refused_ones_are_refused(
    option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted, _ = _table()
    src, dest, other = _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    named = other / "named"
    named.write_text("- x\n")
    use = PATH_OPTIONS[option]
    value = f". {named}" if option == "filter" else str(named)
    if option == "partial-dir":
        # a relative one lies in each destination directory; an absolute one is one directory
        opts, _ = cli.parse_args([f"--{option}=.part", f"{src}/", str(dest)])
        rules = landlock_rules(opts, [f"{src}/"], str(dest))
        assert _writable(rules, str(dest / ".part"))
        absolute = other / "partial"
        opts, _ = cli.parse_args([f"--{option}={absolute}", f"{src}/", str(dest)])
        rules = landlock_rules(opts, [f"{src}/"], str(dest))
        assert _writable(rules, str(absolute))
        return
    if option not in accepted:
        # Refused today: nothing reaches the transfer, so nothing needs a rule.
        with pytest.raises(OptionError):
            cli.parse_args([f"--{option}={value}", f"{src}/", str(dest)])
        return
    opts, _ = cli.parse_args([f"--{option}={value}", f"{src}/", str(dest)])
    rules = landlock_rules(opts, [f"{src}/"], str(dest))
    if use is PathUse.READ_FILE:
        assert _readable(rules, str(named))
        assert not _writable(rules, str(named))
    elif use in (PathUse.BEFORE, PathUse.PROGRAM, PathUse.REMOTE):
        assert not _readable(rules, str(named)), rules  # the password file above all
    elif use is PathUse.READ_DEST_TREE:
        assert _readable(rules, str(named))
        assert not _writable(rules, str(named))
    elif use in (PathUse.LINK_DEST_TREE, PathUse.WRITE_DEST_TREE):
        # a backup directory is written; linking out of a tree needs Landlock's REFER,
        # which only a read-write rule grants
        assert _writable(rules, str(named))
        assert _writable(rules, str(dest))
        return
    elif use is PathUse.WRITE_FILES_BESIDE:
        # a batch file and its FILE.sh are created in the named file's directory
        assert _writable(rules, str(named) + ".sh")
        assert _writable(rules, str(dest))
        assert not _writable(rules, str(src))
        return
    else:  # pragma: no cover - no accepted option writes elsewhere yet
        pytest.fail(f"a test for --{option} ({use}) is missing")
    assert rules.read_write == (str(dest),)


@pytest.mark.parametrize(
    ("field", "value", "writable", "where"),
    [
        ("link_dest", ["../prev"], True, "prev"),
        ("copy_dest", ["../prev"], False, "prev"),
        ("compare_dest", ["/ABS/prev"], False, "prev"),
        ("backup_dir", "../backups/today", True, "backups"),  # created by rsync: its parent
        ("temp_dir", "/ABS/tmpdir", True, "tmpdir"),
        ("partial_dir", ".partial", True, "dest/.partial"),  # inside dest: dest covers it
        ("write_batch", "/ABS/logs/batch", True, "logs"),
        ("read_batch", "/ABS/prev/batch", False, "prev/batch"),
    ],
)
def test_options_not_yet_accepted_get_their_rules_once_they_are(
    field: str, value: str | list[str], writable: bool, where: str, tmp_path: Path
) -> None:
    _src, dest, _ = _tree(tmp_path)
    (tmp_path / "prev").mkdir()
    (tmp_path / "prev" / "batch").write_text("")
    (tmp_path / "tmpdir").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "backups").mkdir()

    def resolve(v: str) -> str:
        return v.replace("/ABS", str(tmp_path))

    given = [resolve(v) for v in value] if isinstance(value, list) else resolve(value)
    opts = _Later()
    setattr(opts, field, given)
    rules = landlock_rules(opts, [], str(dest))
    target = str(tmp_path / where)
    assert _readable(rules, target), rules
    assert _writable(rules, target) is writable, rules
    assert not _writable(rules, str(tmp_path / "other")), rules


def test_pull_reads_nothing_but_the_destination_and_the_runtime(tmp_path: Path) -> None:
    _src, dest, other = _tree(tmp_path)
    opts, rest = cli.parse_args(["-aL", "rsync://host/mod/", str(dest)])
    rules = landlock_rules(opts, [], rest[-1])
    assert rules.read_write == (str(dest),)
    assert rules.read_only == ()
    assert not _readable(rules, str(other))
    assert not _readable(rules, "/etc/shadow")


def test_local_copy_reads_its_sources_only_unless_links_are_followed(tmp_path: Path) -> None:
    src, dest, other = _tree(tmp_path)
    opts, _ = cli.parse_args(["-a", f"{src}/", str(dest)])
    rules = landlock_rules(opts, [f"{src}/"], str(dest))
    assert rules.read_only == (str(src),)
    assert not _readable(rules, str(other))
    for follow in (["-L"], ["--copy-links"], ["-k"], ["--copy-dirlinks"]):
        opts, _ = cli.parse_args([*follow, "-a", f"{src}/", str(dest)])
        rules = landlock_rules(opts, [f"{src}/"], str(dest))
        assert _readable(rules, str(other)), follow  # a link may point anywhere
        assert not _writable(rules, str(other))
        assert rules.read_write == (str(dest),)
    rules = landlock_rules(_Later(copy_unsafe_links=True), [f"{src}/"], str(dest))
    assert "/" in rules.read_only
    assert rules.read_write == (str(dest),)


def test_missing_destination_grants_its_parent_and_list_only_writes_nowhere(
    tmp_path: Path,
) -> None:
    src, _, _ = _tree(tmp_path)
    rules = landlock_rules(ClientOptions(), [f"{src}/"], str(tmp_path / "new"))
    assert rules.read_write == (str(tmp_path),)
    assert rules.read_only == ()  # the source lies inside the writable parent
    rules = landlock_rules(ClientOptions(), [f"{src}/"], None)
    assert rules.read_write == ()
    assert rules.read_only == (str(src),)


def test_files_inside_the_destination_and_stdin_get_no_separate_rule(tmp_path: Path) -> None:
    src, dest, _ = _tree(tmp_path)
    (dest / ".excl").write_text("x\n")
    opts, _ = cli.parse_args(
        [f"--exclude-from={dest}/.excl", "--include-from=-", f"{src}/", str(dest)]
    )
    rules = landlock_rules(opts, [f"{src}/"], str(dest))
    assert str(dest / ".excl") not in rules.optional_read_only
    assert "-" not in " ".join(rules.optional_read_only).split()
    assert rules.read_write == (str(dest),)


def test_dir_merge_rules_name_no_file_to_read_now(tmp_path: Path) -> None:
    src, dest, _ = _tree(tmp_path)
    opts, _ = cli.parse_args(["-F", "--filter=: .rules", f"{src}/", str(dest)])
    rules = landlock_rules(opts, [f"{src}/"], str(dest))
    assert not any(p.endswith(".rules") for p in rules.optional_read_only)


def test_per_dir_merge_rules_widen_reading_for_a_local_copy_only(tmp_path: Path) -> None:
    """A local copy's merge files may lie anywhere (-F scans the source's parents); a
    pull's per-dir merge files are the destination's, which the server wrote."""
    src, dest, other = _tree(tmp_path)
    opts, _ = cli.parse_args(["-F", f"{src}/", str(dest)])
    rules = landlock_rules(opts, [f"{src}/"], str(dest), per_dir_merge=True)
    assert _readable(rules, str(other))
    assert not _writable(rules, str(other))
    assert rules.read_write == (str(dest),)
    opts, rest = cli.parse_args(["-F", "rsync://host/mod/", str(dest)])
    rules = landlock_rules(opts, [], rest[-1], per_dir_merge=True)  # a pull
    assert not _readable(rules, str(other))
    assert not _readable(rules, "/etc/shadow")
    rules = landlock_rules(opts, [f"{src}/"], None, per_dir_merge=True)  # a push: unchanged
    assert not _readable(rules, str(other))


def test_a_basis_dir_linked_out_of_the_destination_stays_readable(tmp_path: Path) -> None:
    """``--compare-dest=osl`` with ``dest/osl -> other``: rsync follows a link its
    operator owns, so the rule for ``dest/osl`` (Landlock resolves it to ``other``) is
    kept, though its name lies below the writable destination."""
    src, dest, other = _tree(tmp_path)
    (dest / "osl").symlink_to(other)
    (dest / "inside").mkdir()
    for value in ("osl", str(dest / "osl")):
        opts, _ = cli.parse_args([f"--compare-dest={value}", "-a", f"{src}/", str(dest)])
        rules = landlock_rules(opts, [f"{src}/"], str(dest))
        assert str(dest / "osl") in rules.optional_read_only, rules
    opts, _ = cli.parse_args(["--compare-dest=inside", "-a", f"{src}/", str(dest)])
    rules = landlock_rules(opts, [f"{src}/"], str(dest))
    assert str(dest / "inside") not in rules.optional_read_only, rules
