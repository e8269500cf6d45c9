"""Host names as IDNA A-labels (rsync: util1.c idn_to_ascii())."""

from __future__ import annotations

import pytest

from rsync_wire.idn import idn_to_ascii


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("\u010ci\u010dku.example", "xn--iku-eqab.example"),
        # combining carons are normalized (NFC) before the mapping
        ("c\u030cic\u030cku.example", "xn--iku-eqab.example"),
        # only the converted label is case-folded; an ASCII label goes through as typed
        ("\u010cI\u010cKU.Example", "xn--iku-eqab.Example"),
        # fullwidth forms fold onto their ASCII letters
        ("\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54", "localhost"),
    ],
)
def test_a_unicode_label_becomes_its_a_label(name: str, want: str) -> None:
    assert idn_to_ascii(name) == want


@pytest.mark.parametrize(
    "name",
    [
        "xn--iku-eqab.example",  # ASCII: nothing to convert
        "XN--IKU-EQAB.Example",
        "xn--0.example",
        "127.0.0.1",
        "*.example",
        "\u0640x.example",  # a disallowed character
        "\u200b.example",  # a label that maps to nothing
        "\uff0a",  # FULLWIDTH ASTERISK maps to "*": a wildcard nobody typed
        "\uff0a.example",
        "127.0.0.0\uff0f8",  # FULLWIDTH SOLIDUS maps to "/": a mask nobody typed
    ],
)
def test_a_name_that_does_not_convert_is_kept(name: str) -> None:
    assert idn_to_ascii(name) is None
