"""The catalogue of hug types, kept in code: a type name is valid only if it is listed here."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class HugType:
    name: str
    label: str
    description: str


HUG_TYPES: tuple[HugType, ...] = (
    HugType("warm", "Warm hug", "A warm, everyday hug: thinking of you."),
    HugType("bear", "Bear hug", "A big, tight squeeze for when words are not enough."),
    HugType("comfort", "Comfort hug", "A gentle hug for a hard day: you are not alone."),
    HugType("celebration", "Celebration hug", "A joyful hug to celebrate good news together."),
    HugType("side", "Side hug", "A light, friendly side hug."),
    HugType("virtual", "Virtual hug", "A hug sent across the distance, until you can meet."),
)
DEFAULT_TYPE = "warm"
_BY_NAME = {t.name: t for t in HUG_TYPES}
TYPE_NAMES: tuple[str, ...] = tuple(_BY_NAME)


def hug_types() -> list[dict[str, Any]]:
    """The catalogue as it is served: name, label, description."""
    return [asdict(t) for t in HUG_TYPES]


def label_of(name: str) -> str:
    """The display label of a (valid) type name."""
    return _BY_NAME[name].label
