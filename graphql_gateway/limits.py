"""What a GraphQL request may ask for, checked on its parsed document before anything runs.

Every default is named once, here; each is a setting of the process (README, .env.example)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

from shared.config import Setting, parse_bool, parse_positive

MAX_DEPTH = 8
MAX_COST = 1000
MAX_DOCUMENT_BYTES = 16 * 1024
MAX_ALIASES = 10
MAX_OFFSET = 500
INTROSPECTION = True
# login and register per request: each is one guess against the per-IP auth limit, so a batch of
# aliased logins in one request would be a batch of guesses for the price of one request.
MAX_AUTH_MUTATIONS = 1
AUTH_MUTATIONS = frozenset({"login", "register"})
# The REST lists' page sizes (API.md: ?limit= 1..100, default 20): a list field without a size
# argument costs the default, and one page is fetched per MAX_PAGE items an offset skips.
DEFAULT_PAGE = 20
MAX_PAGE = 100
# A document over MAX_DOCUMENT_BYTES is refused unparsed; within it, the parser stops at this many
# tokens, so validation's cost (some rules are quadratic in the fields) stays small.
MAX_TOKENS = 3000
# Size arguments: a list field's items are counted from the first of these it is given.
SIZE_ARGUMENTS = ("limit", "first", "ids")

SETTINGS = [
    Setting("GRAPHQL_MAX_DEPTH", parse_positive(int), MAX_DEPTH, help="deepest field nesting a query may have"),
    Setting(
        "GRAPHQL_MAX_COST",
        parse_positive(int),
        MAX_COST,
        help="cost budget per request: 1 per object field, times the size of each list around it",
    ),
    Setting("GRAPHQL_MAX_DOCUMENT_BYTES", parse_positive(int), MAX_DOCUMENT_BYTES, help="largest query document"),
    Setting("GRAPHQL_MAX_ALIASES", parse_positive(int), MAX_ALIASES, help="most aliased fields per request"),
    Setting(
        "GRAPHQL_MAX_OFFSET",
        parse_positive(int),
        MAX_OFFSET,
        help="largest offset of a limit/offset list (walked over the service's cursors)",
    ),
    Setting("GRAPHQL_INTROSPECTION", parse_bool, INTROSPECTION, help="whether __schema and __type are answered"),
]


class LimitExceeded(Exception):
    """A request over one of the limits; `code` names which."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Measure:
    depth: int = 0
    cost: int = 0
    aliases: int = 0
    auth_mutations: int = 0


def check_size(query: str, config: Mapping[str, Any]) -> None:
    """Refuse a document over the size limit, before it is parsed."""
    size = len(query.encode("utf-8", "surrogatepass"))
    if size > config["GRAPHQL_MAX_DOCUMENT_BYTES"]:
        raise LimitExceeded(
            "graphql.document_too_large",
            f"The query document is {size} bytes; at most {config['GRAPHQL_MAX_DOCUMENT_BYTES']} are allowed.",
        )


