"""The GraphQL gateway: the design's schema over the REST services, batched and limited."""

from graphql_gateway.app import create_app

__all__ = ["create_app"]
