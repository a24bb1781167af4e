"""The statistics behind correlations, patterns and insights, vectorised over factors with numpy
and scipy: no database, no Flask, so the unit tier can check them against scipy on synthetic users."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

# The false discovery rate insights are held to: of the findings reported, at most this share is
# expected to be noise (Benjamini–Hochberg over every factor tested for one user and period).
FDR = 0.1


@dataclass(frozen=True)
class Comparison:
    """Days with vs without each factor (arrays over factors)."""

    n_with: np.ndarray
    n_without: np.ndarray
    mean_with: np.ndarray
    mean_without: np.ndarray
    effect: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    correlation: np.ndarray
    p_value: np.ndarray
    sd: np.ndarray  # pooled standard deviation, for a standardised effect


def welch(values: np.ndarray, present: np.ndarray) -> Comparison:
    """Welch's t-test of `values` (one per day) on days where each factor is present vs absent.

    `present` is a (days, factors) boolean matrix. Per factor: the two means, their difference
    with a 95 % interval on Welch–Satterthwaite degrees of freedom, the two-sided p-value and the
    point-biserial correlation (Pearson's r between the factor and the value). Sums of products
    make it one matrix product for every factor; a factor with fewer than two days on a side
    gets NaN (the caller lists it as insufficient data first).
    """
    y = np.asarray(values, dtype=float)
    x = np.asarray(present, dtype=float)
    n = y.size
    n1 = x.sum(axis=0)
    n2 = n - n1
    s1 = y @ x
    q1 = (y * y) @ x
    total, total_sq = y.sum(), (y * y).sum()
    s2, q2 = total - s1, total_sq - q1
    with np.errstate(divide="ignore", invalid="ignore"):
        m1, m2 = s1 / n1, s2 / n2
        v1 = np.maximum(q1 - n1 * m1 * m1, 0.0) / (n1 - 1)
        v2 = np.maximum(q2 - n2 * m2 * m2, 0.0) / (n2 - 1)
        a, b = v1 / n1, v2 / n2
        se = np.sqrt(a + b)
        df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
        effect = m1 - m2
        t = effect / se
        p = 2.0 * sps.t.sf(np.abs(t), df)
        half = sps.t.ppf(0.975, df) * se
        # No spread at all on either side: nothing to test, and nothing to claim.
        flat = se == 0
        p = np.where(flat, 1.0, p)
        half = np.where(flat, 0.0, half)
        spread = np.sqrt(max(total_sq / n - (total / n) ** 2, 0.0)) if n else 0.0
        r = effect * np.sqrt(n1 * n2) / (n * spread) if spread > 0 else np.zeros_like(effect)
        pooled = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n - 2))
    return Comparison(n1, n2, m1, m2, effect, effect - half, effect + half, r, p, pooled)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values): reject every q <= FDR."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def mean_intervals(groups: list[np.ndarray]) -> list[tuple[float | None, list[float] | None]]:
    """Each group's mean and its 95 % t interval (one scipy call for all); no interval under two
    values, no mean under one."""
    sizes = np.array([g.size for g in groups])
    with np.errstate(invalid="ignore"):
        critical = sps.t.ppf(0.975, np.maximum(sizes - 1, 1))
    out: list[tuple[float | None, list[float] | None]] = []
    for group, size, t in zip(groups, sizes, critical, strict=True):
        if size == 0:
            out.append((None, None))
            continue
        mean = float(group.mean())
        if size < 2:
            out.append((mean, None))
            continue
        half = float(t * group.std(ddof=1) / np.sqrt(size))
        out.append((mean, [mean - half, mean + half]))
    return out


def slope_interval(x: np.ndarray, y: np.ndarray) -> tuple[float, list[float]] | None:
    """Least-squares slope of y on x with its 95 % interval (t on n - 2 degrees of freedom);
    None under three points or when x does not vary."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 3 or np.ptp(x) == 0:
        return None
    fit = sps.linregress(x, y)
    half = float(sps.t.ppf(0.975, x.size - 2) * fit.stderr)
    return float(fit.slope), [float(fit.slope) - half, float(fit.slope) + half]


def runs_below(values: np.ndarray, days: np.ndarray, threshold: float, min_length: int = 3) -> list[tuple[int, int]]:
    """(first, last) indices of runs of consecutive calendar days (`days` as day numbers, sorted)
    with a value below `threshold`, at least `min_length` days long."""
    below = np.asarray(values) < threshold
    day = np.asarray(days)
    if not below.any():
        return []
    follows = np.r_[False, below[:-1] & (np.diff(day) == 1)]  # continues the run of the day before
    at = np.flatnonzero(below)
    starts = ~follows[at]
    firsts, lasts = at[starts], at[np.r_[starts[1:], True]]
    keep = lasts - firsts + 1 >= min_length
    return list(zip(firsts[keep].tolist(), lasts[keep].tolist(), strict=True))
