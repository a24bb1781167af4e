"""Request and response shapes of the mood service."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates, validates_schema

from shared.api import QueryInteger, StrictBoolean, UtcAwareDateTime, UtcDateTime
from shared.pagination import PageArgs

FUTURE_SKEW = timedelta(seconds=60)
# No mood is older than this: it keeps every local day, streak and analytics period in range.
EARLIEST_RECORDED_AT = datetime(1900, 1, 1, tzinfo=UTC)


class UnitFloat(fields.Float):
    """A JSON number from 0 to 1 (not a boolean, string or NaN)."""

    def __init__(self, **kwargs: Any):
        super().__init__(validate=validate.Range(min=0, max=1), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.make_error("invalid", input=value)
        return float(value)


class Tags(fields.List):
    """Up to 10 tags of 1-50 characters; duplicates collapse, order kept."""

    def __init__(self, **kwargs: Any):
        super().__init__(
            fields.String(validate=validate.Length(min=1, max=50)), validate=validate.Length(max=10), **kwargs
        )

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        tags = super()._deserialize(value, attr, data, **kwargs)
        return list(dict.fromkeys(t.strip() for t in tags if t.strip()))


class MoodFields(Schema):
    mood = fields.String(validate=validate.Length(min=1, max=50))
    intensity = UnitFloat()
    valence = UnitFloat(allow_none=True)
    arousal = UnitFloat(allow_none=True)
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))
    tags = Tags()
    is_public = StrictBoolean()
    recorded_at = UtcAwareDateTime()

    @validates("mood")
    def _label(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("Must not be blank.")

    @validates("recorded_at")
    def _in_range(self, value: datetime, **_: Any) -> None:
        if value > datetime.now(UTC) + FUTURE_SKEW:
            raise ValidationError("Must not be in the future.")
        if value < EARLIEST_RECORDED_AT:
            raise ValidationError(f"Must not be before {EARLIEST_RECORDED_AT.date().isoformat()}.")

    @post_load
    def _clean(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if "mood" in data:
            data["mood"] = data["mood"].strip()
        return data


class MoodCreate(MoodFields):
    mood = fields.String(required=True, validate=validate.Length(min=1, max=50))
    intensity = UnitFloat(required=True)


class MoodUpdate(MoodFields):
    """Partial update: any subset of the fields."""

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("Give at least one field to change.", "_schema")


class Mood(Schema):
    id = fields.UUID()
    user_id = fields.UUID()
    mood = fields.String()
    intensity = fields.Float()
    valence = fields.Float(allow_none=True)
    arousal = fields.Float(allow_none=True)
    note = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    is_public = fields.Boolean()
    recorded_at = UtcDateTime()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class Streak(Schema):
    current_streak = fields.Integer()
    longest_streak = fields.Integer()
    last_entry_date = fields.Date(allow_none=True)
    timezone = fields.String()


class Analytics(Schema):
    """The shape of the analytics document (PostgreSQL builds it as JSON; this documents it)."""

    period = fields.String()
    timezone = fields.String()
    count = fields.Integer()
    average_intensity = fields.Float(allow_none=True)
    average_valence = fields.Float(allow_none=True)
    distribution = fields.Dict(keys=fields.String(), values=fields.Integer())
    dominant_mood = fields.String(allow_none=True)
    per_day = fields.List(fields.Dict())
    by_weekday = fields.List(fields.Dict())
    by_hour = fields.List(fields.Dict())
    top_tags = fields.List(fields.Dict())
    valence_trend = fields.Dict()


class StreakMilestone(Schema):
    """A milestone reached, in the owner's data export: its length and the streak's first day."""

    days = fields.Integer()
    streak_start = fields.Date()
    created_at = UtcDateTime()


class ShareableMood(Schema):
    """A mood as the social service sees it for sharing: never the note."""

    id = fields.UUID()
    owner_id = fields.UUID(attribute="user_id")
    is_public = fields.Boolean()
    mood = fields.String()
    intensity = fields.Float()
    tags = fields.List(fields.String())
    recorded_at = UtcDateTime()


class NoArgs(Schema):
    """An endpoint that takes no query parameters."""


class MoodListArgs(PageArgs):
    from_ = UtcAwareDateTime(data_key="from")
    to = UtcAwareDateTime()
    mood = fields.String(validate=validate.Length(min=1, max=50))
    tag = fields.String(validate=validate.Length(min=1, max=50))

    @validates_schema
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        if "from_" in data and "to" in data and data["from_"] > data["to"]:
            raise ValidationError("`from` must not be after `to`.", "from")


class AnalyticsArgs(Schema):
    period = fields.String(load_default="month", validate=validate.OneOf(("week", "month", "year", "all")))


class StreakArgs(Schema):
    """The streak endpoint takes no query parameters."""


class AnalyticsPeriodArgs(Schema):
    """`?period=` of correlations and patterns: the days counted back from now."""

    period = fields.String(load_default="year", validate=validate.OneOf(("month", "quarter", "year", "all")))


class InsightListArgs(PageArgs):
    pass


class Insight(Schema):
    id = fields.UUID()
    type = fields.String()
    title = fields.String()
    description = fields.String()
    relevance = fields.Float()
    data = fields.Dict()
    created_at = UtcDateTime()
    expires_at = UtcDateTime()
    is_read = fields.Boolean()


class HugDay(Schema):
    """A hug the user sent or received, in their data export (never the other person)."""

    hug_id = fields.UUID()
    direction = fields.String()
    occurred_at = UtcDateTime()


# ---- content library ---------------------------------------------------------------------------

CONTENT_TYPES = ("article", "exercise", "audio", "video")
CONTENT_STATES = ("draft", "published", "archived")
INTERACTIONS = ("view", "bookmark", "unbookmark", "complete", "dismiss")


class Labels(fields.List):
    """Up to `most` labels of 1-50 characters, trimmed and lower-cased; duplicates collapse."""

    def __init__(self, most: int, **kwargs: Any):
        super().__init__(
            fields.String(validate=validate.Length(min=1, max=50)), validate=validate.Length(max=most), **kwargs
        )

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        labels = super()._deserialize(value, attr, data, **kwargs)
        return list(dict.fromkeys(label.strip().lower() for label in labels if label.strip()))


class ContentFields(Schema):
    title = fields.String(validate=validate.Length(min=1, max=200))
    type = fields.String(validate=validate.OneOf(CONTENT_TYPES))
    summary = fields.String(validate=validate.Length(max=500))
    body = fields.String(validate=validate.Length(max=20000))
    media_url = fields.Url(allow_none=True, schemes={"http", "https"}, validate=validate.Length(max=2048))
    tags = Labels(20)
    categories = Labels(10)
    related_moods = Labels(30)
    status = fields.String(validate=validate.OneOf(CONTENT_STATES))

    @validates("title")
    def _title(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("Must not be blank.")


class ContentCreate(ContentFields):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.String(required=True, validate=validate.OneOf(CONTENT_TYPES))
    status = fields.String(load_default="draft", validate=validate.OneOf(CONTENT_STATES))


class ContentUpdate(ContentFields):
    """Partial update: any subset of the fields."""

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("Give at least one field to change.", "_schema")


class ContentItem(Schema):
    """An item as clients get it: the body is the Markdown as written, never rendered."""

    id = fields.UUID()
    title = fields.String()
    type = fields.String()
    summary = fields.String()
    body = fields.String()
    media_url = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    categories = fields.List(fields.String())
    related_moods = fields.List(fields.String())
    status = fields.String()
    published_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class Recommendation(ContentItem):
    reason = fields.String()
    score = fields.Float()


class ContentListArgs(PageArgs):
    type = fields.String(validate=validate.OneOf(CONTENT_TYPES))
    category = fields.String(validate=validate.Length(min=1, max=50))
    tag = fields.String(validate=validate.Length(min=1, max=50))
    mood = fields.String(validate=validate.Length(min=1, max=50))

    @validates_schema
    def _not_blank(self, data: dict[str, Any], **_: Any) -> None:
        # A path segment (by-mood) reaches here decoded and unchecked: a NUL is refused too.
        bad = {
            name: ["Must not be blank or hold a NUL character."]
            for name in ("category", "tag", "mood")
            if name in data and (not data[name].strip() or "\x00" in data[name])
        }
        if bad:
            raise ValidationError(bad)


class InteractionCreate(Schema):
    type = fields.String(required=True, validate=validate.OneOf(INTERACTIONS))
    seconds = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=86400))


class Interaction(Schema):
    id = fields.UUID()
    content_id = fields.UUID()
    type = fields.String()
    seconds = fields.Integer(allow_none=True)
    created_at = UtcDateTime()


class Bookmark(Schema):
    """A bookmark in the owner's data export."""

    content_id = fields.UUID()
    created_at = UtcDateTime()


