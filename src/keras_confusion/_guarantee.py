"""Guaranteed thresholds: floors that hold on new data with a stated confidence.

A threshold tuned so that the validation recall is just above 0.9 has a population
recall below 0.9 about half of the time. This module chooses, from a ``(T, 2, 2)``
stack of confusion matrices (one per candidate threshold), the candidates at which a
floor such as ``recall >= 0.9`` holds on the population the data were drawn from with
probability at least ``confidence``: exact (binomial), finite-sample and
distribution-free, for i.i.d. calibration data not used for anything else.

* Rates (``recall`` = ``sensitivity``, ``specificity``) are monotone in the threshold.
  A candidate is kept when the one-sided exact binomial test of ``rate < floor`` on its
  class's samples rejects at level ``1 - confidence`` (its Clopper-Pearson lower bound
  is ``>= floor``). The kept candidates are all on one side of the first one that fails
  (recall: the thresholds at or below the k-th lowest positive score, where k is the
  largest rank with ``P(Binomial(n, 1 - floor) >= k) >= confidence``), so the floor
  holds at all of them at once with probability >= ``confidence``: this is the
  order-statistic (Neyman-Pearson "umbrella") rule, the most powerful distribution-free
  choice, and the objective may pick any of them without spending confidence.
* Predictive values (``precision``, ``npv``) are not monotone in the threshold. Each
  candidate gets the exact binomial p-value of ``value < floor`` conditional on its
  number of predicted positives (negatives): given that count, its true positives are
  Binomial(count, precision). The candidates are tested by fixed-sequence testing in an
  order set before seeing the labels (learn-then-test, Angelopoulos et al. 2021):
  precision from the highest threshold down, npv from the lowest up; a candidate is
  kept while every tested one before it rejected, and the sequence stops at the first
  that does not. Candidates whose count could not reject even with no error
  (``floor ** count > 1 - confidence``) are skipped, not tested: the skip depends on
  the scores only, and since the counts grow along the order it only moves the start
  of the sequence past the top (bottom) scores, where the estimate is too noisy to
  certify anything. Fixed sequence was chosen over Bonferroni or Holm because those
  divide the level by the number of candidates (hundreds or thousands of distinct
  scores), which leaves almost no power at the sizes users calibrate on; the fixed
  sequence spends the whole level on candidates in the order in which they are likely
  to hold. When the candidates are the data's own distinct scores (``grid="data"``),
  the sample at the candidate itself is left out of its test (a positive one if there
  is one), because given the candidate's value the samples strictly beyond it, not
  that one, are i.i.d. draws of the population beyond the threshold. The test is then
  exact for continuous scores at a fixed rank; with the rank-indexed candidates of the
  data the sequence is exact when the population precision does not fall as the
  threshold rises (calibrated scores, or any monotone likelihood ratio), and
  `tests/test_guarantee.py` checks validity by simulation. On a grid fixed before
  seeing the data (``grid="fixed"``, the binned thresholds ``k / B``) nothing is left
  out and the procedure is learn-then-test exactly. The price of the fixed sequence:
  where the highest scores are not the purest (a cluster of confident negatives at the
  top), its first test fails and the floor is refused, even if it holds lower down.

`cross_fit` gives honest figures when one data set must serve to choose a threshold
and to report its quality: tune on k - 1 folds, count the held-out fold at that
fold's threshold, and sum the held-out matrices.

This module imports NumPy only (SciPy's special functions inside the functions that
need them); it never imports Keras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from keras_confusion._counting import count_matrix, decide
from keras_confusion._validation import arg_error

__all__ = [
    "GUARANTEED",
    "CrossFit",
    "Guarantee",
    "binomial_p_value",
    "calibration_size",
    "check_confidence",
    "check_guarantee",
    "check_name",
    "clopper_pearson_lower",
    "cross_fit",
    "guarantee",
    "min_class_count",
]

# name -> (kind, what the count is of): the formulas a guarantee can be given for.
_KINDS = {
    "recall": ("rate", "positives"),
    "sensitivity": ("rate", "positives"),
    "specificity": ("rate", "negatives"),
    "precision": ("predictive", "predicted positives"),
    "npv": ("predictive", "predicted negatives"),
}
GUARANTEED = tuple(_KINDS)


def check_confidence(confidence) -> float:
    """``confidence`` as a float in the open interval (0, 1); a ValueError otherwise."""
    expected = "a number in the open interval (0, 1), such as 0.95"
    if isinstance(confidence, (bool, np.bool_, str, bytes)):
        raise arg_error("confidence", confidence, expected)
    try:
        c = float(confidence)
    except (TypeError, ValueError):
        raise arg_error("confidence", confidence, expected) from None
    if not (0.0 < c < 1.0):  # NaN fails too
        raise arg_error("confidence", confidence, expected)
    return c


def check_name(name, argument: str = "constraint") -> str:
    """The formula name of a guaranteed constraint; a ValueError naming ``argument``."""
    if not (isinstance(name, str) and name in _KINDS):
        raise arg_error(argument, name,
                        "a floor on one of " + ", ".join(f'"{n}"' for n in GUARANTEED)
                        + " to be guaranteed with a confidence")
    return name


def check_guarantee(guarantee):
    """A stated guarantee as plain numbers, ``{"constraint": [name, floor], "confidence":
    c, "bound": b}`` (``b`` a list with one bound per label, and then ``"family"``:
    ``"label"`` or ``"all"``, what the confidence is for, where it was recorded), or
    None; a ValueError naming ``guarantee`` otherwise. `ThresholdResult.guarantee`
    gives this form."""
    if guarantee is None:
        return None
    try:
        name, floor = guarantee["constraint"]
        bound = guarantee["bound"]
        per_label = isinstance(bound, (list, tuple, np.ndarray))
        checked = {"constraint": [check_name(name), float(floor)],
                   "confidence": check_confidence(guarantee["confidence"]),
                   "bound": [float(b) for b in bound] if per_label else float(bound)}
        # Recorded since multilabel guarantees state it; one saved before has none.
        family = guarantee.get("family")
        if family is not None:
            if not per_label or family not in ("label", "all"):
                raise ValueError(family)
            checked["family"] = family
        return checked
    except (TypeError, ValueError, KeyError, AttributeError):
        raise arg_error("guarantee", guarantee,
                        'None or a dict {"constraint": [name, floor], "confidence": c, '
                        '"bound": b} (and, with one bound per label, "family": "label" '
                        'or "all"), as tune_threshold(..., confidence=c).guarantee '
                        "gives it") from None


def floor_expected(floor: float) -> str:
    """What a floor outside (0, 1) under a confidence is refused for, in its words."""
    expected = "a floor in the open interval (0, 1) to be guaranteed with a confidence"
    if floor <= 0:
        return expected + " (a floor of 0 or less holds at every threshold: drop the confidence)"
    if floor >= 1:
        return expected + " (a floor of 1 can never be certified from samples)"
    return expected


def _check_floor(floor, argument: str = "constraint") -> float:
    try:
        f = float(floor)
    except (TypeError, ValueError):
        f = float("nan")
    if not (0.0 < f < 1.0):
        raise arg_error(argument, floor, floor_expected(f))
    return f


# ----------------------------------------------------------------- exact binomial


def binomial_p_value(successes, trials, floor):
    """Exact one-sided p-value of ``rate < floor``: ``P(Binomial(trials, floor) >= successes)``.

    Args:
        successes: counts, array-like of integers.
        trials: counts (broadcast with ``successes``), ``>= successes``.
        floor: the rate under the null hypothesis, in (0, 1).

    Returns:
        float64 array; 1.0 where ``successes == 0`` (no evidence).

    Example:

    >>> round(float(binomial_p_value(29, 29, 0.9)), 6)  # 0.9 ** 29
    0.047101
    """
    from scipy.special import bdtrc

    x = np.asarray(successes, dtype="int64")
    n = np.asarray(trials, dtype="int64")
    x, n = np.broadcast_arrays(x, n)
    out = np.ones(x.shape)
    pos = x > 0
    # bdtrc(k, n, p) = P(X > k) = P(X >= k + 1), on integer counts.
    out[pos] = bdtrc(x[pos] - 1, n[pos], floor)
    return out if out.ndim else float(out)


def clopper_pearson_lower(successes, trials, confidence):
    """Exact one-sided lower confidence bound of a binomial rate (Clopper-Pearson).

    The ``1 - confidence`` quantile of Beta(successes, trials - successes + 1): the
    smallest rate that ``successes`` out of ``trials`` would not reject at level
    ``1 - confidence``. ``bound >= floor`` exactly when
    ``binomial_p_value(successes, trials, floor) <= 1 - confidence``.

    Args:
        successes: counts, array-like of integers.
        trials: counts (broadcast with ``successes``), ``>= successes``.
        confidence: in (0, 1).

    Returns:
        float64 array in [0, 1]; 0 where ``successes == 0``.

    Example:

    >>> round(float(clopper_pearson_lower(29, 29, 0.95)), 4)  # 0.05 ** (1 / 29)
    0.9019
    """
    from scipy.special import betaincinv

    x = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    x, n = np.broadcast_arrays(x, n)
    out = np.zeros(x.shape)
    pos = x > 0
    out[pos] = betaincinv(x[pos], n[pos] - x[pos] + 1, 1.0 - confidence)
    return out if out.ndim else float(out)


def min_class_count(floor: float, confidence: float) -> int:
    """The fewest samples that can certify ``rate >= floor``: the smallest n with
    ``floor ** n <= 1 - confidence`` (all n counted as successes).

    Example:

    >>> min_class_count(0.9, 0.95)
    29
    """
    alpha = 1.0 - confidence
    n = max(1, math.ceil(math.log(alpha) / math.log(floor)))
    # Float rounding of the logarithms: settle on the exact smallest n.
    while binomial_p_value(n, n, floor) > alpha:
        n += 1
    while n > 1 and binomial_p_value(n - 1, n - 1, floor) <= alpha:
        n -= 1
    return n


# ------------------------------------------------------------- guaranteed candidates


@dataclass(frozen=True)
class Guarantee:
    """Which candidate thresholds carry the guarantee, and each one's lower bound.

    Attributes:
        name: the guaranteed formula (``"recall"``, ``"precision"``, ...).
        floor: the floor guaranteed.
        confidence: the probability that the floor holds on the population.
        feasible: ``(T,)`` bool, the candidates at which it is guaranteed (all of them
            at once: any of them may be chosen by an objective).
        bound: ``(T,)`` the Clopper-Pearson lower confidence bound of the formula at
            each candidate, at ``confidence``, on the samples its test counts; it is
            ``>= floor`` wherever ``feasible``. It is the bound for that candidate
            taken on its own; the guarantee for a candidate chosen among the feasible
            ones is the floor.
        p_values: ``(T,)`` the exact binomial p-value of ``value < floor`` at each
            candidate.
        method: ``"order statistic"`` (rates) or ``"fixed sequence"`` (predictive
            values).
    """

    name: str
    floor: float
    confidence: float
    feasible: np.ndarray
    bound: np.ndarray
    p_values: np.ndarray
    method: str


def _tested_counts(kind_name, cms, grid):
    """(successes, trials) of each candidate's test, from the ``(T, 2, 2)`` stack."""
    tn, fp, fn, tp = (cms[:, 0, 0], cms[:, 0, 1], cms[:, 1, 0], cms[:, 1, 1])
    if kind_name in ("recall", "sensitivity"):
        return tp, tp + fn
    if kind_name == "specificity":
        return tn, tn + fp
    if kind_name == "npv":
        return tn, tn + fn  # the samples below the candidate: never the one at it
    # precision: the samples at or above the candidate, less the one at it on a data grid.
    x, n = tp, tp + fp
    if grid == "data":
        at = np.concatenate([tp[:-1] - tp[1:], [0]])  # positives exactly at each candidate
        n = np.maximum(n - 1, 0)
        x = np.where(at > 0, x - 1, x)
        x = np.minimum(x, n)
    return x, n


