"""The analytics statistics on synthetic users: Welch's test against scipy, the false discovery
rate over users with no effect at all, and the power to find planted effects of a stated size."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from services.mood.service.correlations import compare
from services.mood.service.days import Days
from services.mood.service.patterns import describe
from services.mood.service.stats import FDR, benjamini_hochberg, runs_below, welch

DAYS = 180  # half a year of daily check-ins
PLANTED_DAYS = 30  # the planted tag is used on 30 of them


def synthetic(rng: np.random.Generator, *, tag=0.0, monday=0.0, hug=0.0, tags=10) -> Days:
    """A user's days: valence skewed toward the upper half (Beta(5, 3), sd 0.16), `tags` tags used
    at random (10-40 % of days) with no effect, a tag "walk" on 30 days raising valence by `tag`,
    Mondays lowered by `monday`, and days with a received hug (20 %) raised by `hug`."""
    day = np.arange(9000, 9000 + DAYS)
    walk = np.zeros(DAYS, bool)
    walk[rng.choice(DAYS, PLANTED_DAYS, replace=False)] = True
    received = rng.random(DAYS) < 0.2
    valence = rng.beta(5, 3, DAYS) + tag * walk - monday * (day % 7 == 0) + hug * received
    used = {f"t{i}": np.flatnonzero(rng.random(DAYS) < rng.uniform(0.1, 0.4)) for i in range(tags)}
    parts = rng.random((DAYS, 4)) < 0.4
    return Days(
        day=day,
        valence=valence,
        entries=DAYS,
        parts=parts,
        part_valence=np.where(parts, valence[:, None], np.nan),
        tags={**used, "walk": np.flatnonzero(walk)},
        hugs={"received": received, "sent": rng.random(DAYS) < 0.15},
    )


def reported(days: Days) -> set[str]:
    return {f["factor"] for f in compare(days)["factors"] if f["significant"]}


# ---- against scipy ----------------------------------------------------------------------------


def test_welch_matches_scipy_on_the_same_data():
    rng = np.random.default_rng(11)
    values = rng.beta(2, 6, 60)  # strongly skewed
    present = rng.random((60, 8)) < np.linspace(0.1, 0.6, 8)
    ours = welch(values, present)
    for j in range(present.shape[1]):
        a, b = values[present[:, j]], values[~present[:, j]]
        reference = sps.ttest_ind(a, b, equal_var=False)
        assert ours.p_value[j] == pytest.approx(reference.pvalue, rel=1e-9)
        interval = reference.confidence_interval(0.95)
        assert [ours.ci_low[j], ours.ci_high[j]] == pytest.approx([interval.low, interval.high], rel=1e-9)
        assert ours.effect[j] == pytest.approx(a.mean() - b.mean())
        assert ours.correlation[j] == pytest.approx(sps.pointbiserialr(present[:, j], values).statistic, rel=1e-9)


def test_benjamini_hochberg_matches_scipy():
    p = np.random.default_rng(5).random(40) ** 3
    assert benjamini_hochberg(p) == pytest.approx(sps.false_discovery_control(p, method="bh"))
    assert benjamini_hochberg(np.array([])).size == 0


def test_no_spread_gives_no_finding():
    result = welch(np.full(12, 0.5), np.arange(12)[:, None] < 6)
    assert result.p_value[0] == 1.0 and result.ci_low[0] == result.ci_high[0] == 0.0


def test_runs_below_need_consecutive_calendar_days():
    values = np.array([0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1])
    days = np.array([0, 1, 2, 3, 4, 5, 7, 8, 9])  # a gap between 5 and 7
    assert runs_below(values, days, 0.5) == [(0, 2), (6, 8)]


def test_patterns_find_the_worst_weekday_and_a_low_spell():
    days = synthetic(np.random.default_rng(2), monday=0.3)
    figures = describe(days)
    assert figures["worst_weekday"] == "monday"
    monday = figures["weekly_cycle"][0]
    assert monday["days"] in (25, 26) and monday["ci95"][0] < monday["mean"] < monday["ci95"][1]
    assert figures["trend"]["direction"] == "steady"  # nothing planted over time
    assert figures["low_spells"]["count"] == len(figures["low_spells"]["items"]) > 0


# ---- false discoveries and power --------------------------------------------------------------

NULL_USERS = 1000


def test_users_with_no_effect_get_false_findings_at_most_at_the_fdr():
    """Every finding for a user with no planted effect is false, so the false discovery rate is
    the share of such users with any finding. Over 1,000 users (23 factors each) it must not exceed
    FDR beyond sampling error (one-sided binomial test at 1 %)."""
    rng = np.random.default_rng(20261207)
    with_any = sum(bool(reported(synthetic(rng))) for _ in range(NULL_USERS))
    share = with_any / NULL_USERS
    assert sps.binomtest(with_any, NULL_USERS, FDR, alternative="greater").pvalue > 0.01, share
    assert share <= FDR + 0.02


@pytest.mark.parametrize(
    ("planted", "factor"),
    [
        ({"tag": 0.15}, "tag:walk"),  # +0.15 (0.9 sd) on 30 of 180 days
        ({"monday": 0.15}, "weekday:monday"),  # -0.15 on ~26 Mondays
        ({"hug": 0.14}, "hug:received"),  # +0.14 (0.85 sd) on ~36 days with a hug
    ],
)
def test_planted_effects_are_found_in_at_least_80_percent_of_users(planted, factor):
    rng = np.random.default_rng(42)
    users = 200
    found, proportions = 0, []
    for _ in range(users):
        seen = reported(synthetic(rng, **planted))
        found += factor in seen
        # A Monday dip truly lifts every other weekday against the rest (Mondays are in "the rest"),
        # so for it only the other families are null.
        truly = {f for f in seen if f == factor or (factor.startswith("weekday:") and f.startswith("weekday:"))}
        proportions.append(len(seen - truly) / max(len(seen), 1))  # the false discovery proportion
    assert found / users >= 0.8, found / users
    # Their mean estimates the false discovery rate, which BH holds to FDR x 22/23 here (one factor
    # is real): the estimate must not exceed FDR beyond twice its standard error.
    rate, error = np.mean(proportions), np.std(proportions) / np.sqrt(users)
    assert rate - 2 * error <= FDR and rate <= FDR + 0.03, (rate, error)
