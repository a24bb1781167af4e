"""Random queries and mutations from the served schema, through the gateway: never a 500, and
every answer fits the schema (bounded: GRAPHQL_FUZZ_EXAMPLES, default 150, from a fixed seed).

Arguments are drawn from values of the right type and from hostile ones (negative and huge
numbers, garbage ids, control characters, very long text); selections nest up to four levels.
login and register are left out: they only spend the per-IP auth limit."""

from __future__ import annotations

import json
import os
import random
import uuid
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    build_schema,
    get_named_type,
)

from tests.e2e.test_graphql import gql

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("GRAPHQL_FUZZ_EXAMPLES", "150"))
SKIPPED = {"login", "register"}
STRINGS = ["", "me", "calm", "warm", "x" * 3000, "\u202e\u0000", "💙", "' OR 1=1 --", "../../auth/me", "null"]
INTS = [0, 1, 5, 20, 100, 101, -1, 2**31 - 1, 500, 501]


def literal(kind: Any, rng: random.Random, ids: list[str]) -> str:
    """A GraphQL literal for an input type (sometimes null where the type allows it)."""
    if isinstance(kind, GraphQLNonNull):
        return literal(kind.of_type, rng, ids)
    if rng.random() < 0.1:
        return "null"
    if isinstance(kind, GraphQLList):
        return "[" + ", ".join(literal(kind.of_type, rng, ids) for _ in range(rng.randint(0, 3))) + "]"
    if isinstance(kind, GraphQLInputObjectType):
        fields = [
            f"{name}: {literal(field.type, rng, ids)}"
            for name, field in kind.fields.items()
            if isinstance(field.type, GraphQLNonNull) or rng.random() < 0.5
        ]
        return "{" + ", ".join(fields) + "}"
    if isinstance(kind, GraphQLEnumType):
        return rng.choice(list(kind.values))
    name = kind.name
    if name == "Int":
        return str(rng.choice(INTS))
    if name == "Float":
        return rng.choice(["0", "0.5", "1", "-3.5", "1e308"])
    if name == "Boolean":
        return rng.choice(["true", "false"])
    if name == "ID":
        return json.dumps(rng.choice([*ids, str(uuid.uuid4()), "not-an-id", "me", ""]))
    return json.dumps(rng.choice(STRINGS))


def selection(kind: Any, rng: random.Random, ids: list[str], depth: int) -> str:
    """A selection set of an output type's fields, some with arguments."""
    named = get_named_type(kind)
    if not isinstance(named, GraphQLObjectType):
        return ""
    names = list(named.fields)
    leaves = [n for n in names if not isinstance(get_named_type(named.fields[n].type), GraphQLObjectType)]
    chosen = rng.sample(names, k=min(len(names), rng.randint(1, 4)))
    if depth >= 4:
        chosen = [n for n in chosen if n in leaves] or leaves[:1]
    parts = []
    for name in chosen:
        field = named.fields[name]
        args = [
            f"{arg}: {literal(spec.type, rng, ids)}"
            for arg, spec in field.args.items()
            if isinstance(spec.type, GraphQLNonNull) or rng.random() < 0.5
        ]
        inner = selection(field.type, rng, ids, depth + 1)
        parts.append(name + (f"({', '.join(args)})" if args else "") + (f" {{ {inner} }}" if inner else ""))
    return " ".join(parts)


def fits(kind: Any, value: Any, path: tuple, error_paths: list[tuple]) -> bool:
    """Whether `value` is a valid answer of `kind` (a null where the type forbids it only under an error)."""
    if isinstance(kind, GraphQLNonNull):
        if value is None:
            return any(path[: len(p)] == p or p[: len(path)] == path for p in error_paths)
        return fits(kind.of_type, value, path, error_paths)
    if value is None:
        return True
    if isinstance(kind, GraphQLList):
        return isinstance(value, list) and all(
            fits(kind.of_type, item, (*path, i), error_paths) for i, item in enumerate(value)
        )
    if isinstance(kind, GraphQLObjectType):
        return isinstance(value, dict) and all(
            key in kind.fields and fits(kind.fields[key].type, item, (*path, key), error_paths)
            for key, item in value.items()
        )
    if isinstance(kind, GraphQLScalarType):
        expected = {"Int": int, "Float": (int, float), "String": str, "ID": str, "Boolean": bool}.get(kind.name)
        return expected is None or (
            isinstance(value, expected) and (kind.name == "Boolean" or not isinstance(value, bool))
        )
    return isinstance(value, str)  # enums


def test_random_operations_never_500_and_always_fit_the_schema(client, new_user, people):
    body = new_user()
    [(_, other)] = people(1)
    ids = [body["user"]["id"], other["user"]["id"]]
    schema = build_schema(client.get("/graphql/schema.graphql").text)
    rng = random.Random(18)
    roots = [
        (operation, root, name)
        for operation, root in (("query", schema.query_type), ("mutation", schema.mutation_type))
        for name in root.fields
        if name not in SKIPPED
    ]
    statuses: dict[int, int] = {}
    for _ in range(EXAMPLES):
        operation, root, name = rng.choice(roots)
        field = root.fields[name]
        args = [
            f"{arg}: {literal(spec.type, rng, ids)}"
            for arg, spec in field.args.items()
            if isinstance(spec.type, GraphQLNonNull) or rng.random() < 0.6
        ]
        inner = selection(field.type, rng, ids, 2)
        call = name + (f"({', '.join(args)})" if args else "") + (f" {{ {inner} }}" if inner else "")
        query = f"{operation} {{ {call} }}"
        response = gql(client, query)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in (200, 400, 413), (query, response.status_code, response.text)
        answer = response.json()
        for error in answer.get("errors", []):
            assert error["extensions"]["status"] != 500 and error["extensions"]["code"] != "internal_error", (
                query,
                error,
            )
        if response.status_code == 200:
            error_paths = [tuple(e.get("path") or ()) for e in answer.get("errors", [])]
            assert fits(root, answer["data"], (), error_paths), (query, answer)
    assert statuses.get(200, 0) > EXAMPLES // 4, statuses  # most operations ran, not just refused
