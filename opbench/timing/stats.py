"""The statistics behind every interval and verdict: medians with distribution-free 95% intervals, paired ratios, and
the two-run comparison.

One place, one method each:
- The independent unit is the pass (timing/casetimer.py): each pass times its rounds on fresh buffers, and a
  sweep runs every case's first pass before any case's second, so a case's passes lie far apart.
  Rounds of one pass share that pass's state (where its buffers landed, what the allocator and the
  host were doing that minute) and are not independent draws. Measured on the 2-core development VM:
  `cpp`'s forward at 2^16 as a ratio to F.gelu, per pass of 5 rounds, ranged over 0.61-0.69,
  0.63-0.74 and 0.61-0.71 in three processes run one after the other (passes of one process differ
  as much as runs do), and two back-to-back runs whose intervals came from their rounds gave 0.65x
  [0.63, 0.66] and 0.62x [0.61, 0.63]: rounds, pooled, make an interval too narrow to survive a
  second run. So a figure is the median of its passes' medians, and its interval comes from those
  (`units`); a measurement of one pass has only its rounds, which stand in as units (the within-run
  interval: it does not cover run-to-run change).
- Median of n units: the interval between the order statistics x_(j) and x_(n+1-j), with the largest
  j for which 1 - 2 P(B <= j - 1) >= 95%, B ~ Binomial(n, 1/2). It assumes only that the units are
  independent draws, not normality. 6 units are the fewest that reach 95% (the range of 6 covers the
  median with 1 - 2^-5 = 96.9%); with fewer the interval is the full range and covers 1 - 2^(1-n).
- A ratio against the baseline comes from the rounds in which both were timed: each round gives
  time(baseline) / time(impl), measured seconds apart, so drift between rounds cancels; each pass's
  median of those is a unit, and the ratio's median and interval are those above. An interval that
  contains 1 is "no clear difference".
- Two runs (`opbench compare`): the change of the median of the units, with a 95% bootstrap interval
  of the ratio of medians (the two unit sets resampled independently, 2000 times, fixed seed), and
  the two-sided Mann-Whitney U test of the units (as Google Benchmark's tools/compare.py does on its
  repetitions), its p-values adjusted by Holm's step-down method over the rows compared: a change is
  significant when its adjusted p < 0.05, so that two runs of identical code show no significant
  change anywhere with 95% probability however many rows they have. Unadjusted, they did not: two
  back-to-back runs of the same code, 25 rows, gave F.gelu +6.7% (p = 0.043) and the clone yardstick
  +8.3% (p = 0.037). The price is power: with n vs n units the exact test cannot go below
  2 / C(2n, n) (0.0022 for 6 passes each), so a comparison of many rows needs more passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
ALPHA = 0.05
MIN_UNITS = 6  # the fewest units whose range covers the median with CONFIDENCE: 1 - 2^-5 = 96.9%
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


def units(passes) -> list[float]:
    """The independent samples of a measurement given per pass (a list of per-round values each): the
    median of each pass; with one pass, its rounds. Non-finite values are dropped first."""
    passes = [finite for finite in ([v for v in p if math.isfinite(v)] for p in passes) if finite]
    if len(passes) == 1:
        return passes[0]
    return [float(np.median(p)) for p in passes]


def interval(passes) -> Interval:
    """Median and 95% interval of a measurement given per pass."""
    return median_interval(units(passes))


def round_ratios(numerators, denominators) -> list[list[float]]:
    """Per pass, numerator / denominator of each round where both are finite and the denominator positive."""
    return [
        [a / b for a, b in zip(num, den) if math.isfinite(a) and math.isfinite(b) and b > 0]
        for num, den in zip(numerators, denominators)
    ]


def paired_ratio(numerators, denominators) -> Interval:
    """Median and interval of numerator / denominator, both given per pass and paired round by round."""
    return interval(round_ratios(numerators, denominators))


@dataclass(frozen=True)
class Change:
    """new vs base: the ratio of medians (above 1: slower) with its interval, and the U test's p-value
    (unadjusted: compare adjusts over its rows, stats.holm)."""

    ratio: Interval
    p_value: float

    @property
    def percent(self) -> float:
        return 100.0 * (self.ratio.median - 1.0)


def holm(p_values) -> list[float]:
    """Holm's step-down adjusted p-values, in the given order: the k-th smallest is multiplied by the
    number of rows not yet passed (m, m - 1, ...), never below the one before it, at most 1."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [math.nan] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def smallest_p(n: int, m: int) -> float:
    """The smallest two-sided p-value change() gives n vs m distinct units: every unit of one above every
    unit of the other (2 / C(n + m, n) where scipy's test is exact, as for 6 vs 6)."""
    from scipy import stats as scipy_stats

    return float(scipy_stats.mannwhitneyu(range(n), range(n, n + m), alternative="two-sided").pvalue)


def ratio_of_medians(base, new, seed: int = 0) -> Interval:
    """median(new) / median(base) of two independent sample sets, with its 95% bootstrap interval."""
    base, new = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    rng = np.random.default_rng(seed)
    resampled = np.median(rng.choice(new, (BOOTSTRAP_RESAMPLES, len(new))), axis=1) / np.median(
        rng.choice(base, (BOOTSTRAP_RESAMPLES, len(base))), axis=1
    )
    low, high = np.quantile(resampled, [ALPHA / 2, 1 - ALPHA / 2])
    return Interval(float(np.median(new) / np.median(base)), float(low), float(high))


def change(base, new, seed: int = 0) -> Change:
    from scipy import stats as scipy_stats  # only here: timing needs no scipy (a GPU machine may lack it)

    p_value = float(scipy_stats.mannwhitneyu(base, new, alternative="two-sided").pvalue)
    return Change(ratio_of_medians(base, new, seed), p_value)
