"""HTTP resources of the social service (its domain endpoints arrive with their own issue)."""

from __future__ import annotations

from shared.api import Api

PUBLIC_ENDPOINTS: tuple[str, ...] = ()


def register_resources(api: Api) -> None:
    """Mount the social resources; until they exist, every path but the ops ones answers 401/404."""