def guarantee(name, floor, confidence, confusion_matrices, *, grid="data") -> Guarantee:
    """The candidate thresholds at which ``name >= floor`` holds with ``confidence``.

    Args:
        name: ``"recall"`` (or ``"sensitivity"``), ``"specificity"``, ``"precision"``
            or ``"npv"``.
        floor: the floor, in (0, 1).
        confidence: the probability that the floor holds on the population, in (0, 1).
        confusion_matrices: ``(T, 2, 2)`` integer counts at candidate thresholds in
            ascending order (positive when ``score >= threshold``), unweighted.
        grid: ``"data"`` when the candidates are the data's own distinct scores, then
            ``inf`` (as `tune_threshold` builds them); ``"fixed"`` when they were set
            before seeing the data (a binned grid). Defaults to `"data"`.

    Returns:
        A `Guarantee`.

    Raises:
        ValueError: naming ``constraint`` when no candidate can carry the guarantee;
            the message names the smallest number of samples that would allow it.

    Example:

    >>> cms = np.array([[[0, 2], [0, 30]], [[2, 0], [1, 29]], [[2, 0], [30, 0]]])
    >>> g = guarantee("recall", 0.9, 0.95, cms)
    >>> g.feasible.tolist()  # 30 positives allow no miss: 0.9 ** 30 <= 0.05 < 0.9 ** 29
    [True, False, False]
    """
    name = check_name(name)
    floor = _check_floor(floor)
    confidence = check_confidence(confidence)
    if grid not in ("data", "fixed"):
        raise arg_error("grid", grid, '"data" or "fixed"')
    cms = np.asarray(confusion_matrices)
    if cms.ndim != 3 or cms.shape[1:] != (2, 2) or len(cms) == 0:
        raise arg_error("confusion_matrices", f"<array of shape {cms.shape}>",
                        "a (T, 2, 2) stack with T >= 1")
    if not np.array_equal(cms, np.round(cms)) or np.any(cms < 0):
        raise arg_error("confusion_matrices", "<non-integer or negative counts>",
                        "unweighted counts (the exact tests count samples; sample "
                        "weights are not supported with a confidence)")
    alpha = 1.0 - confidence
    kind, of = _KINDS[name]
    x, n = _tested_counts(name, cms.astype("float64"), grid)
    p = binomial_p_value(x, n, floor)
    bound = clopper_pearson_lower(x, n, confidence)
    needed = min_class_count(floor, confidence)
    if kind == "rate":
        feasible = p <= alpha
        method = "order statistic"
        if not feasible.any():
            raise arg_error(
                "constraint", (name, floor),
                f"attainable with confidence={confidence:g}: {name} >= {floor:g} needs at "
                f"least {needed} {of} ({floor:g}**{needed} <= {alpha:.6g}); the data hold "
                f"{int(n.max())}")
    else:
        # Fixed-sequence testing: precision from the top threshold down, npv upwards.
        order = np.arange(len(cms))[::-1] if name == "precision" else np.arange(len(cms))
        testable = binomial_p_value(n[order], n[order], floor) <= alpha
        fails = testable & (p[order] > alpha)
        stop = int(np.argmax(fails)) if fails.any() else len(order)
        kept = testable & ~fails
        kept[stop:] = False
        feasible = np.zeros(len(cms), dtype=bool)
        feasible[order[kept]] = True
        method = "fixed sequence"
        if not feasible.any():
            i = int(np.argmax(bound))
            best = (f"the best lower bound on this data is {bound[i]:.4g} ({int(x[i])} of "
                    f"{int(n[i])})")
            if fails.any() and bound[i] >= floor:
                # The first testable threshold failed, which ends the sequence: a bound
                # above the floor further on cannot be used (it said only "the best
                # lower bound is 0.8914" under a floor of 0.8).
                j = int(order[stop])
                way = "from the highest threshold down" if name == "precision" else \
                    "from the lowest threshold up"
                raise arg_error(
                    "constraint", (name, floor),
                    f"attainable with confidence={confidence:g}: the thresholds are tested "
                    f"one by one {way}, and the first with enough {of} to test fails "
                    f"({int(x[j])} of {int(n[j])}, lower bound {bound[j]:.4g} < "
                    f"{floor:g}), which ends the test (going on past a failure would void "
                    f"the guarantee); {best}")
            extra = " besides the one at the threshold" if name == "precision" and \
                grid == "data" else ""
            raise arg_error(
                "constraint", (name, floor),
                f"attainable with confidence={confidence:g}: {name} >= {floor:g} needs at "
                f"least {needed} {of}{extra} at a threshold with no error among them "
                f"(more when some are wrong); {best}")
    return Guarantee(name=name, floor=floor, confidence=confidence, feasible=feasible,
                     bound=bound, p_values=p, method=method)


