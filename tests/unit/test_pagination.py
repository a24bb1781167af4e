from datetime import UTC, datetime

import pytest

from shared.errors import ValidationFailed
from shared.pagination import PageArgs, decode_cursor, encode_cursor, page_result


def test_cursor_round_trip_is_opaque():
    when = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    cursor = encode_cursor(when, "abc")
    assert "2026" not in cursor
    assert decode_cursor(cursor, 2) == [when.isoformat(), "abc"]


@pytest.mark.parametrize("cursor", ["%%%", "bm90LWpzb24", encode_cursor("a"), encode_cursor("a", "b", "c")])
def test_bad_cursor_is_a_422(cursor):
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, 2)


def test_page_result_cuts_the_probe_row():
    items, cursor = page_result([1, 2, 3], 2, key=lambda n: (n, n))
    assert items == [1, 2] and decode_cursor(cursor, 2) == ["2", "2"]
    assert page_result([1, 2], 2, key=lambda n: (n, n)) == ([1, 2], None)


@pytest.mark.parametrize("args", [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}])
def test_limit_is_1_to_100(args):
    from marshmallow import ValidationError

    with pytest.raises(ValidationError):
        PageArgs().load(args)
    assert PageArgs().load({}) == {"limit": 20, "cursor": None}
