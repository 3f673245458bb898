"""Metric formulas over confusion matrices of shape ``(..., K, K)``.

Each formula is written once and serves losses (soft counts), metrics (accumulated
counts), threshold search (a ``(T, 2, 2)`` stack) and reports (bootstrap replicas).
Leading axes are kept: ``precision`` of a ``(T, 2, 2)`` stack is ``(T,)``.

A NumPy (or list) input is computed in float64 with NumPy and returns NumPy; a
backend tensor is computed with ``keras.ops`` and returns a tensor, differentiable.

Per-class formulas take ``average``:

* ``"binary"`` (default): class 1 of a ``K = 2`` matrix;
* ``"macro"``: unweighted mean of the one-vs-rest values of each class;
* ``"micro"``: the formula on TP, FP, FN, TN summed over classes;
* ``"weighted"``: mean weighted by support (true count of each class);
* ``None``: one value per class, shape ``(..., K)``.

With ``multilabel=True`` the input is an ``(..., L, 2, 2)`` stack and averaging runs
over the labels, as in scikit-learn's multilabel averages.

Zero division: a ratio whose denominator is 0 takes ``zero_division`` (0.0 by default,
as scikit-learn), never NaN. The denominator is replaced before dividing, so gradients
stay finite as well. A NumPy matrix holding a NaN or infinite count is refused (its
denominator is not 0), as is text.
"""

from __future__ import annotations

import numpy as np

from keras_confusion._validation import (
    arg_error,
    check_average,
    check_bool,
    check_cost_matrix,
    check_non_negative,
    check_positive,
    check_zero_division,
    is_backend_tensor,
    not_text,
)

__all__ = [
    "accuracy",
    "balanced_accuracy",
    "cohen_kappa",
    "expected_cost",
    "f1",
    "fbeta",
    "get",
    "jaccard",
    "mcc",
    "npv",
    "precision",
    "recall",
    "sensitivity",
    "specificity",
    "tversky",
    "youden_j",
]


# ------------------------------------------------------------------------- helpers


def _prepare(cm):
    """(cm as float, array namespace): NumPy float64 offline, keras.ops for tensors.

    NumPy counts are refused when they hold text or a NaN or infinite count: a NaN
    denominator is no zero, and took ``zero_division`` (the precision of a matrix
    with a NaN count read 0.0, or 1.0 with ``zero_division=1.0``). Two reductions,
    no copy: 22 ms for a stack of 10 M matrices, where the exact search that makes
    one takes over a second."""
    if not is_backend_tensor(cm):  # a pandas DataFrame too, without Keras
        raw = np.asarray(cm)
        not_text(raw, "cm", "a confusion matrix of counts (numbers, not text)")
        try:
            cm = raw.astype("float64", copy=False)
        except (TypeError, ValueError):
            raise arg_error("cm", "<non-numeric array>",
                            "a confusion matrix of counts (numbers)") from None
        if cm.size and not (np.isfinite(cm.min()) and np.isfinite(cm.max())):
            at = [int(i) for i in np.argwhere(~np.isfinite(cm))[0]]
            raise arg_error("cm", f"<{cm[tuple(at)]} at index {at}>",
                            "finite counts (a NaN or infinite count is no count)")
        xp = np
    else:
        # Imported here: the core (command line, report, Dask workers) never loads Keras.
        import keras
        from keras import ops as xp

        dtype = keras.backend.standardize_dtype(cm.dtype)
        cm = xp.cast(cm, dtype if dtype == "float64" else "float32")
    if cm.ndim < 2 or cm.shape[-1] != cm.shape[-2]:
        raise arg_error("cm", f"<array of shape {tuple(cm.shape)}>",
                        "a confusion matrix of shape (..., K, K)")
    return cm, xp


# Tensors: a denominator below this counts as 0 (see `_div`).
_TINY_DEN = 2.0 ** -60


def _div(xp, num, den, zero_division):
    """num / den, with ``zero_division`` where den is 0; safe for gradients.

    For tensors, a denominator below 2**-60 (soft counts of a saturated prediction:
    predicted-positive mass ~1e-31 at logits of -70) counts as 0 too: JAX's gradient
    of ``num / den`` goes through ``den ** 2``, which underflows in float32 below
    about 1e-19 and made the gradient NaN. Above the floor, ``den ** 2`` and ``num /
    den ** 2`` stay in float32's normal range. Counts of samples (and weighted counts
    of any sensible weights) are never that small; NumPy counts keep ``den > 0``.
    """
    ok = den > (0.0 if xp is np else _TINY_DEN)
    return xp.where(ok, num / xp.where(ok, den, 1.0), zero_division)


