"""Hug business logic: the type catalogue, hugs, hug requests and group hugs."""

from services.hug.service import groups, hug_requests, hugs
from services.hug.service.account import export_account
from services.hug.service.audience import admits_hugs, audience_source
from services.hug.service.catalogue import DEFAULT_TYPE, HUG_TYPES, TYPE_NAMES, hug_types, label_of
from services.hug.service.groups import effective_status, expire_group_hugs
from services.hug.service.hugs import pair_lock_key

__all__ = [
    "DEFAULT_TYPE",
    "HUG_TYPES",
    "TYPE_NAMES",
    "admits_hugs",
    "audience_source",
    "effective_status",
    "expire_group_hugs",
    "export_account",
    "groups",
    "hug_requests",
    "hug_types",
    "hugs",
    "label_of",
    "pair_lock_key",
]
