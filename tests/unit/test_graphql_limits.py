"""The GraphQL gateway's limits and paging, on parsed documents: no fleet needed."""

from __future__ import annotations

import pytest
from graphql import get_introspection_query, parse

from graphql_gateway import limits
from graphql_gateway.paging import _window, connection
from graphql_gateway.schema import build_schema

SCHEMA = build_schema()
CONFIG = {setting.name: setting.default for setting in limits.SETTINGS}


def measure(query: str, variables: dict | None = None) -> limits.Measure:
    document = parse(query)
    [operation] = [d for d in document.definitions if d.kind == "operation_definition"]
    return limits.check(SCHEMA, document, operation, variables or {}, CONFIG)


def test_defaults_are_the_documented_ones():
    assert (limits.MAX_DEPTH, limits.MAX_COST, limits.MAX_DOCUMENT_BYTES) == (8, 1000, 16 * 1024)
    assert (limits.MAX_ALIASES, limits.MAX_OFFSET, limits.MAX_AUTH_MUTATIONS) == (10, 500, 1)


def test_cost_multiplies_by_list_sizes_and_counts_leaves_free():
    assert measure("{ me { username bio } }").cost == 1
    assert measure("{ hugsReceived(limit: 50) { id sender { username } } }").cost == 1 + 50 * 1
    assert measure("{ hugsReceived { sender { username } } }").cost == 1 + limits.DEFAULT_PAGE
    assert measure("query($n: Int) { hugsSent(limit: $n) { recipient { id } } }", {"n": 7}).cost == 8
    assert measure("{ hugsSent(limit: 1, offset: 300) { id } }").cost == 1 + 3
    friends = "{ me { friends(first: 10) { edges { node { moods(limit: 10) { id } } } } } }"
    assert measure(friends).cost == 1 + (1 + 10 * (1 + 1 + 1))


def test_fragments_count_as_if_written_inline_and_cycles_do_not_hang():
    inline = measure("{ me { friends(first: 3) { edges { node { username } } } } }")
    spread = measure("{ me { ...F } } fragment F on User { friends(first: 3) { edges { node { username } } } }")
    assert (spread.cost, spread.depth) == (inline.cost, inline.depth)
    looped = "{ me { ...A } } fragment A on User { friends { edges { node { ...A } } } }"
    assert measure(looped).depth >= 4  # validation refuses the cycle; the measure just ends


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ me { " + "friends { edges { node { " * 3 + "id" + " } } }" * 3 + " } }", "graphql.too_deep"),
        (
            "{ hugsReceived(limit: 100) { sender { friends(first: 100) { edges { node { id } } } } } }",
            "graphql.too_costly",
        ),
        ("{ " + " ".join(f"a{n}: me {{ id }}" for n in range(11)) + " }", "graphql.too_many_aliases"),
        (
            'mutation { a: login(email: "x", password: "y") { accessToken } b: login(email: "x", password: "y") '
            "{ accessToken } }",
            "graphql.too_many_auth_mutations",
        ),
    ],
    ids=["depth", "cost", "aliases", "auth mutations"],
)
def test_over_a_limit_is_refused_with_its_code(query, code):
    with pytest.raises(limits.LimitExceeded) as refused:
        measure(query)
    assert refused.value.code == code


def test_the_standard_introspection_query_fits():
    result = measure(get_introspection_query())
    assert result.depth <= limits.MAX_DEPTH and result.cost <= limits.MAX_COST


def test_document_size_is_checked_in_bytes():
    limits.check_size("x" * limits.MAX_DOCUMENT_BYTES, CONFIG)
    with pytest.raises(limits.LimitExceeded):
        limits.check_size("é" * (limits.MAX_DOCUMENT_BYTES // 2 + 1), CONFIG)


def pages_of(items: list[int], calls: list):
    """A fake service list of `items` with cursors that are positions."""

    def fetch(cursor, limit):
        calls.append((cursor, limit))
        start = int(cursor or 0)
        page = [{"n": n} for n in items[start : start + limit]]
        following = str(start + limit) if start + limit < len(items) else None
        return page, following

    return fetch


def test_an_offset_walks_the_cursors_a_page_of_at_most_100_at_a_time():
    calls: list = []
    window, more = _window(pages_of(list(range(350)), calls), None, 250, 20)
    assert [item["n"] for item, _ in window] == list(range(250, 270)) and more
    assert [limit for _, limit in calls] == [100, 100, 70]


def test_connection_cursors_resume_exactly_after_their_edge():
    items = list(range(7))
    seen, after = [], None
    while True:
        page = connection(pages_of(items, []), 3, after, node=lambda item: item["n"])
        seen += [edge["node"] for edge in page["edges"]]
        if not page["page_info"]["has_next_page"]:
            break
        after = page["page_info"]["end_cursor"]
    assert seen == items
