"""%VAR% in hook commands, expanded and quoted as rsync 3.5 does (loadparm.c expand_vars())."""

from __future__ import annotations

import pytest

from rsync_daemon.hooks import UnsafeHookValue, expand_hook_vars

ENV = {"RSYNC_MODULE_PATH": "/srv/m", "RSYNC_USER_NAME": "bob", "HOME": "/root"}


@pytest.mark.parametrize(
    ("command", "expanded"),
    [
        ("hook %RSYNC_USER_NAME%", "hook 'bob'"),
        ('hook "%RSYNC_USER_NAME%"', "hook \"'bob'\""),
        ("sh -c 'printf %s \"%RSYNC_MODULE_PATH%\"'", "sh -c 'printf %s \"/srv/m\"'"),
        ("hook %HOME% %NOT_SET% %lower% 100%", "hook /root %NOT_SET% %lower% 100%"),
        ("a\\'%RSYNC_USER_NAME%", "a\\''bob'"),
    ],
)
def test_values_are_quoted_for_where_they_stand(command: str, expanded: str) -> None:
    assert expand_hook_vars(command, ENV) == expanded


@pytest.mark.parametrize("value", ["My Backups", "a;b", "x$(id)", "o'k", "!", "a\nb", "~x"])
def test_a_client_value_with_a_metacharacter_is_refused(value: str) -> None:
    with pytest.raises(UnsafeHookValue) as info:
        expand_hook_vars("hook %RSYNC_USER_NAME%", {**ENV, "RSYNC_USER_NAME": value})
    assert info.value.name == "RSYNC_USER_NAME"
    # Read from the environment instead, as rsyncd.conf(5) advises, it is not refused.
    assert expand_hook_vars('hook "$RSYNC_USER_NAME"', {**ENV, "RSYNC_USER_NAME": value}) == (
        'hook "$RSYNC_USER_NAME"'
    )