def _binary_stats(cm):
    return cm[..., 1, 1], cm[..., 0, 1], cm[..., 1, 0], cm[..., 0, 0]


def _one_vs_rest(cm, xp):
    """TP, FP, FN, TN of each class, each ``(..., K)``."""
    tp = xp.diagonal(cm, axis1=-2, axis2=-1)
    fp = xp.sum(cm, axis=-2) - tp
    fn = xp.sum(cm, axis=-1) - tp
    tn = xp.expand_dims(xp.sum(cm, axis=(-2, -1)), -1) - tp - fp - fn
    return tp, fp, fn, tn


def _per_class(cm, ratio, average, zero_division, multilabel):
    """Apply ``ratio(xp, tp, fp, fn, tn, z)`` per class, then average."""
    average = check_average(average)
    z = check_zero_division(zero_division)
    cm, xp = _prepare(cm)
    if multilabel:
        if cm.shape[-1] != 2 or cm.ndim < 3:
            raise arg_error("cm", f"<array of shape {tuple(cm.shape)}>",
                            "an (..., L, 2, 2) stack when multilabel=True")
        tp, fp, fn, tn = _binary_stats(cm)
        if average == "binary":
            average = None
    elif average == "binary":
        if cm.shape[-1] != 2:
            raise arg_error(
                "average", average,
                f'"macro", "micro", "weighted" or None for a matrix of K={cm.shape[-1]} '
                'classes ("binary" scores class 1 of a 2-class matrix)')
        return ratio(xp, *_binary_stats(cm), z)
    else:
        tp, fp, fn, tn = _one_vs_rest(cm, xp)
    if average == "micro":
        return ratio(xp, *(xp.sum(s, axis=-1) for s in (tp, fp, fn, tn)), z)
    values = ratio(xp, tp, fp, fn, tn, z)
    if average is None:
        return values
    if average == "macro":
        return xp.mean(values, axis=-1)
    support = tp + fn
    return _div(xp, xp.sum(values * support, axis=-1), xp.sum(support, axis=-1), z)


def _constant(xp, value, like):
    if xp is np:
        return np.asarray(value, dtype="float64")
    return xp.convert_to_tensor(np.asarray(value), dtype=like.dtype)


# --------------------------------------------------------------- per-class formulas


def precision(cm, *, average="binary", zero_division=0.0, multilabel=False):
    """Precision, ``TP / (TP + FP)``: how many predicted positives are right.

    Args:
        cm: confusion matrix ``(..., K, K)``, rows true, columns predicted.
        average: ``"binary"``, ``"macro"``, ``"micro"``, ``"weighted"`` or `None`.
            Defaults to `"binary"`.
        zero_division: value when ``TP + FP == 0``. Defaults to `0.0`.
        multilabel: ``cm`` is an ``(..., L, 2, 2)`` stack, averaged over labels.
            Defaults to `False`.

    Returns:
        ``(...)``, or ``(..., K)`` with ``average=None``.

    Example:

    >>> float(precision(np.array([[5, 1], [2, 3]])))
    0.75
    """
    return _per_class(cm, lambda xp, tp, fp, fn, tn, z: _div(xp, tp, tp + fp, z),
                      average, zero_division, multilabel)


def recall(cm, *, average="binary", zero_division=0.0, multilabel=False):
    """Recall (sensitivity, true positive rate), ``TP / (TP + FN)``.

    Args and returns as `precision`; ``zero_division`` applies when ``TP + FN == 0``.

    Example:

    >>> float(recall(np.array([[5, 1], [2, 3]])))
    0.6
    """
    return _per_class(cm, lambda xp, tp, fp, fn, tn, z: _div(xp, tp, tp + fn, z),
                      average, zero_division, multilabel)


sensitivity = recall


def specificity(cm, *, average="binary", zero_division=0.0, multilabel=False):
    """Specificity (true negative rate), ``TN / (TN + FP)``.

    Args and returns as `precision`; ``zero_division`` applies when ``TN + FP == 0``.

    Example:

    >>> float(specificity(np.array([[5, 1], [2, 3]])))
    0.8333333333333334
    """
    return _per_class(cm, lambda xp, tp, fp, fn, tn, z: _div(xp, tn, tn + fp, z),
                      average, zero_division, multilabel)


