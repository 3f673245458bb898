"""Argument checks with one message shape, shared by every module.

Messages follow Keras: "Argument `name` must be <expected>. Received: name=<value>".
"""

from __future__ import annotations

import math
import warnings

import numpy as np


class ConfusionWarning(UserWarning):
    """Warnings from keras-confusion: invalid samples, degenerate objectives."""


def arg_error(name: str, value, expected: str) -> ValueError:
    shown = value if isinstance(value, str) and value.startswith("<") else repr(value)
    return ValueError(f"Argument `{name}` must be {expected}. Received: {name}={shown}")


def warn(message: str, stacklevel: int = 3) -> None:
    warnings.warn(message, ConfusionWarning, stacklevel=stacklevel)


def check_num_classes(num_classes, *, allow_none: bool = True):
    if num_classes is None and allow_none:
        return None
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise arg_error("num_classes", num_classes, "an integer >= 2")
    if num_classes < 2:
        raise arg_error("num_classes", num_classes, "an integer >= 2")
    return int(num_classes)


def check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise arg_error(name, value, "True or False")
    return bool(value)


#: The task arguments that losses, metrics and callbacks share, and their one check
#: each (scikit-learn's ``validate_params`` idea): they agree by construction.
TASK_ARGS = {
    "num_classes": check_num_classes,
    "multilabel": lambda value: check_bool("multilabel", value),
    "from_logits": lambda value: check_bool("from_logits", value),
}


def check_task_args(*, binary_num_classes=None, **task) -> dict:
    """The task arguments given (a subset of `TASK_ARGS`), checked and normalised.

    ``binary_num_classes``: what ``num_classes`` must be when ``multilabel=True``
    (``None`` or 2 for losses and callbacks, which default to None; 2 for metrics).
    """
    out = {}
    for name, value in task.items():
        if name not in TASK_ARGS:
            raise TypeError(f"unknown task argument {name!r}")
        out[name] = TASK_ARGS[name](value)
    if out.get("multilabel") and out.get("num_classes") not in (None, 2):
        raise arg_error("num_classes", task["num_classes"],
                        "None or 2 when multilabel=True" if binary_num_classes is None
                        else "2 when multilabel=True")
    return out