def check(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
    config: Mapping[str, Any],
) -> Measure:
    """Measure the operation that would run and refuse it if it is over a limit.

    Runs before validation, so it must stand anything: unknown fields count as leaves, and a
    fragment spread inside itself is not followed again (validation then refuses the cycle)."""
    measure = Measure()
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    root = schema.get_root_type(operation.operation)
    walker = _Walker(schema, fragments, variables, measure)
    measure.cost = walker.cost(operation.selection_set, root, depth=1, path=())
    if operation.operation.value == "mutation":
        measure.auth_mutations = sum(
            1 for field, _ in walker.fields(operation.selection_set, ()) if field.name.value in AUTH_MUTATIONS
        )
    if measure.depth > config["GRAPHQL_MAX_DEPTH"]:
        raise LimitExceeded(
            "graphql.too_deep", f"The query is {measure.depth} levels deep; at most {config['GRAPHQL_MAX_DEPTH']}."
        )
    if measure.aliases > config["GRAPHQL_MAX_ALIASES"]:
        raise LimitExceeded(
            "graphql.too_many_aliases",
            f"The query has {measure.aliases} aliases; at most {config['GRAPHQL_MAX_ALIASES']}.",
        )
    if measure.auth_mutations > MAX_AUTH_MUTATIONS:
        raise LimitExceeded(
            "graphql.too_many_auth_mutations",
            f"At most {MAX_AUTH_MUTATIONS} login or register per request; this one has {measure.auth_mutations}.",
        )
    if measure.cost > config["GRAPHQL_MAX_COST"]:
        raise LimitExceeded(
            "graphql.too_costly",
            f"The query would cost {measure.cost}; the budget is {config['GRAPHQL_MAX_COST']} "
            "(1 per object field, times the size of every list around it).",
        )
    return measure


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        measure: Measure,
    ):
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.measure = measure

    def fields(
        self, selections: SelectionSetNode, path: tuple[str, ...]
    ) -> Iterator[tuple[FieldNode, tuple[str, ...]]]:
        """The fields of a selection set, fragments spread, each with the fragments it lies in (a
        fragment is not spread again inside itself)."""
        for node in selections.selections:
            if isinstance(node, FieldNode):
                yield node, path
            elif isinstance(node, InlineFragmentNode):
                yield from self.fields(node.selection_set, path)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in path:
                    yield from self.fields(fragment.selection_set, (*path, name))

    def cost(self, selections: SelectionSetNode, parent: GraphQLNamedType | None, depth: int, path: tuple) -> int:
        total = 0
        for field, inside in self.fields(selections, path):
            if field.alias is not None:
                self.measure.aliases += 1
            name = field.name.value
            self.measure.depth = max(self.measure.depth, depth)
            definition = _field(self.schema, parent, name)
            if definition is None or field.selection_set is None:
                continue  # a leaf (or a field validation will refuse): free
            field_type = get_nullable_type(definition.type)
            named = get_named_type(field_type)
            # A chain of ofType is one type reference, however deep: it does not count as depth.
            inner = self.cost(field.selection_set, named, depth if name == "ofType" else depth + 1, inside)
            if named.name.startswith("__") or _is_page(parent):
                # introspection: bounded by the schema and the depth limit; a connection's edges:
                # counted by the connection's own size
                multiplier = 1
            elif isinstance(field_type, GraphQLList) or _is_page(named):
                multiplier = self.size(field)
            else:
                multiplier = 1
            total += 1 + multiplier * inner + self.pages_skipped(field)
        return total

    def argument(self, field: FieldNode, name: str) -> Any:
        for argument in field.arguments or ():
            if argument.name.value == name:
                value = argument.value
                if isinstance(value, VariableNode):
                    return self.variables.get(value.name.value)
                if isinstance(value, IntValueNode):
                    return int(value.value)
                if isinstance(value, ListValueNode):
                    return list(value.values)
                return None
        return None

    def size(self, field: FieldNode) -> int:
        """How many items a list field may answer: its size argument, else a default page."""
        for name in SIZE_ARGUMENTS:
            value = self.argument(field, name)
            if isinstance(value, list):
                return max(len(value), 1)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(value, 1)
        return DEFAULT_PAGE

    def pages_skipped(self, field: FieldNode) -> int:
        offset = self.argument(field, "offset")
        return offset // MAX_PAGE if isinstance(offset, int) and offset > 0 else 0


def _is_page(named: GraphQLNamedType | None) -> bool:
    """A Relay connection: its edges are the list."""
    return isinstance(named, GraphQLObjectType) and named.name.endswith("Connection")


def _field(schema: GraphQLSchema, parent: GraphQLNamedType | None, name: str) -> Any:
    if name == "__schema":
        return SchemaMetaFieldDef
    if name == "__type":
        return TypeMetaFieldDef
    if isinstance(parent, GraphQLObjectType):
        return parent.fields.get(name)
    return None