class RecommendationArgs(Schema):
    limit = QueryInteger(load_default=10, validate=validate.Range(min=1, max=50))


class ImportArgs(Schema):
    dry_run = fields.Boolean(load_default=False, truthy={"true", "1"}, falsy={"false", "0"})


# ---- documents built as dicts (these document their shape) -------------------------------------


def _interval() -> fields.List:
    return fields.List(fields.Float(), allow_none=True, metadata={"description": "[low, high], 95 %"})


class SampleSize(Schema):
    with_ = fields.Integer(data_key="with", metadata={"description": "days with the factor"})
    without = fields.Integer(metadata={"description": "days without it"})


class Finding(Schema):
    factor = fields.String(metadata={"description": "tag:<name>, weekday:<name>, part:<name>, hug:received, hug:sent"})
    measure = fields.String()
    mean_with = fields.Float()
    mean_without = fields.Float()
    effect = fields.Float()
    ci95 = _interval()
    standardized_effect = fields.Float()
    correlation = fields.Float()
    p_value = fields.Float()
    q_value = fields.Float(metadata={"description": "Benjamini-Hochberg over the user's factors"})
    significant = fields.Boolean()
    sample_size = fields.Nested(SampleSize)


class InsufficientFactor(Schema):
    factor = fields.String()
    sample_size = fields.Nested(SampleSize)


