"""The statistics of a pre-registered paired comparison of two models over seeds.

A pre-registered plan (``experiments/tuned_comparison/PLAN.md``) fixes, before any run,
how a learning rate is chosen and how the paired differences over seeds are tested.
This module computes those rules and nothing else (no files, no training):

* :func:`choose_rate` — the rate with the lowest mean loss over the tuning seeds on a
  doubling grid of rates, ties going to the smaller rate, and whether the grid still
  needs a rate further out; :func:`rate_label` writes a rate as ``"1.6e-2"``.
* :func:`t_test` — the one-sample t-test of paired differences against 0, with its interval.
* :func:`holm` — Holm's step-down over several endpoints, with each one's interval level.
* :func:`tost` — two one-sided tests for equivalence to 0 within a margin.
* :func:`endpoint_status` and :func:`decision` — the plan's words for what the
  intervals and the equivalence tests say.
* :func:`welch` and :func:`welch_interaction` — unpaired (Welch) sensitivity checks.
* :func:`power_min_detectable` — the smallest mean a two-sided t-test detects with a given power.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from cubit_lite.results import _numbers, t_interval
from cubit_lite.validation import in_range, positive

__all__ = [
    "choose_rate",
    "decision",
    "endpoint_status",
    "holm",
    "power_min_detectable",
    "rate_label",
    "t_test",
    "tost",
    "welch",
    "welch_interaction",
]

RATE_TOLERANCE = 1e-9
"""Relative tolerance within which two rates are the same rate (or one is twice the other)."""


def _probability(value, what: str, *, open_low: bool = True, high: float = 1.0) -> float:
    """``value`` as a float in ``(0, high)`` (``[0, high]`` with ``open_low=False``), else a ValueError."""
    return in_range(what, value, 0, high, low_open=open_low, high_open=open_low)


def rate_label(rate: float) -> str:
    """A learning rate written short: ``1e-3``, ``2e-3``, ``1.6e-2``, ``5e-4``, ``2.5e-4``.

    The mantissa (12 significant digits) loses its trailing zeros; the exponent loses its
    ``+`` and leading zeros. ``float(rate_label(x)) == x`` for every rate of a doubling grid
    started at a short decimal such as ``1e-3``.

    Raises:
        ValueError: ``rate`` is not a finite positive number.
    """
    rate = positive("a learning rate", rate)
    mantissa, exponent = f"{rate:.11e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _mean_loss(losses) -> float:
    """The mean of ``losses``, or +inf when one of them is None (a failed run) or not finite."""
    if isinstance(losses, (str, bytes)) or not isinstance(losses, Sequence) or not losses:
        raise ValueError(f"each rate needs a non-empty list of losses (one per seed); got {losses!r}")
    values = []
    for loss in losses:
        if loss is None:
            return math.inf
        if isinstance(loss, bool) or not isinstance(loss, (int, float)):
            raise ValueError(f"a loss must be a number or None (a failed run); got {loss!r}")
        if not math.isfinite(loss):
            return math.inf
        values.append(float(loss))
    return math.fsum(values) / len(values)


def choose_rate(losses_by_rate: Mapping[float, Sequence[float | None]], *, tie: float = 0.003) -> dict:
    """PLAN.md's rule for one arm at one length: the peak rate with the lowest mean final loss.

    For each rate, the mean of its losses over the tuning seeds; a loss that is None (the
    run failed) or not finite makes that rate's mean +inf. The rates whose mean is within
    ``tie`` of the lowest mean (up to a rounding error of 1e-12) go to the smallest of them.
    The rates must form a doubling grid (each twice the one below); if the chosen rate is
    the smallest or the largest, the grid must be extended by the next rate out (half the
    smallest, or twice the largest) and the rule applied again.

    Args:
        losses_by_rate: ``{rate: [loss of each tuning seed]}``, at least two rates.
        tie: the tie band (nats per character).

    Returns:
        ``{"rates": {label: {"lr", "mean", "losses"}}, "lowest_mean", "tie", "chosen",
        "chosen_lr", "at_edge", "next_rate", "next_lr"}``: rates in increasing order keyed
        by :func:`rate_label`; ``chosen`` the chosen label and ``chosen_lr`` its value;
        ``at_edge`` ``"low"``, ``"high"`` or None; ``next_rate``/``next_lr`` the rate to run
        next (label and value) when at an edge, else None. Means are +inf and losses None
        where a run failed.

    Raises:
        ValueError: fewer than two rates, a rate that is not finite and positive, rates
            that are not a doubling grid, a rate without losses, a negative ``tie``, or
            every rate's mean +inf.
    """
    if not isinstance(losses_by_rate, Mapping) or len(losses_by_rate) < 2:
        raise ValueError("choose_rate needs a dict {rate: [losses]} with at least two rates (a grid to bracket in)")
    tie = in_range("tie", tie, 0)
    labels = {rate: rate_label(rate) for rate in losses_by_rate}  # validates each rate
    rates = sorted(losses_by_rate)
    for low, high in zip(rates[:-1], rates[1:], strict=True):
        if not math.isclose(high, 2 * low, rel_tol=RATE_TOLERANCE):
            raise ValueError(f"the rates must be a doubling grid (each twice the one below); "
                             f"{labels[low]} is followed by {labels[high]}")
    means = {rate: _mean_loss(losses_by_rate[rate]) for rate in rates}
    lowest = min(means.values())
    if math.isinf(lowest):
        raise ValueError(f"every rate failed or diverged ({', '.join(labels[r] for r in rates)}): no rate to choose")
    chosen = next(rate for rate in rates if means[rate] - lowest <= tie + 1e-12)
    at_edge = "low" if chosen == rates[0] else "high" if chosen == rates[-1] else None
    next_lr = rates[0] / 2 if at_edge == "low" else rates[-1] * 2 if at_edge == "high" else None
    table = {
        labels[rate]: {
            "lr": float(rate),
            "mean": means[rate],
            "losses": [None if loss is None or not math.isfinite(loss) else float(loss)
                       for loss in losses_by_rate[rate]],
        }
        for rate in rates
    }
    return {
        "rates": table,
        "lowest_mean": lowest,
        "tie": float(tie),
        "chosen": labels[chosen],
        "chosen_lr": float(chosen),
        "at_edge": at_edge,
        "next_rate": None if next_lr is None else rate_label(next_lr),
        "next_lr": next_lr,
    }


def _two_sided_p(t: float, df: float) -> float:
    from scipy import stats

    if math.isnan(t):  # every value 0: no evidence against 0
        return 1.0
    return float(2 * stats.t.sf(abs(t), df))


def t_test(values, level: float = 0.95) -> dict:
    """The two-sided one-sample t-test of paired differences against 0, with its ``level`` t-interval.

    Returns:
        what :func:`cubit_lite.results.t_interval` returns (``mean``, ``low``, ``high``, ``se``,
        ``t``, ``df``) and ``p`` (two-sided; 1 when every value is 0), ``n``, ``sd``,
        ``level`` and ``values`` (as a list).

    Raises:
        ValueError: fewer than two numbers, non-finite numbers, or ``level`` not in (0, 1).
    """
    interval = t_interval(values, level)
    array = _numbers(values, minimum=2)
    return {**interval, "p": _two_sided_p(interval["t"], interval["df"]), "n": len(array),
            "sd": float(array.std(ddof=1)), "level": float(level), "values": array.tolist()}


def holm(pvalues: Mapping[str, float], alpha: float = 0.05) -> dict[str, dict]:
    """Holm's step-down procedure over several endpoints at family-wise error ``alpha``.

    The p-values are ranked from the smallest (rank 1) to the largest (rank ``m``, ties in
    the order given). The endpoint of rank ``k`` is tested at ``alpha / (m − k + 1)`` and
    rejected if its p is at most that and every endpoint ranked before it was rejected.
    Its adjusted interval has level ``1 − alpha / (m − k + 1)`` (with two endpoints at
    α = 0.05: 97.5% for the smaller p, 95% for the other).

    Returns:
        ``{name: {"p", "rank", "alpha_step", "level", "rejected"}}`` in the order given.

    Raises:
        ValueError: no p-values, a p-value outside [0, 1], or ``alpha`` not in (0, 1).
    """
    if not isinstance(pvalues, Mapping) or not pvalues:
        raise ValueError("holm needs a non-empty dict {endpoint: p-value}")
    alpha = _probability(alpha, "alpha")
    checked = {name: _probability(p, f"the p-value of {name!r}", open_low=False) for name, p in pvalues.items()}
    m = len(checked)
    result: dict[str, dict] = {}
    still_rejecting = True
    for rank, name in enumerate(sorted(checked, key=checked.__getitem__), start=1):
        alpha_step = alpha / (m - rank + 1)
        still_rejecting = still_rejecting and checked[name] <= alpha_step
        result[name] = {"p": checked[name], "rank": rank, "alpha_step": alpha_step, "level": 1 - alpha_step,
                        "rejected": still_rejecting}
    return {name: result[name] for name in checked}


def tost(values, margin: float, alpha: float = 0.05) -> dict:
    """Two one-sided t-tests (TOST) that the mean of paired ``values`` lies within ``±margin`` of 0.

    ``p_lower`` tests H0: mean ≤ −margin against mean > −margin; ``p_upper`` tests
    H0: mean ≥ +margin against mean < +margin; ``p`` is the larger. Equivalence at level
    ``alpha`` holds when the ``1 − 2·alpha`` t-interval (90% at α = 0.05) lies inside
    ``(−margin, +margin)``, the same as ``p < alpha``.

    Returns:
        ``{"mean", "low", "high", "level", "se", "df", "margin", "alpha", "p_lower",
        "p_upper", "p", "equivalent", "smallest_margin"}``, ``smallest_margin`` being
        ``max(|low|, |high|)`` of that interval: the smallest margin the data would accept.

    Raises:
        ValueError: fewer than two finite numbers, a margin that is not finite and
            positive, or ``alpha`` not in (0, 0.5).
    """
    from scipy import stats

    margin = positive("margin", margin)
    alpha = _probability(alpha, "alpha", high=0.5)
    interval = t_interval(values, 1 - 2 * alpha)
    mean, se, df = interval["mean"], interval["se"], interval["df"]
    if se > 0:
        p_lower = float(stats.t.sf((mean + margin) / se, df))
        p_upper = float(stats.t.cdf((mean - margin) / se, df))
    else:  # every value equal: each test is certain
        p_lower, p_upper = float(mean <= -margin), float(mean >= margin)
    return {"mean": mean, "low": interval["low"], "high": interval["high"], "level": 1 - 2 * alpha, "se": se,
            "df": df, "margin": float(margin), "alpha": alpha, "p_lower": p_lower, "p_upper": p_upper,
            "p": max(p_lower, p_upper), "equivalent": -margin < interval["low"] and interval["high"] < margin,
            "smallest_margin": max(abs(interval["low"]), abs(interval["high"]))}


def _welch_combination(groups: Sequence, signs: Sequence[int], level: float) -> dict:
    """``Σ sign_i · mean(group_i)`` with its Welch standard error, Satterthwaite df, p and interval."""
    from scipy import stats

    arrays = [_numbers(group, f"group {i + 1}", minimum=2) for i, group in enumerate(groups)]
    estimate = math.fsum(sign * float(a.mean()) for sign, a in zip(signs, arrays, strict=True))
    parts = [float(a.var(ddof=1)) / len(a) for a in arrays]
    variance = math.fsum(parts)
    if variance == 0:
        raise ValueError("every group has zero spread: the Welch test is undefined")
    se = math.sqrt(variance)
    df = variance**2 / math.fsum(part**2 / (len(a) - 1) for part, a in zip(parts, arrays, strict=True))
    t = estimate / se
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return {"estimate": estimate, "se": se, "df": df, "t": t, "p": _two_sided_p(t, df), "level": level,
            "low": estimate - half, "high": estimate + half, "n": [len(a) for a in arrays]}


def welch(a, b, level: float = 0.95) -> dict:
    """Welch's unpaired t-test of ``mean(a) − mean(b)`` (unequal variances), with its ``level`` interval.

    The statistic and p-value are ``scipy.stats.ttest_ind(a, b, equal_var=False)``'s; the
    degrees of freedom are Welch–Satterthwaite's,
    ``(v_a/n_a + v_b/n_b)² / ((v_a/n_a)²/(n_a − 1) + (v_b/n_b)²/(n_b − 1))``.

    Returns:
        ``{"estimate", "se", "df", "t", "p", "level", "low", "high", "n"}``.

    Raises:
        ValueError: a group with fewer than two finite numbers, both groups without
            spread, or ``level`` not in (0, 1).
    """
    from scipy import stats

    level = _probability(level, "level")
    result = _welch_combination([a, b], [1, -1], level)
    test = stats.ttest_ind(_numbers(a, "a"), _numbers(b, "b"), equal_var=False)
    return {**result, "t": float(test.statistic), "p": float(test.pvalue)}


def welch_interaction(c4096, t4096, c256, t256, level: float = 0.95) -> dict:
    """The difference of differences ``(mean c4096 − mean t4096) − (mean c256 − mean t256)``, unpaired.

    The four groups are treated as independent samples: the standard error is
    ``sqrt(Σ v_i / n_i)`` (sample variances ``v_i``), the degrees of freedom are
    Satterthwaite's ``(Σ v_i/n_i)² / Σ (v_i/n_i)²/(n_i − 1)``, the p-value is the two-sided
    t's and the interval is ``estimate ± t_{(1+level)/2, df} · se``. With two groups
    without spread it is :func:`welch` of the other two, shifted by their means.

    Returns:
        ``{"estimate", "se", "df", "t", "p", "level", "low", "high", "n"}``.

    Raises:
        ValueError: a group with fewer than two finite numbers, no spread in any group,
            or ``level`` not in (0, 1).
    """
    level = _probability(level, "level")
    return _welch_combination([c4096, t4096, c256, t256], [1, -1, -1, 1], level)


def power_min_detectable(sd: float, n: int, alpha: float, power: float = 0.8) -> float:
    """The smallest true mean a two-sided one-sample t-test at ``alpha`` detects with ``power``.

    ``(t_{1−α/2, n−1} + t_{power, n−1}) · sd / √n`` for ``n`` paired values of standard
    deviation ``sd`` (the usual approximation to the noncentral t).

    Raises:
        ValueError: ``sd`` negative or not finite, ``n`` not an integer >= 2, or ``alpha``
            or ``power`` not in (0, 1).
    """
    from scipy import stats

    sd = in_range("sd", sd, 0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2; got {n!r}")
    alpha, power = _probability(alpha, "alpha"), _probability(power, "power")
    return float((stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)) * sd / math.sqrt(n))


def endpoint_status(adjusted: Mapping, equivalence: Mapping) -> str:
    """PLAN.md's words for one endpoint.

    ``"below 0"`` or ``"above 0"`` when its adjusted interval (``low``, ``high``) excludes 0
    on that side; otherwise ``"equivalent to 0 within the margin"`` when its :func:`tost`
    result says ``equivalent``, else ``"inconclusive"``.
    """
    if adjusted["high"] < 0:
        return "below 0"
    if adjusted["low"] > 0:
        return "above 0"
    return "equivalent to 0 within the margin" if equivalence["equivalent"] else "inconclusive"


def decision(adjusted: Mapping[str, Mapping]) -> str:
    """PLAN.md's decision from the endpoints' adjusted intervals (each with ``low`` and ``high``).

    ``"supported"`` if every interval lies below 0; ``"contradicted"`` if any lies above 0;
    otherwise ``"equivalence tested"`` (each endpoint then gets :func:`endpoint_status`).

    Raises:
        ValueError: no endpoints.
    """
    if not adjusted:
        raise ValueError("decision needs at least one endpoint's adjusted interval")
    if all(interval["high"] < 0 for interval in adjusted.values()):
        return "supported"
    if any(interval["low"] > 0 for interval in adjusted.values()):
        return "contradicted"
    return "equivalence tested"