def npv(cm, *, average="binary", zero_division=0.0, multilabel=False):
    """Negative predictive value, ``TN / (TN + FN)``.

    Args and returns as `precision`; ``zero_division`` applies when ``TN + FN == 0``.

    Example:

    >>> float(npv(np.array([[6, 1], [2, 3]])))
    0.75
    """
    return _per_class(cm, lambda xp, tp, fp, fn, tn, z: _div(xp, tn, tn + fn, z),
                      average, zero_division, multilabel)


def fbeta(cm, beta=1.0, *, average="binary", zero_division=0.0, multilabel=False):
    """F-beta, ``(1 + b²) TP / ((1 + b²) TP + b² FN + FP)``.

    ``beta > 1`` weighs recall higher, ``beta < 1`` precision. The form without
    precision and recall is scikit-learn's: 0/0 gives ``zero_division``.

    Args:
        beta: positive weight of recall. Defaults to `1.0`.
        Other args and returns as `precision`.

    Example:

    >>> float(fbeta(np.array([[5, 1], [2, 3]]), beta=1.0))
    0.6666666666666666
    """
    b2 = check_positive("beta", beta) ** 2
    return _per_class(
        cm,
        lambda xp, tp, fp, fn, tn, z: _div(xp, (1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp, z),
        average, zero_division, multilabel)


def f1(cm, *, average="binary", zero_division=0.0, multilabel=False):
    """F1 score, the harmonic mean of precision and recall: `fbeta` with beta 1."""
    return fbeta(cm, 1.0, average=average, zero_division=zero_division, multilabel=multilabel)


def jaccard(cm, *, average="binary", zero_division=0.0, multilabel=False):
    """Jaccard index (intersection over union), ``TP / (TP + FP + FN)``.

    Example:

    >>> float(jaccard(np.array([[5, 1], [2, 3]])))
    0.5
    """
    return _per_class(cm, lambda xp, tp, fp, fn, tn, z: _div(xp, tp, tp + fp + fn, z),
                      average, zero_division, multilabel)


def tversky(cm, alpha=0.5, beta=0.5, *, average="binary", zero_division=0.0,
            multilabel=False):
    """Tversky index, ``TP / (TP + alpha FP + beta FN)`` (Salehi et al., 2017).

    Keras 3's ``keras.losses.Tversky`` documents this convention but multiplies
    ``alpha`` with the false negatives: its ``(alpha=a, beta=b)`` is ``(alpha=b,
    beta=a)`` here.

    ``alpha = beta = 0.5`` is F1 (Dice); ``alpha = beta = 1`` is Jaccard; a larger
    ``beta`` penalises missed positives more.

    Args:
        alpha: weight of false positives, >= 0. Defaults to `0.5`.
        beta: weight of false negatives, >= 0. Defaults to `0.5`.
        Other args and returns as `precision`.

    Example:

    >>> float(tversky(np.array([[5, 1], [2, 3]]), alpha=1.0, beta=1.0))
    0.5
    """
    a = check_non_negative("alpha", alpha)
    b = check_non_negative("beta", beta)
    return _per_class(cm, lambda xp, tp, fp, fn, tn, z: _div(xp, tp, tp + a * fp + b * fn, z),
                      average, zero_division, multilabel)


def youden_j(cm, *, average="binary", zero_division=0.0, multilabel=False):
    """Youden's J (informedness), ``sensitivity + specificity - 1``.

    Example:

    >>> round(float(youden_j(np.array([[5, 1], [2, 3]]))), 4)
    0.4333
    """

    def ratio(xp, tp, fp, fn, tn, z):
        return _div(xp, tp, tp + fn, z) + _div(xp, tn, tn + fp, z) - 1.0

    return _per_class(cm, ratio, average, zero_division, multilabel)


# ------------------------------------------------------------ whole-matrix formulas


def accuracy(cm, *, zero_division=0.0):
    """Accuracy, ``trace / total``, per matrix: ``(..., K, K) -> (...)``.

    Example:

    >>> float(accuracy(np.array([[5, 1], [2, 3]])))
    0.7272727272727273
    """
    z = check_zero_division(zero_division)
    cm, xp = _prepare(cm)
    return _div(xp, xp.sum(xp.diagonal(cm, axis1=-2, axis2=-1), axis=-1),
                xp.sum(cm, axis=(-2, -1)), z)


def balanced_accuracy(cm, *, adjusted=False, zero_division=0.0):
    """Balanced accuracy: the mean recall over the classes present.

    As scikit-learn, classes with no true samples are left out of the mean. With
    ``adjusted=True`` chance level is 0 and perfect is 1.

    Args:
        cm: ``(..., K, K)`` counts.
        adjusted: rescale so that chance scores 0. Defaults to `False`.
        zero_division: value when no class is present. Defaults to `0.0`.

    Returns:
        ``(...)``.

    Example:

    >>> float(balanced_accuracy(np.array([[5, 1], [2, 3]])))
    0.7166666666666667
    """
    z = check_zero_division(zero_division)
    adjusted = check_bool("adjusted", adjusted)
    cm, xp = _prepare(cm)
    support = xp.sum(cm, axis=-1)
    present = xp.where(support > 0, _constant(xp, 1.0, cm), _constant(xp, 0.0, cm))
    recalls = _div(xp, xp.diagonal(cm, axis1=-2, axis2=-1), support, 0.0)
    n_present = xp.sum(present, axis=-1)
    score = _div(xp, xp.sum(recalls * present, axis=-1), n_present, z)
    if adjusted:
        chance = _div(xp, 1.0, n_present, 0.0)
        score = _div(xp, score - chance, 1.0 - chance, z)
    return score


def mcc(cm, *, zero_division=0.0):
    """Matthews correlation coefficient; for K > 2 its K-class generalisation.

    Computed on ``cm / total`` so that float32 keeps its precision on large counts:
    ``(trace(c) - t·p) / sqrt((1 - t·t)(1 - p·p))`` with ``t``, ``p`` the true and
    predicted class proportions (Gorodkin's R_K, scikit-learn's ``matthews_corrcoef``).

    Args:
        cm: ``(..., K, K)`` counts.
        zero_division: value when a marginal is constant (the denominator is 0).
            Defaults to `0.0` (scikit-learn returns 0.0 there).

    Returns:
        ``(...)`` in [-1, 1].

    Example:

    >>> round(float(mcc(np.array([[5, 1], [2, 3]]))), 4)
    0.4485
    """
    z = check_zero_division(zero_division)
    cm, xp = _prepare(cm)
    if cm.shape[-1] == 2:
        return _binary_mcc(cm, xp, z)
    total = xp.sum(cm, axis=(-2, -1))
    c = cm / xp.expand_dims(xp.expand_dims(xp.where(total > 0, total, 1.0), -1), -1)
    t, p = xp.sum(c, axis=-1), xp.sum(c, axis=-2)
    cov_tp = xp.sum(xp.diagonal(c, axis1=-2, axis2=-1), axis=-1) - xp.sum(t * p, axis=-1)
    cov_tt = 1.0 - xp.sum(t * t, axis=-1)
    cov_pp = 1.0 - xp.sum(p * p, axis=-1)
    den = cov_tt * cov_pp
    # A marginal is constant when one class holds every sample (one non-zero row or
    # column): then 1 - t.t is 0, but rounded it came out near 2e-16, and the value
    # 2.2e-09 where scikit-learn gives 0. Counted exactly instead.
    varied = (_classes_present(t, xp) > 1) & (_classes_present(p, xp) > 1)
    ok = varied & (den > 0) & (total > 0)
    return xp.where(ok, cov_tp / xp.sqrt(xp.where(ok, den, 1.0)), z)


def _classes_present(marginal, xp):
    """How many classes of a ``(..., K)`` marginal of non-negative counts are non-zero."""
    return xp.sum(xp.where(marginal > 0, 1, 0), axis=-1)


def _binary_mcc(cm, xp, z):
    """The same value for K = 2 from the four cells: elementwise, fast on big stacks."""
    tp, fp, fn, tn = _binary_stats(cm)
    total = tp + fp + fn + tn
    scale = xp.where(total > 0, total, 1.0)
    tp, fp, fn, tn = tp / scale, fp / scale, fn / scale, tn / scale
    den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    ok = (den > 0) & (total > 0)
    return xp.where(ok, (tp * tn - fp * fn) / xp.sqrt(xp.where(ok, den, 1.0)), z)


def cohen_kappa(cm, *, weights=None, zero_division=0.0):
    """Cohen's kappa: agreement between truth and prediction beyond chance.

    Args:
        cm: ``(..., K, K)`` counts.
        weights: `None`, ``"linear"`` or ``"quadratic"`` disagreement weights (as
            scikit-learn's ``cohen_kappa_score``). Defaults to `None`.
        zero_division: value when the expected disagreement is 0. Defaults to `0.0`.

    Returns:
        ``(...)``.

    Example:

    >>> round(float(cohen_kappa(np.array([[5, 1], [2, 3]]))), 4)
    0.4407
    """
    z = check_zero_division(zero_division)
    if weights not in (None, "linear", "quadratic"):
        raise arg_error("weights", weights, 'None, "linear" or "quadratic"')
    cm, xp = _prepare(cm)
    k = cm.shape[-1]
    idx = np.arange(k)
    w = {None: 1.0 - np.eye(k), "linear": np.abs(idx[:, None] - idx[None, :]),
         "quadratic": (idx[:, None] - idx[None, :]) ** 2.0}[weights]
    w = _constant(xp, w, cm)
    total = xp.sum(cm, axis=(-2, -1))
    c = cm / xp.expand_dims(xp.expand_dims(xp.where(total > 0, total, 1.0), -1), -1)
    expected = xp.expand_dims(xp.sum(c, axis=-1), -1) * xp.expand_dims(xp.sum(c, axis=-2), -2)
    observed_dis = xp.sum(w * c, axis=(-2, -1))
    expected_dis = xp.sum(w * expected, axis=(-2, -1))
    ok = (expected_dis > 0) & (total > 0)
    return xp.where(ok, 1.0 - observed_dis / xp.where(ok, expected_dis, 1.0), z)


def expected_cost(cm, cost_matrix, *, zero_division=0.0):
    """Expected cost per sample, ``sum(cm * cost_matrix) / sum(cm)``. Lower is better.

    Args:
        cm: ``(..., K, K)`` counts.
        cost_matrix: ``(K, K)`` non-negative costs, rows the true class, columns the
            decision; e.g. ``[[0, 1], [10, 0]]`` makes a missed positive ten times as
            costly as a false alarm.
        zero_division: value for an empty matrix. Defaults to `0.0`.

    Returns:
        ``(...)``.

    Example:

    >>> float(expected_cost(np.array([[5, 1], [2, 3]]), [[0, 1], [10, 0]]))
    1.9090909090909092
    """
    z = check_zero_division(zero_division)
    cm, xp = _prepare(cm)
    cost = _constant(xp, check_cost_matrix(cost_matrix, cm.shape[-1]), cm)
    return _div(xp, xp.sum(cm * cost, axis=(-2, -1)), xp.sum(cm, axis=(-2, -1)), z)


expected_cost.greater_is_better = False


# ------------------------------------------------------------------------- lookup

BY_NAME = {
    "accuracy": accuracy,
    "balanced_accuracy": balanced_accuracy,
    "cohen_kappa": cohen_kappa,
    "expected_cost": expected_cost,
    "f1": f1,
    "fbeta": fbeta,
    "jaccard": jaccard,
    "mcc": mcc,
    "npv": npv,
    "precision": precision,
    "recall": recall,
    "sensitivity": sensitivity,
    "specificity": specificity,
    "tversky": tversky,
    "youden_j": youden_j,
}

#: Formulas that average per-class values and so take ``average`` and ``multilabel``.
PER_CLASS = frozenset(
    ["precision", "recall", "sensitivity", "specificity", "npv", "fbeta", "f1", "jaccard",
     "tversky", "youden_j"])


def get(identifier):
    """A formula by name (``"f1"``, ``"mcc"``, ...), or a callable passed through.

    Raises:
        ValueError: for an unknown name.
    """
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in BY_NAME:
        return BY_NAME[identifier]
    raise arg_error("formula", identifier,
                    f"a callable or one of {', '.join(repr(n) for n in sorted(BY_NAME))}")


def name_of(formula) -> str:
    """The registered name of a formula, or the callable's ``__name__``."""
    for name, fn in BY_NAME.items():
        if fn is formula:
            return name
    return getattr(formula, "__name__", type(formula).__name__)


def check_kwargs(formula, kwargs, *, given_by=(), owner="the call"):
    """Raise a ValueError naming the first of ``kwargs`` that ``formula`` does not take.

    ``given_by`` names arguments the caller passes itself (not the user's to give).
    A formula with ``**kwargs`` (or whose signature cannot be read) takes anything.
    """
    import inspect

    try:
        params = inspect.signature(formula).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [n for n in list(params)[1:] if n not in given_by]
    for key, value in kwargs.items():
        if key not in known:
            raise arg_error(key, value,
                            f"not given: it is neither an argument of {owner} nor of "
                            f"formula {name_of(formula)!r} (which takes "
                            f"{', '.join(known) or 'none'})")


def greater_is_better(formula) -> bool:
    """Whether larger values are better (False for costs such as `expected_cost`)."""
    return getattr(formula, "greater_is_better", True)