# --------------------------------------------------------------- calibration size


def calibration_size(name, floor, confidence=0.95, *, margin=0.0) -> int:
    """How many samples a guarantee needs: the fewest that can certify the floor.

    For ``recall`` (``sensitivity``) the count is of positives, for ``specificity`` of
    negatives, for ``precision`` of samples predicted positive at the threshold, for
    ``npv`` of samples predicted negative. With ``margin=0`` it is the smallest n
    for which any threshold can carry the guarantee (every counted sample right:
    ``floor ** n <= 1 - confidence``); with fewer, `tune_threshold` refuses. With
    ``margin > 0`` it is the smallest n at which an observed value of
    ``floor + margin`` certifies the floor (the exact binomial tail, interpolated
    between integer counts), that is, how many samples keep the price of the
    guarantee at about ``margin`` above the floor.

    Args:
        name: ``"recall"``, ``"sensitivity"``, ``"specificity"``, ``"precision"`` or
            ``"npv"``.
        floor: the floor, in (0, 1).
        confidence: the probability that the floor holds on new data, in (0, 1).
            Defaults to `0.95`.
        margin: how far above the floor the observed value may have to be, in
            ``[0, 1 - floor)``. Defaults to `0.0`.

    Returns:
        The number of samples, an int. For ``precision`` it counts the sample at the
        threshold too (the test leaves it out).

    Example:

    >>> calibration_size("recall", 0.9, confidence=0.95)
    29
    >>> calibration_size("recall", 0.9, confidence=0.95, margin=0.05)
    107
    """
    name = check_name(name, "name")
    floor = _check_floor(floor, "floor")
    confidence = check_confidence(confidence)
    try:
        m = float(margin)
    except (TypeError, ValueError):
        m = float("nan")
    if not (0.0 <= m < 1.0 - floor):
        raise arg_error("margin", margin, f"a number in [0, {1.0 - floor:g}) (floor + margin "
                        "below 1)")
    extra = 1 if name == "precision" else 0
    if m == 0.0:
        return min_class_count(floor, confidence) + extra
    from scipy.special import betainc

    alpha = 1.0 - confidence
    rate = floor + m

    def certified(n):
        x = rate * n  # P(Binomial(n, floor) >= x), interpolated: I_floor(x, n - x + 1)
        return x >= 1 and betainc(x, n - x + 1, floor) <= alpha

    hi = max(min_class_count(floor, confidence), 1)
    while not certified(hi):
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:  # the tail falls as n grows at a fixed observed rate
        mid = (lo + hi) // 2
        if certified(mid):
            hi = mid
        else:
            lo = mid
    return hi + extra