def _float(name: str, value, expected: str) -> float:
    """``value`` as a float, or a ValueError naming it: text and booleans are refused
    (``float("2")`` is 2.0: FBeta(beta="2") kept the string in its config)."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise arg_error(name, value, expected)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise arg_error(name, value, expected) from None


def check_probability(name: str, value, *, open_low=False, open_high=False) -> float:
    low, high = ("(" if open_low else "["), (")" if open_high else "]")
    expected = f"a number in the range {low}0, 1{high}"
    v = _float(name, value, expected)
    if not np.isfinite(v) or v < 0 or v > 1 or (open_low and v == 0) or (open_high and v == 1):
        raise arg_error(name, value, expected)
    return v


def check_positive(name: str, value) -> float:
    v = _float(name, value, "a number > 0")
    if not _finite(v) or v <= 0:
        raise arg_error(name, value, "a number > 0")
    return v


def check_non_negative(name: str, value) -> float:
    v = _float(name, value, "a number >= 0")
    if not _finite(v) or v < 0:
        raise arg_error(name, value, "a number >= 0")
    return v


def _finite(v: float) -> bool:
    # Comparisons only: torch.compile traces a Python float as a symbol, and
    # math.isfinite (or np.isfinite) of one broke the graph of a metric's result().
    return -math.inf < v < math.inf


def check_zero_division(value) -> float:
    v = _float("zero_division", value, "a finite number such as 0.0 or 1.0")
    if not _finite(v):
        raise arg_error("zero_division", value, "a finite number such as 0.0 or 1.0")
    return v


def check_threshold(threshold, name: str = "threshold"):
    """A scalar in [0, 1], or a 1-D sequence of them (one per label)."""
    if hasattr(threshold, "shape") and not isinstance(threshold, (np.ndarray, np.generic)):
        return threshold  # a tensor: checked by the caller if concrete
    if isinstance(threshold, (bool, np.bool_, str, bytes)):
        raise arg_error(name, threshold, "a number in [0, 1] or a 1-D sequence of them")
    try:
        if np.asarray(threshold).dtype.kind in "US":  # text, which asarray would read
            raise TypeError
        arr = np.asarray(threshold, dtype="float64")
    except (TypeError, ValueError):
        raise arg_error(name, threshold, "a number in [0, 1] or a 1-D sequence of them") from None
    if arr.ndim > 1 or arr.size == 0:
        raise arg_error(name, threshold, "a number in [0, 1] or a 1-D sequence of them")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr > 1):
        raise arg_error(name, threshold, "in the range [0, 1]")
    return float(arr) if arr.ndim == 0 else arr


def check_cost_matrix(cost_matrix, num_classes: int | None = None, name: str = "cost_matrix"):
    """A finite, non-negative (K, K) matrix, rows true class, columns decision.

    Negative entries (gains) are refused: adding a constant to a row never changes
    which decision is best, so gains can always be written as costs >= 0.
    """
    try:
        cm = np.asarray(cost_matrix, dtype="float64")
    except (TypeError, ValueError):
        raise arg_error(name, cost_matrix, "a square (K, K) array of numbers") from None
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] < 2:
        raise arg_error(
            name,
            f"<array of shape {cm.shape}>",
            "a square (K, K) array with K >= 2 (rows: true class, columns: decision)",
        )
    if num_classes is not None and cm.shape[0] != num_classes:
        raise arg_error(
            name,
            f"<array of shape {cm.shape}>",
            f"of shape ({num_classes}, {num_classes}) to match num_classes={num_classes}",
        )
    if not np.all(np.isfinite(cm)):
        raise arg_error(name, cost_matrix, "finite (no NaN or inf)")
    if np.any(cm < 0):
        raise arg_error(
            name,
            cost_matrix,
            "non-negative (write gains as costs: subtract each row from its maximum, "
            "which leaves the best decisions unchanged)",
        )
    return cm


AVERAGES = ("binary", "macro", "micro", "weighted", None)


def check_average(average):
    if average not in AVERAGES:
        raise arg_error("average", average, 'one of "binary", "macro", "micro", "weighted", None')
    return average


def ceil_to(values, dtype: str) -> np.ndarray:
    """The smallest ``dtype`` value at or above each float64 value: for a score ``x`` of
    that dtype, ``x >= t`` exactly when ``x >= ceil_to(t, dtype)``."""
    v = np.asarray(values, dtype="float64")
    with np.errstate(over="ignore"):
        c = v.astype(dtype)
    below = c.astype("float64") < v
    if np.any(below):
        c = np.where(below, np.nextafter(c, np.asarray(np.inf, dtype=c.dtype)), c)
    return np.asarray(c, dtype=c.dtype)


#: The packages whose arrays are Keras backend tensors (or Keras variables).
_TENSOR_MODULES = ("jax", "jaxlib", "tensorflow", "torch", "keras")


def is_backend_tensor(x) -> bool:
    """Whether ``x`` may be a Keras backend tensor (JAX, TensorFlow, torch or Keras
    itself), by the package of its type: only then is Keras imported for it."""
    return type(x).__module__.partition(".")[0] in _TENSOR_MODULES


def as_numpy(x) -> np.ndarray:
    """``x`` as a NumPy array of the numbers it holds: a Keras backend tensor converted
    (bfloat16 and float16 through float32, which holds their values exactly; torch
    cannot hand bfloat16 to NumPy), a bfloat16 NumPy array (ml_dtypes, kind "V") as
    float64; anything else as ``np.asarray`` makes it."""
    # Only a backend's tensor needs Keras: a pandas Series (or a polars, xarray or dask
    # array) also has a dtype and a shape, and importing Keras for it took 10 s, or
    # failed where the Keras-free core is installed without Keras.
    if is_backend_tensor(x):
        try:
            import keras
        except ImportError:  # not installed: NumPy's conversion below
            keras = None
        if keras is not None and keras.ops.is_tensor(x):
            if keras.backend.standardize_dtype(x.dtype) in ("bfloat16", "float16"):
                x = keras.ops.cast(x, "float32")
            x = keras.ops.convert_to_numpy(x)
    x = np.asarray(x)
    if x.dtype.kind == "V":
        try:
            x = x.astype("float64")
        except (TypeError, ValueError):
            pass  # refused by the caller's check
    return x


#: The sum of the weights of one call may not exceed this: counts, and the formulas'
#: sums of counts (F-beta's ``(1 + beta**2) * TP``, say), then stay finite in float64.
WEIGHT_SUM_MAX = 1e300


def check_sample_weight(sample_weight, n: int, *, some_positive: bool = False
                        ) -> np.ndarray | None:
    """``sample_weight`` as float64 ``(n,)`` (an ``(n, 1)`` column too), finite and
    >= 0, summing to at most `WEIGHT_SUM_MAX`, or None; a `ValueError` naming it
    otherwise. ``some_positive``: at least one weight must be positive (all zero,
    every matrix is zero and nothing can be counted or tuned)."""
    if sample_weight is None:
        return None
    try:
        w = np.asarray(as_numpy(sample_weight), dtype="float64")
    except (TypeError, ValueError):
        raise arg_error("sample_weight", sample_weight, "an array of numbers") from None
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.shape != (n,):
        raise arg_error("sample_weight", f"<array of shape {w.shape}>", f"of shape ({n},)")
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise arg_error("sample_weight", f"<{w[i].item()} at sample {i}>", "finite and >= 0")
    with np.errstate(over="ignore"):
        total = w.sum()
    if not total <= WEIGHT_SUM_MAX:  # beyond, float64 sums of counts overflow to inf
        raise arg_error("sample_weight", f"<weights summing to {total:g}>",
                        f"weights summing to at most {WEIGHT_SUM_MAX:g}; scale every "
                        "weight alike, which changes no decision")
    if some_positive and n and not total > 0:
        raise arg_error("sample_weight", "<weights that are all zero>",
                        "a positive weight on at least one sample")
    return w


def is_text(a: np.ndarray) -> bool:
    """Whether the NumPy array ``a`` holds text (strings, bytes, or objects that are)."""
    return a.dtype.kind in "USV" or (a.dtype.kind == "O" and a.size > 0
                                     and isinstance(a.flat[0], (str, bytes)))


def not_text(a: np.ndarray, name: str,
             expected: str = "an array of numbers (text is not a score)") -> np.ndarray:
    """``a``, a NumPy array, refused when it holds text (`is_text`): NumPy reads
    ``["0.1", "0.9"]`` as numbers, where the command line refuses text in a column."""
    if is_text(a):
        raise arg_error(name, f"<array of text, dtype {a.dtype}>", expected)
    return a


#: What text labels are refused for: NumPy read ``["0", "1"]`` as the classes 0 and 1,
#: which `tune_threshold` and the command line refuse.
TEXT_LABELS = "integer class labels (numbers; text is not a label)"


def _first_bad(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def check_labels_scores(y_true, y_score, num_classes=None):
    """Validate arrays for `report`: ``(labels (N,) intp, scores, K)``.

    Scores of shape ``(N,)`` or ``(N, 1)`` are binary; ``(N, K)`` with ``K >= 2`` are
    multiclass (decision: argmax). Labels are integers ``(N,)`` or one-hot ``(N, K)``.
    """
    num_classes = check_num_classes(num_classes)
    try:
        raw = as_numpy(y_score)
    except (TypeError, ValueError):
        raise arg_error("y_score", "<non-numeric array>", "numeric scores") from None
    not_text(raw, "y_score")
    try:
        s = np.asarray(raw, dtype="float64")
    except (TypeError, ValueError):
        raise arg_error("y_score", "<non-numeric array>", "numeric scores") from None
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim == 1:
        k = 2
        if num_classes not in (None, 2):
            raise arg_error("num_classes", num_classes,
                            f"2 (or None) for scores of shape {s.shape}; pass (N, K) "
                            "scores for a multiclass report")
    elif s.ndim == 2 and s.shape[1] >= 2:
        k = s.shape[1]
        if num_classes not in (None, k):
            raise arg_error("num_classes", num_classes,
                            f"{k} to match y_score of shape {s.shape}")
    else:
        raise arg_error("y_score", f"<array of shape {s.shape}>",
                        "binary scores (N,) or multiclass scores (N, K)")
    n = s.shape[0]
    if n == 0:
        raise arg_error("y_score", "<empty array>", "at least one sample")
    bad = ~np.isfinite(s)
    if bad.any():
        i = _first_bad(bad.reshape(n, -1).any(axis=1))
        raise arg_error("y_score", f"<{s[i].tolist()} at sample {i}>",
                        "finite scores (NaN or inf is not a prediction)")
    try:
        raw = as_numpy(y_true)
    except (TypeError, ValueError):
        raise arg_error("y_true", "<non-numeric array>", "integer class labels") from None
    not_text(raw, "y_true", TEXT_LABELS)
    try:
        t = np.asarray(raw, dtype="float64")
    except (TypeError, ValueError):
        raise arg_error("y_true", "<non-numeric array>", "integer class labels") from None
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim == 2 and s.ndim == 2 and t.shape == s.shape:
        bad = ~(np.all((t == 0) | (t == 1), axis=1) & (t.sum(axis=1) == 1))
        if bad.any():
            i = _first_bad(bad)
            raise arg_error("y_true", f"<{t[i].tolist()} at sample {i}>",
                            "one-hot rows with exactly one 1")
        t = t.argmax(axis=1).astype("float64")
    if t.shape != (n,):
        raise arg_error("y_true", f"<array of shape {t.shape}>",
                        f"labels of shape ({n},) to match y_score")
    bad = ~((t >= 0) & (t < k) & (t == np.round(t)))
    if bad.any():
        i = _first_bad(bad)
        raise arg_error("y_true", f"<{t[i].item()} at sample {i}>",
                        f"integer class labels in {{0, ..., {k - 1}}}")
    return t.astype(np.intp), s, k
