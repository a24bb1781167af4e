"""The request checks every service and the gateway run before a handler: JSON bodies, form
bodies and text that a database cannot store."""

from __future__ import annotations

import json

import pytest
from marshmallow import ValidationError

from shared.app import check_json_body, unstorable_field
from shared.errors import BadRequest, ValidationFailed
from shared.pagination import PageArgs


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"a": "fine", "b": ["é", "😊", {"c": 1}]}, None),
        ({"a": "x\x00"}, "a"),
        ({"a": {"b": ["ok", "\ud800"]}}, "a.b.1"),
        ("\udfff", ""),
        ({"\x00key": 1}, "body"),
        ({"outer": {"\ud800": 1}}, "outer"),
    ],
)
def test_unstorable_field_names_the_first_bad_text(document, field):
    assert unstorable_field(document) == field


def test_unstorable_field_walks_deep_documents_without_recursion():
    deep: list = ["\x00"]
    for _ in range(50_000):
        deep = [deep]
    assert unstorable_field(deep) == ".".join(["0"] * 50_001)


def post(body: bytes, content_type: str = "application/json", form: bool = False) -> None:
    check_json_body("POST", content_type, len(body), lambda: body, form_allowed=form)


def test_json_bodies_with_nul_or_lone_surrogates_are_422_naming_the_field():
    with pytest.raises(ValidationFailed) as nul:
        post(json.dumps({"note": "a\x00b"}).encode())
    assert nul.value.errors == {"note": ["Text cannot contain NUL characters or unpaired surrogates."]}
    with pytest.raises(ValidationFailed) as surrogate:
        post(b'{"tags": ["ok", "\\ud800"]}')
    assert list(surrogate.value.errors) == ["tags.1"]
    post(b'{"pair": "\\ud83d\\ude0a"}')  # a surrogate pair is one character, and fine


def test_form_bodies_with_nul_are_422():
    with pytest.raises(ValidationFailed):
        post(b"grant_type=password&username=a%00b", "application/x-www-form-urlencoded", form=True)
    post(b"grant_type=password&username=ab", "application/x-www-form-urlencoded", form=True)
    with pytest.raises(ValidationFailed) as repeated:  # the handler reads the first of a repeated name
        post(b"username=a%00b&username=ok", "application/x-www-form-urlencoded", form=True)
    assert list(repeated.value.errors) == ["username"]


def test_json_nested_too_deeply_is_400():
    with pytest.raises(BadRequest) as deep:
        post(b"[" * 30_000 + b"]" * 30_000)
    assert deep.value.code == "malformed_json"


@pytest.mark.parametrize("raw", ["\uff11", " 5", "+5", "1_0", "5 ", "0x5", "1" * 19])
def test_query_integers_are_plain_ascii_digits(raw):
    with pytest.raises(ValidationError):
        PageArgs().load({"limit": raw})


def test_a_plain_query_integer_loads():
    assert PageArgs().load({"limit": "25"})["limit"] == 25