# ------------------------------------------------------------------- cross-fitting


@dataclass(frozen=True)
class CrossFit:
    """Held-out counts of a tuning procedure, fold by fold.

    Attributes:
        confusion_matrix: ``(2, 2)`` the held-out matrices summed: each sample counted
            once, at the threshold tuned without it.
        thresholds: ``(folds,)`` the threshold tuned on the other folds, per fold.
        fold_matrices: ``(folds, 2, 2)`` each fold's held-out counts.
        folds: the number of folds.
        fold: ``(n_samples,)`` the fold each sample was held out in.
    """

    confusion_matrix: np.ndarray
    thresholds: np.ndarray
    fold_matrices: np.ndarray
    folds: int
    fold: np.ndarray


def _stratified_folds(y, folds, seed):
    """Fold index of each sample: each class shuffled and dealt round the folds."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype="int64")
    start = 0
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        # Continue dealing where the previous class stopped: fold sizes differ by <= 1.
        fold[idx] = (start + np.arange(len(idx))) % folds
        start = (start + len(idx)) % folds
    return fold


def cross_fit(y_true, y_score, tune, *, folds=5, seed=0, sample_weight=None) -> CrossFit:
    """Cross-fitted counts: tune on k - 1 folds, count the held-out fold at that threshold.

    The in-sample figure at a threshold tuned on the same data is optimistic: the
    threshold was chosen where this sample happens to look best. Summing each fold's
    held-out counts at the threshold tuned on the other folds estimates what the
    tuning procedure achieves on new data (slightly pessimistically: each threshold
    was tuned on ``(k - 1) / k`` of the data).

    Args:
        y_true: binary labels in {0, 1}, shape ``(n_samples,)``.
        y_score: scores, shape ``(n_samples,)``; positive when ``score >= threshold``.
        tune: a function ``tune(y_true, y_score) -> threshold`` (e.g.
            ``lambda y, s: tune_threshold(y, s, "f1").threshold``).
        folds: the number of folds, >= 2. Defaults to `5`.
        seed: seed of the stratified split. Defaults to `0`.
        sample_weight: optional weights ``(n_samples,)``; ``tune`` is then called as
            ``tune(y_true, y_score, sample_weight)`` and the held-out matrices hold
            sums of weights. Defaults to `None`.

    Returns:
        A `CrossFit`.

    Example:

    >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> s = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
    >>> cross_fit(y, s, lambda y, s: 0.5, folds=2).confusion_matrix.tolist()
    [[3, 1], [1, 3]]
    """
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype="float64")
    if s.ndim != 1 or y.shape != s.shape:
        raise arg_error("y_true", f"<array of shape {y.shape}>",
                        f"binary labels of the same 1-D shape as y_score {s.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise arg_error("y_true", "<labels outside {0, 1}>", "binary labels in {0, 1}")
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2 \
            or folds > len(y):
        raise arg_error("folds", folds, f"an integer in [2, {len(y)}] (at most one fold per "
                        "sample)")
    if not callable(tune):
        raise arg_error("tune", tune, "a function tune(y_true, y_score) -> threshold")
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype="float64")
        if w.shape != s.shape or not np.all(np.isfinite(w) & (w >= 0)):
            raise arg_error("sample_weight", f"<array of shape {w.shape}>",
                            f"finite weights >= 0 of shape {s.shape}")
    y = y.astype("int64")
    fold = _stratified_folds(y, int(folds), seed)
    thresholds = np.empty(folds)
    mats = np.zeros((folds, 2, 2), dtype="int64" if w is None else "float64")
    for f in range(folds):
        held = fold == f
        t = float(tune(y[~held], s[~held]) if w is None else tune(y[~held], s[~held],
                                                                  w[~held]))
        thresholds[f] = t
        pred = decide(s[held], t).astype("int64")
        mats[f] = count_matrix(y[held], pred, 2, None if w is None else w[held])
    return CrossFit(confusion_matrix=mats.sum(axis=0), thresholds=thresholds,
                    fold_matrices=mats, folds=int(folds), fold=fold)
