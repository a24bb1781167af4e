"""What goes with better or worse days: each factor's days against the rest (Welch's t-test),
with Benjamini–Hochberg q-values over every factor tested for the user and period."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.mood.service.days import PARTS, WEEKDAYS, Days, load_days
from services.mood.service.stats import FDR, benjamini_hochberg, welch

# A factor needs at least this many days with it and this many without (MOOD_ANALYTICS_MIN_DAYS).
MIN_DAYS = 5


@dataclass(frozen=True)
class Factor:
    name: str  # "tag:walk", "weekday:monday", "part_of_day:night", "hug:received", "hug:sent"
    present: np.ndarray  # bool per day


def factors(days: Days) -> list[Factor]:
    """Every factor the user's days can be split on."""
    n = days.day.size
    found = []
    for tag, indices in days.tags.items():
        present = np.zeros(n, bool)
        present[indices] = True
        found.append(Factor(f"tag:{tag}", present))
    weekday = days.weekday
    found += [Factor(f"weekday:{name}", weekday == i) for i, name in enumerate(WEEKDAYS)]
    found += [Factor(f"part_of_day:{name}", days.parts[:, i]) for i, name in enumerate(PARTS)]
    found += [Factor(f"hug:{direction}", days.hugs[direction]) for direction in ("received", "sent")]
    return found


def _number(value: float) -> float:
    return round(float(value), 6)


def compare(days: Days, *, min_days: int = MIN_DAYS) -> dict[str, Any]:
    """{factors: findings ordered by q-value, insufficient_data: [...]} for these days."""
    if days.day.size == 0:
        return {"factors": [], "insufficient_data": []}
    found = factors(days)
    present = np.column_stack([f.present for f in found])
    result = welch(days.valence, present)
    enough = (result.n_with >= min_days) & (result.n_without >= min_days)
    q = np.full(len(found), np.nan)
    q[enough] = benjamini_hochberg(result.p_value[enough])
    findings, insufficient = [], []
    for i, factor in enumerate(found):
        sample = {"with": int(result.n_with[i]), "without": int(result.n_without[i])}
        if not enough[i]:
            insufficient.append({"factor": factor.name, "sample_size": sample})
            continue
        findings.append(
            {
                "factor": factor.name,
                "measure": "valence",
                "mean_with": _number(result.mean_with[i]),
                "mean_without": _number(result.mean_without[i]),
                "effect": _number(result.effect[i]),
                "ci95": [_number(result.ci_low[i]), _number(result.ci_high[i])],
                "standardized_effect": _number(result.effect[i] / result.sd[i]) if result.sd[i] > 0 else 0.0,
                "correlation": _number(result.correlation[i]),
                "p_value": _number(result.p_value[i]),
                "q_value": _number(q[i]),
                "significant": bool(q[i] <= FDR),
                "sample_size": sample,
            }
        )
    findings.sort(key=lambda f: (f["q_value"], f["p_value"], f["factor"]))
    return {"factors": findings, "insufficient_data": insufficient}


def correlations(*, user_id: uuid.UUID, timezone: str, period: str, min_days: int = MIN_DAYS) -> dict[str, Any]:
    """The correlations document of the contract for one user and period."""
    days = load_days(user_id=user_id, timezone=timezone, period=period)
    return {
        "user_id": str(user_id),
        "period": period,
        "timezone": timezone,
        "measure": "valence",
        "method": "welch_t",
        "fdr": FDR,
        "min_days": min_days,
        "days": int(days.day.size),
        **compare(days, min_days=min_days),
    }
