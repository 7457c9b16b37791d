"""The statistics behind every interval and verdict: medians with distribution-free 95% intervals, paired ratios, and the two-run comparison.

One place, one method each:
- Median of n samples (per-round times, per-round paired ratios): the interval between the order
  statistics x_(j) and x_(n+1-j), with the largest j for which 1 - 2 P(B <= j - 1) >= 95%, B ~
  Binomial(n, 1/2). It assumes only that rounds are independent draws, not normality; with fewer
  than 6 samples no j reaches 95% and the interval is the full range (its coverage is then printed
  lower: 1 - 2^(1-n)).
- A ratio against the baseline comes from the rounds in which both were timed: each round gives
  time(baseline) / time(impl), measured seconds apart, so drift between rounds cancels; its median and
  interval are those above. An interval that contains 1 is "no clear difference".
- Two runs (`opbench compare`): the change of the median, with a 95% bootstrap interval of the ratio
  of medians (the two sample sets resampled independently, 2000 times, fixed seed), and the two-sided
  Mann-Whitney U test of the samples (as Google Benchmark's tools/compare.py does): a change is
  significant at p < 0.05.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    median: float
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.median:.2f}x [{self.low:.2f}, {self.high:.2f}]"


NAN_INTERVAL = Interval(math.nan, math.nan, math.nan)


def binomial_half_cdf(k: int, n: int) -> float:
    """P(B <= k) for B ~ Binomial(n, 1/2), exactly."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def order_statistic_rank(n: int) -> int:
    """The 1-based rank j of the lower bound x_(j) of the 95% median interval of n samples (1 if none reaches 95%)."""
    j = 1
    while j + 1 <= n // 2 and 2 * binomial_half_cdf(j, n) <= 1 - CONFIDENCE:
        j += 1
    return j


def median_interval(samples) -> Interval:
    values = np.sort(np.asarray([s for s in samples if math.isfinite(s)], dtype=float))
    if len(values) == 0:
        return NAN_INTERVAL
    j = order_statistic_rank(len(values))
    return Interval(float(np.median(values)), float(values[j - 1]), float(values[len(values) - j]))


def paired_ratio(numerators, denominators) -> Interval:
    """Median and interval of the per-round ratios numerator / denominator (rounds where both are finite)."""
    pairs = [(a, b) for a, b in zip(numerators, denominators) if math.isfinite(a) and math.isfinite(b) and b > 0]
    return median_interval([a / b for a, b in pairs])


@dataclass(frozen=True)
class Change:
    """new vs base: the ratio of medians (above 1: slower) with its interval, and the U test's p-value."""

    ratio: Interval
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    @property
    def percent(self) -> float:
        return 100.0 * (self.ratio.median - 1.0)


def ratio_of_medians(base, new, seed: int = 0) -> Interval:
    """median(new) / median(base) of two independent sample sets, with its 95% bootstrap interval."""
    base, new = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    rng = np.random.default_rng(seed)
    resampled = (np.median(rng.choice(new, (BOOTSTRAP_RESAMPLES, len(new))), axis=1)
                 / np.median(rng.choice(base, (BOOTSTRAP_RESAMPLES, len(base))), axis=1))
    low, high = np.quantile(resampled, [ALPHA / 2, 1 - ALPHA / 2])
    return Interval(float(np.median(new) / np.median(base)), float(low), float(high))


def change(base, new, seed: int = 0) -> Change:
    from scipy import stats as scipy_stats  # only here: timing needs no scipy (a GPU machine may lack it)

    p_value = float(scipy_stats.mannwhitneyu(base, new, alternative="two-sided").pvalue)
    return Change(ratio_of_medians(base, new, seed), p_value)