class Correlations(Schema):
    user_id = fields.UUID()
    period = fields.String()
    timezone = fields.String()
    measure = fields.String()
    method = fields.String()
    fdr = fields.Float()
    min_days = fields.Integer()
    days = fields.Integer()
    factors = fields.List(fields.Nested(Finding))
    insufficient_data = fields.List(fields.Nested(InsufficientFactor))


class CycleSummary(Schema):
    days = fields.Integer()
    mean = fields.Float(allow_none=True)
    ci95 = _interval()


class WeekdaySummary(CycleSummary):
    weekday = fields.String()


class PartSummary(CycleSummary):
    part = fields.String()
    hours = fields.List(fields.Integer())


class Trend(Schema):
    weeks = fields.Integer()
    slope_per_week = fields.Float(allow_none=True)
    ci95 = _interval()
    direction = fields.String(allow_none=True, metadata={"description": "improving, declining or steady"})


class Volatility(Schema):
    sd = fields.Float(allow_none=True)
    mean_daily_change = fields.Float(allow_none=True)


class LowSpell(Schema):
    start = fields.String(metadata={"description": "a date, YYYY-MM-DD"})
    end = fields.String(metadata={"description": "a date, YYYY-MM-DD"})
    days = fields.Integer()
    mean = fields.Float(allow_none=True)


class LowSpells(Schema):
    count = fields.Integer()
    items = fields.List(fields.Nested(LowSpell))


class Patterns(Schema):
    user_id = fields.UUID()
    period = fields.String()
    timezone = fields.String()
    days = fields.Integer()
    entries = fields.Integer()
    median = fields.Float(allow_none=True)
    weekly_cycle = fields.List(fields.Nested(WeekdaySummary))
    daily_cycle = fields.List(fields.Nested(PartSummary))
    best_weekday = fields.String(allow_none=True)
    worst_weekday = fields.String(allow_none=True)
    trend = fields.Nested(Trend)
    volatility = fields.Nested(Volatility)
    low_spells = fields.Nested(LowSpells)


class Rejection(Schema):
    line = fields.Integer()
    reason = fields.String()


class ImportResult(Schema):
    format = fields.String(allow_none=True, metadata={"description": "daylio or generic"})
    dry_run = fields.Boolean()
    rows = fields.Integer()
    created = fields.Integer()
    skipped_duplicates = fields.Integer()
    rejected = fields.Integer()
    rejections = fields.List(fields.Nested(Rejection))


class Category(Schema):
    slug = fields.String()
    name = fields.String()
    children = fields.List(fields.Nested(lambda: Category()))


class CategoryTree(Schema):
    items = fields.List(fields.Nested(Category))
