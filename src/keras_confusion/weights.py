"""Class weights from label counts, for ``fit(class_weight=...)`` and losses.

Every method returns weights normalised so that the mean weight per *sample* is 1
(``sum_c n_c w_c = n_samples``), as scikit-learn's ``"balanced"``: weighting changes
which errors matter, not the overall scale of the loss (nor, so, the learning rate).
"""

from __future__ import annotations

import numpy as np

from keras_confusion._validation import arg_error, as_numpy, check_num_classes, check_probability

__all__ = ["class_weights"]

_METHODS = ("balanced", "inverse_sqrt", "effective_number")


def _labels(y, num_classes):
    """Integer labels ``(n,)`` from integer labels or one-hot rows."""
    if not isinstance(y, (np.ndarray, list, tuple)):
        y = as_numpy(y)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        if not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
            raise arg_error("y", f"<array of shape {y.shape}>",
                            "integer class labels of shape (n_samples,) or one-hot rows")
        if num_classes is not None and y.shape[1] != num_classes:
            raise arg_error("y", f"<array of shape {y.shape}>",
                            f"one-hot rows of {num_classes} classes (num_classes={num_classes})")
        return y.argmax(axis=1), y.shape[1]
    if y.ndim != 1 or y.size == 0:
        raise arg_error("y", f"<array of shape {y.shape}>",
                        "a non-empty array of class labels of shape (n_samples,)")
    if y.dtype.kind not in "biuf":  # strings, objects: classes must be indices
        raise arg_error("y", f"<labels {np.unique(y)[:5].tolist()}>",
                        "integer class labels >= 0 (map class names to 0..K-1 first)")
    if not np.all(np.isfinite(y.astype("float64"))) or np.any(y != np.round(y)) or np.any(y < 0):
        raise arg_error("y", f"<labels {np.unique(y)[:5].tolist()}>",
                        "integer class labels >= 0")
    if y.max() >= 2.0**63:  # 1e20 became a negative int64 ("'list' argument must...")
        raise arg_error("y", f"<label {y.max().item():g}>",
                        "integer class labels >= 0 (an index, not an ID)")
    y = y.astype("int64")
    k = int(y.max()) + 1 if num_classes is None else num_classes
    if y.max() >= k:
        raise arg_error("y", f"<label {int(y.max())}>",
                        f"labels in 0..{k - 1} (num_classes={num_classes})")
    return y, max(k, 2)


def class_weights(y, method="balanced", *, beta=0.999, num_classes=None):
    """Per-class weights from the class counts of ``y``.

    * ``"balanced"``: ``n_samples / (n_classes * n_c)`` (scikit-learn's
      ``compute_class_weight("balanced")``);
    * ``"inverse_sqrt"``: proportional to ``1 / sqrt(n_c)``, a milder correction;
    * ``"effective_number"``: proportional to ``(1 - beta) / (1 - beta ** n_c)``, the
      inverse of the effective number of samples (Cui et al. 2019, "Class-Balanced
      Loss Based on Effective Number of Samples"); ``beta = 0`` weighs every class
      alike and ``beta -> 1`` tends to ``"balanced"``.

    All three are scaled so that the mean weight per sample is 1 (Cui et al. scale
    theirs to sum to the number of classes instead; only the scale differs).

    Args:
        y: class labels, array-like of shape ``(n_samples,)`` (binary: 0 and 1), or
            one-hot rows ``(n_samples, K)``.
        method: ``"balanced"``, ``"inverse_sqrt"`` or ``"effective_number"``.
            Defaults to `"balanced"`.
        beta: for ``"effective_number"``, in [0, 1). Defaults to `0.999`.
        num_classes: the number of classes ``K``; every class must occur in ``y``.
            Defaults to `None` (the largest label plus one, at least 2).

    Returns:
        A dict ``{class: weight}`` for every class ``0..K-1``, usable as
        ``model.fit(class_weight=...)`` and by `losses.WeightedCrossentropy`.

    Raises:
        ValueError: when a class has no sample (its weight would be infinite).

    Example:

    >>> class_weights([0, 0, 0, 1])
    {0: 0.6666666666666666, 1: 2.0}
    """
    if method not in _METHODS:
        raise arg_error("method", method, '"balanced", "inverse_sqrt" or "effective_number"')
    beta = check_probability("beta", beta, open_high=True)
    num_classes = check_num_classes(num_classes)
    labels, k = _labels(y, num_classes)
    present = np.unique(labels)
    if len(present) < k:  # before counting: an ID column passed as y has huge labels
        missing = int(np.setdiff1d(np.arange(len(present) + 1), present)[0])
        raise arg_error("y", f"<no sample of class {missing}>",
                        f"at least one sample of every class 0..{k - 1}")
    n = np.bincount(labels, minlength=k).astype("float64")
    if np.any(n == 0):
        missing = int(np.flatnonzero(n == 0)[0])
        raise arg_error("y", f"<no sample of class {missing}>",
                        f"at least one sample of every class 0..{k - 1}")
    if method == "balanced":
        w = 1.0 / n
    elif method == "inverse_sqrt":
        w = 1.0 / np.sqrt(n)
    else:
        # -expm1(n log beta) = 1 - beta**n without cancellation when beta is near 1.
        w = (1.0 - beta) / -np.expm1(n * np.log(beta)) if beta > 0 else np.ones(k)
    w = w * n.sum() / np.sum(n * w)
    return {c: float(w[c]) for c in range(k)}
