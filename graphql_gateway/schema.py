"""The executable schema: the .graphql files beside this module with the resolvers bound."""

from __future__ import annotations

from pathlib import Path

from ariadne import ScalarType, load_schema_from_path, make_executable_schema
from graphql import GraphQLSchema, print_schema

from graphql_gateway.resolvers import BINDABLES

SCHEMA_DIR = Path(__file__).parent / "schema"

json_scalar = ScalarType("JSON")  # passed through as decoded JSON, both ways


def build_schema() -> GraphQLSchema:
    """The schema, fields resolved by the resolvers; camelCase names read the services' snake_case."""
    return make_executable_schema(
        load_schema_from_path(str(SCHEMA_DIR)), *BINDABLES, json_scalar, convert_names_case=True
    )


def schema_text(schema: GraphQLSchema) -> str:
    """The schema in SDL, as GET /graphql/schema.graphql serves it."""
    return print_schema(schema) + "\n"
