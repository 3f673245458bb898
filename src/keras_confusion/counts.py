"""Confusion counts: hard (decisions), soft (expected, differentiable), per threshold.

A confusion matrix is a ``(..., K, K)`` tensor: rows are the true class, columns the
predicted class (scikit-learn's orientation). Binary is ``K = 2`` with class 1
positive: ``[[TN, FP], [FN, TP]]``, so ``tn, fp, fn, tp = ravel(cm)``.

The task is always explicit, never guessed from the values of a batch:

* binary (the default): ``y_true`` in {0, 1} and ``y_pred`` the score of class 1, of
  the same shape (a trailing axis of size 1 on either is ignored);
* multiclass (``num_classes=K`` and ``y_pred`` of shape ``(..., K)``): ``y_true``
  integer labels ``(...)`` or one-hot ``(..., K)``;
* multilabel (``multilabel=True``): ``y_true`` and ``y_pred`` of shape ``(..., L)``,
  giving an ``(L, 2, 2)`` stack.

Any further leading axes (the pixels of a segmentation map) are samples.

Decision rule: a sample is positive when ``score >= threshold`` (scikit-learn's rule;
Keras' own metrics use ``>``). With ``from_logits=True`` the rule is
``sigmoid(logit) >= threshold``, evaluated exactly as ``logit >= log(t / (1 - t))``.
The rule is exact for scores of any dtype, as scikit-learn applies it to the same
values: a float32 (or float16, bfloat16) score is compared with the smallest value of
its dtype at or above the threshold, never with the threshold rounded to nearest
(float32(0.7) is below 0.7, so it is negative at 0.7). Float64 NumPy scores are
decided in float64 even where the backend computes in float32 (JAX without x64), so
that 0.49999999999 stays negative at 0.5 on every backend. Multiclass decisions are
the argmax (the first maximum on ties, as NumPy).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from keras_confusion import _backend, _register_deferred
from keras_confusion._counting import cell_codes, decide, tail_sums
from keras_confusion._validation import arg_error, ceil_to, check_num_classes, check_threshold

__all__ = ["confusion_matrix", "soft_confusion_matrix", "threshold_confusion_matrices"]


# --------------------------------------------------------------------------- format


@dataclass
class Formatted:
    """Inputs flattened to samples: what every counting path works on."""

    task: str  # "binary" | "multiclass" | "multilabel"
    num_classes: int  # K
    num_labels: int  # L (1 unless multilabel)
    y_true: object  # (N, L) for binary/multilabel; (N,) sparse or (N, K) one-hot
    y_pred: object  # (N, L) for binary/multilabel; (N, K) multiclass
    sample_weight: object  # (N, L) or (N,) float, or None
    one_hot: bool = False
    # The float64 NumPy scores, shaped as y_pred, where the backend rounded them to
    # float32 (JAX without x64): decisions are then made on these (`_exact_scores`).
    exact: object = None
    # The float64 NumPy labels, shaped as y_true, where rounding changed some (those
    # are NaN in y_true): what an eager check reports.
    exact_true: object = None


_FLOATS = ("float16", "bfloat16", "float32", "float64")


def _shape(x) -> tuple:
    return tuple(None if d is None else int(d) for d in x.shape)


def _compatible(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(
        x is None or y is None or x == y for x, y in zip(a, b, strict=True))


def drop_trailing_one(shape: tuple) -> tuple:
    # Only a trailing axis: the single axis of a (1,) batch is the batch itself.
    return shape[:-1] if len(shape) >= 2 and shape[-1] == 1 else shape


_INT32 = np.iinfo(np.int32)


def _to_tensor(x, dtype=None, name=None):
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if isinstance(x, np.ndarray) and x.dtype.kind in "USV":
        # Each backend failed its own way ("Invalid dtype: str32", "Cast string to
        # double is not supported", a TypeError of JAX's), naming no argument.
        raise arg_error(name, f"<array of text, dtype {x.dtype}>", "an array of numbers")
    # Only int64, uint64 and uint32 hold values beyond int32 (one pass over the labels).
    if isinstance(x, np.ndarray) and x.size and (
            (x.dtype.kind == "i" and x.dtype.itemsize > 4)
            or (x.dtype.kind == "u" and x.dtype.itemsize >= 4)) \
            and (x.max() > _INT32.max or x.min() < _INT32.min):
        # JAX (without x64) would wrap int64 values into int32 (2**32 to 0, a valid
        # label). As floats, such values stay out of range and are caught as invalid.
        x = x.astype("float64")
    return ops.convert_to_tensor(x, dtype=dtype)


def float_dtype(x) -> str:
    """Count in at least float32: half-precision counts overflow at 65,504."""
    dtype = keras.backend.standardize_dtype(x.dtype)
    return dtype if dtype in ("float32", "float64") else "float32"


def format_inputs(y_true, y_pred, num_classes, multilabel, sample_weight, mask=None, *,
            hard=True) -> Formatted:
    """``mask`` (a Keras mask, True where a sample counts) leaves samples out: their
    weight becomes 0 and their labels and scores valid zeros, so that they are neither
    counted nor tallied as invalid, and give a loss no gradient. ``hard``: labels are
    classes (decisions are counted), not the label distributions soft counts accept."""
    num_classes = check_num_classes(num_classes)
    raw_true = np.asarray(y_true) if isinstance(y_true, (list, tuple)) else y_true
    y_true = _to_tensor(raw_true, name="y_true")
    exact_true = _exact_scores(raw_true, y_true) if hard else None
    if exact_true is not None:
        # Rounded to float32 (JAX without x64), the label 1 + 1e-10 would be class 1. A
        # label that the rounding changes is no class: NaN, counted invalid (and
        # named by its own value when checked eagerly).
        changed = exact_true != exact_true.astype("float32")
        if changed.any():
            y_true = _to_tensor(np.where(changed, np.nan, exact_true))
        else:
            exact_true = None
    if keras.backend.standardize_dtype(y_true.dtype) == "bool":
        y_true = ops.cast(y_true, "int32")  # TensorFlow compares no bool with 0 and 1
    # A Python float or NumPy scalar too: as a tensor it would be floatx (float32).
    raw = np.asarray(y_pred) if isinstance(y_pred, (list, tuple, float, int, np.generic)) \
        else y_pred
    y_pred = _to_tensor(raw, name="y_pred")
    exact = _exact_scores(raw, y_pred)
    if keras.backend.standardize_dtype(y_pred.dtype) not in _FLOATS:
        y_pred = ops.cast(y_pred, "float32")
    ts, ps = _shape(y_true), _shape(y_pred)

    if multilabel:
        if num_classes not in (None, 2):
            raise arg_error("num_classes", num_classes, "None or 2 when multilabel=True")
        if len(ps) < 1 or ps[-1] is None:
            raise arg_error(
                "y_pred", f"<tensor of shape {ps}>",
                "of shape (..., num_labels) with a known last axis when multilabel=True")
        if not _compatible(ts, ps):
            raise arg_error("y_true", f"<tensor of shape {ts}>",
                            f"of the same shape as y_pred {ps} when multilabel=True")
        n_labels = ps[-1]
        sample_shape, sample_ref = ps, y_pred
        fmt = Formatted("multilabel", 2, n_labels, ops.reshape(y_true, (-1, n_labels)),
                         ops.reshape(y_pred, (-1, n_labels)), None)
    # A 1-D y_pred is always one score per sample; class scores need an (..., K) axis.
    elif num_classes is not None and (num_classes > 2 or (len(ps) >= 2 and ps[-1] == 2)):
        k = num_classes
        if len(ps) < 1 or ps[-1] != k:
            raise arg_error(
                "y_pred", f"<tensor of shape {ps}>",
                f"of shape (..., {k}) to match num_classes={k} (one score per class)")
        sample_shape, sample_ref = ps[:-1], y_pred[..., 0]
        if len(ts) == len(ps) and ts[-1] == k:
            one_hot = True
            if not _compatible(ts, ps):
                raise arg_error("y_true", f"<tensor of shape {ts}>",
                                f"one-hot of shape {ps} or integer labels of shape {ps[:-1]}")
            y_true = ops.reshape(y_true, (-1, k))
        else:
            one_hot = False
            if len(ts) == len(ps) and ts[-1] == 1:
                ts = ts[:-1]
            if not _compatible(ts, sample_shape):
                raise arg_error("y_true", f"<tensor of shape {_shape(y_true)}>",
                                f"integer labels of shape {sample_shape} or one-hot of shape {ps}")
            y_true = ops.reshape(y_true, (-1,))
        fmt = Formatted("multiclass", k, 1, y_true, ops.reshape(y_pred, (-1, k)), None, one_hot)
    else:
        ps0, ts0 = drop_trailing_one(ps), drop_trailing_one(ts)
        if not _compatible(ts0, ps0):
            hint = "" if num_classes else (
                " (for multiclass scores pass num_classes=K; for several binary "
                "labels per sample pass multilabel=True)")
            raise arg_error("y_true", f"<tensor of shape {ts}>",
                            f"of the same shape as y_pred {ps}{hint}")
        sample_shape = ps0
        sample_ref = y_pred[..., 0] if len(ps0) < len(ps) else y_pred
        fmt = Formatted("binary", 2, 1, ops.reshape(y_true, (-1, 1)),
                         ops.reshape(y_pred, (-1, 1)), None)

    if exact is not None:
        fmt.exact = exact.reshape(tuple(fmt.y_pred.shape))
    if exact_true is not None:
        fmt.exact_true = exact_true.reshape(tuple(fmt.y_true.shape))
    if sample_weight is not None:
        fmt.sample_weight = _format_weight(sample_weight, sample_shape, sample_ref, fmt)
    if mask is not None:
        _apply_mask(fmt, _format_weight(ops.cast(mask, "float32"), sample_shape, sample_ref,
                                        fmt, name="mask") > 0)
    return fmt


def _exact_scores(raw, tensor):
    """``raw`` when it is a float64 NumPy array that became ``tensor`` in a narrower
    dtype (JAX without x64 makes float32 of it), else None.

    Rounded to float32, 0.49999999999 is 0.5, positive at 0.5 where scikit-learn (and
    every backend with float64) says negative; two close multiclass scores may tie.
    Eager counting then takes its decisions (threshold comparisons, buckets, argmax)
    from the float64 values in NumPy, exactly.
    """
    if isinstance(raw, np.ndarray) and raw.dtype == np.float64 \
            and keras.backend.standardize_dtype(tensor.dtype) != "float64":
        return raw
    return None


def _apply_mask(fmt: Formatted, keep):
    """Leave out the samples where ``keep`` (shaped as the formatted weights) is False."""
    fmt.exact = None  # a mask comes with a backend tensor, never with NumPy scores
    row = ops.expand_dims(keep, -1) if fmt.task == "multiclass" else keep
    fmt.y_pred = ops.where(row, fmt.y_pred, ops.zeros_like(fmt.y_pred))
    if fmt.one_hot:  # a row of zeros is not a label: class 0 instead
        first = ops.cast(ops.arange(fmt.num_classes) == 0, fmt.y_true.dtype)
        fmt.y_true = ops.where(row, fmt.y_true, first)
    else:
        fmt.y_true = ops.where(keep, fmt.y_true, ops.zeros_like(fmt.y_true))
    weight = (ops.ones_like(keep, dtype="float32") if fmt.sample_weight is None
              else fmt.sample_weight)
    fmt.sample_weight = ops.where(keep, weight, ops.zeros_like(weight))


def _format_weight(sample_weight, sample_shape: tuple, sample_ref, fmt: Formatted,
                   name="sample_weight"):
    """Broadcast weights to the samples (``(B,)`` weights a whole ``(B, H, W)`` map)."""
    w = _to_tensor(sample_weight, name="sample_weight")
    w = ops.cast(w, float_dtype(w) if "float" in str(w.dtype) else "float32")
    ws = _shape(w)
    while len(ws) > len(sample_shape) and ws[-1] == 1:
        w, ws = ops.squeeze(w, -1), ws[:-1]
    ok = len(ws) <= len(sample_shape) and all(
        a in (1, None) or b is None or a == b
        for a, b in zip(ws, sample_shape[: len(ws)], strict=True))
    if not ok:
        raise arg_error(name, f"<tensor of shape {_shape(w)}>",
                        f"a scalar or of a shape that broadcasts to the samples {sample_shape}")
    for _ in range(len(sample_shape) - len(ws)):
        w = ops.expand_dims(w, -1)
    # Broadcast by arithmetic against the samples: works with unknown batch sizes.
    w = w + ops.zeros_like(sample_ref, dtype=w.dtype)
    if fmt.task == "multiclass":
        return ops.reshape(w, (-1,))
    return ops.reshape(w, (-1, fmt.num_labels))


# ----------------------------------------------------------------- eager validation


def _numpy(x) -> np.ndarray:
    # stop_gradient: torch refuses to convert a tensor that requires grad.
    return np.asarray(ops.convert_to_numpy(ops.stop_gradient(x)), dtype="float64")


def validate_values(fmt: Formatted, *, from_logits: bool, soft: bool,
                    allow_nan: bool = False) -> bool:
    """Eagerly check values; skipped for symbolic tensors (tallied instead).

    ``allow_nan``: NaN labels, scores and weights pass (a loss shows them as a NaN
    loss, as Keras' losses do, eager and compiled alike).

    Returns whether the values were checked (False when they are symbolic).
    """
    tensors = [fmt.y_true, fmt.y_pred] + ([fmt.sample_weight] if fmt.sample_weight is not None
                                          else [])
    if any(_backend.is_symbolic(t) for t in tensors):
        return False
    y_true = fmt.exact_true if fmt.exact_true is not None else _numpy(fmt.y_true)
    y_pred = fmt.exact if fmt.exact is not None else _numpy(fmt.y_pred)
    if allow_nan:
        y_true, y_pred = np.nan_to_num(y_true, nan=0.0), np.nan_to_num(
            y_pred, nan=0.0, posinf=np.inf, neginf=-np.inf)

    bad = ~np.isfinite(y_pred)
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        value = y_pred[np.unravel_index(np.argmax(bad), bad.shape)].item()
        raise arg_error("y_pred", f"<{value} at sample {i}>",
                        "finite scores (NaN or inf is not a prediction; it is not counted "
                        "as a negative)")
    # The argmax ignores the scale of multiclass scores; elsewhere values matter.
    if not from_logits and (soft or fmt.task != "multiclass"):
        tol = 1e-6
        bad = (y_pred < -tol) | (y_pred > 1 + tol)
        if bad.any():
            idx = np.unravel_index(np.argmax(bad), bad.shape)
            raise arg_error("y_pred", f"<{y_pred[idx].item()} at sample {idx[0]}>",
                            "probabilities in [0, 1] (pass from_logits=True for logits)")

    k = fmt.num_classes
    if fmt.task == "multiclass" and not fmt.one_hot:
        bad = ~((y_true >= 0) & (y_true < k) & (y_true == np.round(y_true)))
        expected = f"integer class labels in {{0, ..., {k - 1}}} (num_classes={k})"
    elif fmt.task == "multiclass":
        row_sum = y_true.sum(axis=-1)
        if soft:
            bad = (np.any((y_true < 0) | (y_true > 1), axis=-1) | (np.abs(row_sum - 1) > 1e-4))
            expected = "one-hot rows (or label distributions summing to 1)"
        else:
            bad = np.any((y_true != 0) & (y_true != 1), axis=-1) | (row_sum != 1)
            expected = "one-hot rows with exactly one 1"
        bad = bad[:, None]
    elif soft:
        bad = ~((y_true >= 0) & (y_true <= 1))
        expected = "labels in [0, 1]"
    else:
        bad = ~((y_true == 0) | (y_true == 1))
        expected = "binary labels in {0, 1}"
    bad = np.asarray(bad)
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        row = np.atleast_1d(y_true[i])
        shown = row.item() if row.size == 1 else row.tolist()
        raise arg_error("y_true", f"<{shown} at sample {i}>", expected)

    if fmt.sample_weight is not None:
        w = _numpy(fmt.sample_weight)
        if allow_nan:
            w = np.nan_to_num(w, nan=0.0, posinf=np.inf, neginf=-np.inf)
        bad = ~(np.isfinite(w) & (w >= 0))
        if bad.any():
            idx = np.unravel_index(np.argmax(bad), bad.shape)
            raise arg_error("sample_weight", f"<{w[idx].item()} at sample {idx[0]}>",
                            "finite and >= 0")
    return True


# ------------------------------------------------------------------------ hard counts


def _logit(p):
    p = float(p)
    if p <= 0:
        return -np.inf
    if p >= 1:
        return np.inf
    return float(np.log(p) - np.log1p(-p))


class DecisionThreshold:
    """A checked threshold (a number, or one per label) with the value that decides
    scores of each float dtype (`ceil_to`; in logits when ``from_logits``) computed
    once. A metric keeps one, so that its compiled update runs no NumPy: inside
    ``torch.compile`` every NumPy call broke the graph, and each broken frame was then
    compiled again for every metric of the model (torch's recompile limit, 8, was hit
    while evaluating a model with a handful of metrics)."""

    def __init__(self, threshold, from_logits: bool):
        self.threshold = check_threshold(threshold)
        t = self.threshold
        if from_logits:
            t = np.vectorize(_logit)(t) if np.ndim(t) else _logit(t)
        self.by_dtype = {dtype: ceil_to(t, dtype).tolist() for dtype in _FLOATS}


def _threshold_tensor(threshold, fmt: Formatted, from_logits: bool):
    """The threshold(s) to compare ``fmt.y_pred`` with, and the scores to compare:
    ``(scores, t)`` such that ``scores >= t`` is the exact rule."""
    dtype = keras.backend.standardize_dtype(fmt.y_pred.dtype)
    if isinstance(threshold, DecisionThreshold):
        if fmt.exact is None:
            return fmt.y_pred, ops.convert_to_tensor(threshold.by_dtype[dtype], dtype)
        threshold = threshold.threshold
    if hasattr(threshold, "shape") and not isinstance(threshold, (np.ndarray, np.generic)) \
            and not _backend.is_symbolic(threshold):
        threshold = _numpy(threshold)  # concrete: checked, and decided exactly, below
    if hasattr(threshold, "shape") and not isinstance(threshold, (np.ndarray, np.generic)):
        # A tensor: compared in float64 where the backend has it (exact), else in the
        # scores' dtype.
        wide = "float64" if _backend.has_float64(fmt.y_pred) else dtype
        t = ops.cast(threshold, wide)
        if from_logits:
            t = ops.log(t) - ops.log1p(-t)
        return ops.cast(fmt.y_pred, wide), t
    t = check_threshold(threshold)
    if np.ndim(t) == 1 and len(t) not in (1, fmt.num_labels):
        raise arg_error("threshold", threshold,
                        f"a number or a sequence of {fmt.num_labels} (one per label)")
    if from_logits:
        t = np.vectorize(_logit)(t) if np.ndim(t) else _logit(t)
    if fmt.exact is not None:  # compared in NumPy, in float64 (`hard_codes`)
        return fmt.exact, np.asarray(t, dtype="float64")
    return fmt.y_pred, ops.convert_to_tensor(ceil_to(t, dtype))


def _binary_labels(yt, finite):
    """``(true, valid)`` of binary labels: int32 0 or 1, and where ``finite`` holds and
    the label is 0 or 1.

    Every caller sends an invalid sample's code to the tally (`_count_codes`,
    `_CountingMetric._cell_codes`), so a label is used as it is: an integer one is 0 or
    1 exactly when shifting out its last bit leaves 0, a float one is positive where it
    equals 1. No select to zero the others (one pass fewer per decision).
    """
    if "int" in keras.backend.standardize_dtype(yt.dtype):
        return ops.cast(yt, "int32"), finite & (ops.right_shift(yt, 1) == 0)
    positive = yt == 1
    return ops.cast(positive, "int32"), finite & ((yt == 0) | positive)


def hard_codes(fmt: Formatted, threshold, from_logits: bool):
    """Per-decision cell codes ``l*K*K + true*K + pred`` and a validity mask.

    ``threshold``: a number, one per label, a tensor, or a `DecisionThreshold`."""
    k = fmt.num_classes
    if fmt.task == "multiclass":
        if fmt.exact is not None:  # float64 NumPy scores on JAX without x64
            index, finite = _backend.numpy_row_argmax(fmt.exact)
            pred, valid = ops.convert_to_tensor(index), ops.convert_to_tensor(finite)
        else:
            pred, valid = _backend.row_argmax(fmt.y_pred)
        if fmt.one_hot:
            yt = fmt.y_true
            valid = valid & ops.all((yt == 0) | (yt == 1), axis=-1) & (ops.sum(yt, axis=-1) == 1)
            true = ops.cast(ops.argmax(yt, axis=-1), "int32")
        else:
            yt = fmt.y_true
            if "float" in str(yt.dtype):
                valid = valid & (yt == ops.round(yt))
            valid = valid & (yt >= 0) & (yt < k)
            true = ops.cast(ops.where(valid, yt, ops.zeros_like(yt)), "int32")
        codes = cell_codes(true, pred, k)
    else:
        scores, thr = _threshold_tensor(threshold, fmt, from_logits)
        exact = isinstance(thr, np.ndarray)  # float64 NumPy scores (`_exact_scores`)
        yt = fmt.y_true
        if exact:
            pred = ops.convert_to_tensor(decide(fmt.exact, thr).astype("int32"))
            finite = ops.convert_to_tensor(np.isfinite(fmt.exact))
        else:
            pred = ops.cast(decide(scores, thr), "int32")
        if not exact:
            finite = ops.isfinite(fmt.y_pred)
        true, valid = _binary_labels(yt, finite)
        label_offset = ops.arange(fmt.num_labels, dtype="int32") * 4
        codes = label_offset + true * 2 + pred
    if fmt.sample_weight is not None:
        w = fmt.sample_weight
        valid = valid & ops.isfinite(w) & (w >= 0)
    return codes, valid


# Weighted histograms are made per chunk of this many samples, then summed pairwise.
WEIGHTED_CHUNK = 1 << 20


def _count_codes(codes, valid, weights, num_cells: int):
    """Bincount of codes; invalid samples go to one extra cell, dropped here.

    A weighted histogram adds one float weight at a time, so a float32 cell would
    stop growing at 2**24 (2**24 + 1 rounds back to 2**24): a batch of more than
    `WEIGHTED_CHUNK` samples (of a size known when traced) is histogrammed per chunk,
    each exact for integer weights, and the chunks are summed pairwise (relative error
    about log2(chunks) * 2**-24 at worst, as for any sum of float32 partials).
    """
    codes = ops.where(valid, codes, num_cells)
    codes = ops.reshape(codes, (-1,))
    n = codes.shape[0]
    if weights is None:
        counts = _backend.bincount(codes, None, num_cells + 1)
    else:
        weights = ops.reshape(weights, (-1,))
        if n is None or n <= WEIGHTED_CHUNK:
            counts = _backend.bincount(codes, weights, num_cells + 1)
        else:
            parts = [_backend.bincount(codes[i:i + WEIGHTED_CHUNK],
                                       weights[i:i + WEIGHTED_CHUNK], num_cells + 1)
                     for i in range(0, n, WEIGHTED_CHUNK)]
            while len(parts) > 1:
                parts = [parts[i] + parts[i + 1] if i + 1 < len(parts) else parts[i]
                         for i in range(0, len(parts), 2)]
            counts = parts[0]
    counts = counts[:num_cells]
    if weights is None:
        counts = ops.cast(counts, "int32")
    return counts, ops.sum(ops.cast(ops.logical_not(valid), "int32"))


def hard_counts(fmt: Formatted, threshold=0.5, from_logits=False):
    """``(L, K, K)`` (or ``(K, K)``) counts and the number of invalid decisions."""
    codes, valid = hard_codes(fmt, threshold, from_logits)
    w = fmt.sample_weight
    if w is not None and fmt.task != "multiclass":
        w = ops.broadcast_to(w, ops.shape(codes))
    k, n_labels = fmt.num_classes, fmt.num_labels
    counts, invalid = _count_codes(codes, valid, w, n_labels * k * k)
    shape = (n_labels, k, k) if fmt.task == "multilabel" else (k, k)
    return ops.reshape(counts, shape), invalid


def confusion_matrix(
    y_true,
    y_pred,
    num_classes=None,
    *,
    multilabel=False,
    threshold=0.5,
    from_logits=False,
    sample_weight=None,
):
    """Hard confusion matrix from decisions.

    Args:
        y_true: true labels. Binary: array-like of shape ``(n_samples,)`` or
            ``(n_samples, 1)`` in {0, 1}. Multiclass: integer labels of shape
            ``(n_samples,)`` or one-hot ``(n_samples, K)``. Multilabel:
            ``(n_samples, L)`` in {0, 1}. Extra leading axes are samples.
        y_pred: scores. Binary: the probability (or logit) of class 1, same shape as
            ``y_true``. Multiclass: ``(n_samples, K)``. Multilabel: ``(n_samples, L)``.
        num_classes: ``K`` for a multiclass task; ``None`` (binary) by default. With
            ``num_classes=2`` and a last axis of 2 in ``y_pred``, the two columns are
            class scores and the decision is their argmax. Defaults to `None`.
        multilabel: count one ``(2, 2)`` matrix per label. Defaults to `False`.
        threshold: positive when ``score >= threshold``; a sequence gives one threshold
            per label in the multilabel case. Ignored for multiclass. Defaults to `0.5`.
        from_logits: whether ``y_pred`` holds logits (never inferred from the values).
            Defaults to `False`.
        sample_weight: optional weights of a shape that broadcasts to the samples
            (e.g. ``(n_samples,)``). Defaults to `None`.

    Returns:
        ``(K, K)`` counts (``(L, 2, 2)`` when multilabel), rows true, columns
        predicted: int32 without weights, float with them.

    Raises:
        ValueError: eagerly, on labels outside the classes, non-finite scores,
            probabilities outside [0, 1], negative weights or mismatched shapes.

    Example:

    >>> cm = confusion_matrix([0, 1, 1, 0], [0.2, 0.7, 0.4, 0.5])
    >>> keras.ops.convert_to_numpy(cm).tolist()
    [[1, 1], [1, 1]]
    """
    fmt = format_inputs(y_true, y_pred, num_classes, multilabel, sample_weight)
    validate_values(fmt, from_logits=from_logits, soft=False)
    cm, _ = hard_counts(fmt, threshold, from_logits)
    return cm


# ------------------------------------------------------------------------ soft counts


def soft_counts(fmt: Formatted, from_logits=False):
    dtype = float_dtype(fmt.y_pred)
    logits_or_p = ops.cast(fmt.y_pred, dtype)
    w = None if fmt.sample_weight is None else ops.cast(fmt.sample_weight, dtype)
    if fmt.task == "multiclass":
        p = ops.softmax(logits_or_p, axis=-1) if from_logits else logits_or_p
        if fmt.one_hot:
            y = ops.cast(fmt.y_true, dtype)
        else:
            y = ops.one_hot(ops.cast(fmt.y_true, "int32"), fmt.num_classes, dtype=dtype)
        if w is not None:
            y = y * ops.expand_dims(w, -1)
        return ops.matmul(ops.transpose(y), p)
    if from_logits:
        p, q = ops.sigmoid(logits_or_p), ops.sigmoid(-logits_or_p)
    else:
        p, q = logits_or_p, 1.0 - logits_or_p
    t = ops.cast(fmt.y_true, dtype)
    if w is not None:
        pos, neg = t * w, (1.0 - t) * w
    else:
        pos, neg = t, 1.0 - t
    tp, fn = ops.sum(pos * p, axis=0), ops.sum(pos * q, axis=0)
    fp, tn = ops.sum(neg * p, axis=0), ops.sum(neg * q, axis=0)
    cm = ops.stack([ops.stack([tn, fp], axis=-1), ops.stack([fn, tp], axis=-1)], axis=-2)
    return cm if fmt.task == "multilabel" else cm[0]


def soft_confusion_matrix(
    y_true,
    y_pred,
    num_classes=None,
    *,
    multilabel=False,
    from_logits=False,
    sample_weight=None,
):
    """Soft (expected) confusion matrix: differentiable counts for losses.

    ``C[i, j] = sum_n w_n * y[n, i] * p[n, j]``: the expected counts if each sample's
    decision were drawn from the model's own distribution. It equals the hard matrix
    when probabilities are exactly 0 or 1, and its entries sum to the total weight.

    Args:
        y_true: as for `confusion_matrix`; soft labels (in [0, 1], or distributions
            over the classes) are accepted.
        y_pred: probabilities, or logits with ``from_logits=True``.
        num_classes: ``K`` for a multiclass task. Defaults to `None` (binary).
        multilabel: one ``(2, 2)`` matrix per label. Defaults to `False`.
        from_logits: apply sigmoid (binary, multilabel) or softmax (multiclass) first.
            Defaults to `False`.
        sample_weight: optional weights broadcastable to the samples. Defaults to
            `None`.

    Returns:
        Float ``(K, K)`` (``(L, 2, 2)`` when multilabel), at least float32.

    Example:

    >>> cm = soft_confusion_matrix([0, 1], [0.25, 0.75])
    >>> keras.ops.convert_to_numpy(cm).tolist()
    [[0.75, 0.25], [0.25, 0.75]]
    """
    fmt = format_inputs(y_true, y_pred, num_classes, multilabel, sample_weight, hard=False)
    validate_values(fmt, from_logits=from_logits, soft=True)
    return soft_counts(fmt, from_logits)


# ---------------------------------------------------------------- per-threshold counts


def thresholds_grid(num_thresholds: int, *, spacing: str = "linear") -> np.ndarray:
    """``num_thresholds`` thresholds in [0, 1], sorted.

    ``spacing="linear"`` is uniform in probability (both ends included);
    ``spacing="logit"`` is uniform in logit space between logit(1e-7) and
    logit(1 - 1e-7), which resolves the scores of rare events near 0 and 1.
    """
    if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) \
            or num_thresholds < 2:
        raise arg_error("num_thresholds", num_thresholds, "an integer >= 2")
    if spacing == "linear":
        return np.linspace(0.0, 1.0, int(num_thresholds))
    if spacing == "logit":
        edge = np.log(1e-7) - np.log1p(-1e-7)
        return 1.0 / (1.0 + np.exp(-np.linspace(edge, -edge, int(num_thresholds))))
    raise arg_error("spacing", spacing, '"linear" or "logit"')


def _check_thresholds(thresholds) -> np.ndarray:
    if isinstance(thresholds, (int, np.integer)) and not isinstance(thresholds, bool):
        if thresholds < 2:
            raise arg_error("thresholds", thresholds,
                            "an integer >= 2 or a 1-D sequence of thresholds in [0, 1]")
        return thresholds_grid(int(thresholds))
    try:
        arr = np.asarray(thresholds, dtype="float64")
    except (TypeError, ValueError):
        raise arg_error("thresholds", thresholds,
                        "an integer >= 2 or a 1-D sequence of thresholds in [0, 1]") from None
    if arr.ndim != 1 or arr.size == 0:
        raise arg_error("thresholds", thresholds,
                        "an integer >= 2 or a non-empty 1-D sequence of thresholds in [0, 1]")
    if not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        raise arg_error("thresholds", thresholds, "thresholds in the range [0, 1]")
    return arr


def threshold_counts(fmt: Formatted, thresholds: np.ndarray, from_logits: bool):
    """``(T, 2, 2)`` counts in the order of ``thresholds`` plus the invalid tally.

    One pass: each score's bucket is the number of thresholds ``<=`` it (O(1) per score
    on a regular grid, see `threshold_buckets`), positives and negatives are
    histogrammed over ``T + 1`` buckets, and a reverse cumulative sum gives the positive
    decisions at every threshold: O(N + T), never O(N * T). The metric
    `ThresholdConfusion` accumulates the same histogram.
    """
    plan = threshold_plan(thresholds, from_logits)
    codes, valid = threshold_codes(fmt, plan)
    n_buckets = plan.num_thresholds + 1
    w = None if fmt.sample_weight is None else ops.reshape(fmt.sample_weight, (-1,))
    counts, invalid = _count_codes(codes, valid, w, 2 * n_buckets)
    return threshold_matrices(ops.reshape(counts, (2, n_buckets)), plan), invalid


def threshold_confusion_matrices(
    y_true, y_score, thresholds, *, from_logits=False, sample_weight=None
):
    """Binary confusion matrices at many thresholds at once.

    Args:
        y_true: binary labels in {0, 1}, array-like of shape ``(n_samples,)``.
        y_score: scores of class 1, same shape.
        thresholds: an integer ``T`` (``T`` thresholds evenly spaced in [0, 1]) or a
            1-D sequence of thresholds in [0, 1], in any order.
        from_logits: whether ``y_score`` holds logits; thresholds stay probabilities.
            Defaults to `False`.
        sample_weight: optional weights of shape ``(n_samples,)``. Defaults to `None`.

    Returns:
        ``(T, 2, 2)`` counts, one ``[[TN, FP], [FN, TP]]`` per threshold, in the order
        of ``thresholds``; positive when ``score >= threshold``.

    Example:

    >>> cms = threshold_confusion_matrices([0, 1, 1], [0.1, 0.4, 0.8], [0.0, 0.5])
    >>> keras.ops.convert_to_numpy(cms).tolist()
    [[[0, 1], [0, 2]], [[1, 0], [1, 1]]]
    """
    thresholds = _check_thresholds(thresholds)
    fmt = format_inputs(y_true, y_score, None, False, sample_weight)
    validate_values(fmt, from_logits=from_logits, soft=False)
    cm, _ = threshold_counts(fmt, thresholds, from_logits)
    return cm


# ------------------------------------------------- fast per-threshold bucketing (O(N + T))
#
# Streaming metrics count every batch at T thresholds. ``searchsorted`` costs O(log T)
# per score; for the grids used in practice (uniform in probability or in logit) a
# score's position is known in O(1) from arithmetic, up to rounding. The table below
# turns that estimate into the exact count of thresholds ``<=`` the score (compared in
# the score's own dtype, as everywhere else): the estimate picks a cell, every threshold
# certainly below the cell is counted from a table, and the few thresholds near the
# cell are compared one by one. The table is checked when it is built; a grid it does
# not fit falls back to ``searchsorted``. A grid uniform on [0, 1] (the default
# ``num_thresholds`` grid) needs no table: a rounding and one comparison with the
# threshold (`_uniform_buckets`), or for float32 scores without float64 at hand, one
# exact comparison in float32 (`_split_buckets`).

_CELLS_PER_THRESHOLD = 2
_CELL_SLACK = 1  # the backend's arithmetic may land one cell away from NumPy's
_MAX_WINDOW = 4  # more comparisons than this per score: use searchsorted instead


@dataclass(frozen=True)
class _ThresholdPlan:
    """Thresholds sorted once; per-dtype bucketing tables built on first use."""

    sorted_edges: np.ndarray  # (T,) float64, in score space (logits when from_logits)
    restore: np.ndarray  # (T,) int32: position in the sorted order of each given threshold
    from_logits: bool
    tables: dict  # dtype name -> _BucketTable or None (searchsorted)
    in_order: bool = True  # thresholds given sorted: `restore` is the identity

    @property
    def num_thresholds(self) -> int:
        return len(self.sorted_edges)


@dataclass(frozen=True)
class _BucketTable:
    kind: str  # "linear" (uniform in probability) or "logit" (uniform in logit)
    offset: float  # x = (z - offset) * scale, the cell position of a score
    scale: float
    num_cells: int
    below: np.ndarray  # (M,) int32: distinct edges certainly below any score in the cell
    edges: np.ndarray  # (D + window,) distinct edges in the score dtype, +inf padded
    count: np.ndarray  # (D + 1,) int32: thresholds <= the d-th distinct edge
    window: int


def threshold_plan(thresholds, from_logits: bool) -> _ThresholdPlan:
    thresholds = _check_thresholds(thresholds)
    order = np.argsort(thresholds, kind="stable")
    sorted_thr = thresholds[order]
    if from_logits:
        sorted_thr = np.array([_logit(t) for t in sorted_thr], dtype="float64")
    restore = np.argsort(order).astype("int32")
    return _ThresholdPlan(sorted_thr, restore, bool(from_logits), {},
                          bool(np.array_equal(restore, np.arange(len(restore)))))


def _estimate_dtype(dtype: str) -> str:
    return "float64" if dtype == "float64" else "float32"


def _cell_position(z, kind: str, from_logits: bool, offset, scale, xp):
    """Cell position of scores ``z`` (probabilities, or logits when from_logits)."""
    if kind == "linear":
        p = xp.sigmoid(z) if from_logits else xp.clip(z, 0.0, 1.0)
        return p * scale
    if not from_logits:
        p = xp.clip(z, 0.0, 1.0)
        z = xp.log(p) - xp.log1p(-p)  # exactly +-inf at 0 and 1, never NaN
    return (z - offset) * scale


class _NumpyOps:
    """The few ``keras.ops`` the cell estimate needs, in NumPy, for building tables."""

    clip, log, log1p = staticmethod(np.clip), staticmethod(np.log), staticmethod(np.log1p)

    @staticmethod
    def sigmoid(z):
        with np.errstate(over="ignore"):
            return (1.0 / (1.0 + np.exp(-z))).astype(z.dtype)


def _bucket_table(plan: _ThresholdPlan, dtype: str):
    if dtype in plan.tables:
        return plan.tables[dtype]
    cast = ceil_to(plan.sorted_edges, dtype)
    distinct = np.unique(cast)
    est = _estimate_dtype(dtype)
    n_thr = plan.num_thresholds
    cells = _CELLS_PER_THRESHOLD * n_thr
    best = None
    for kind in ("linear", "logit"):
        if kind == "linear":
            offset, scale = 0.0, float(cells)
        else:
            edge = float(np.log(1e-7) - np.log1p(-1e-7))
            offset, scale = edge, cells / (-2.0 * edge)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = _cell_position(distinct.astype(est), kind, plan.from_logits,
                               np.asarray(offset, est), np.asarray(scale, est), _NumpyOps)
        cell = np.clip(np.floor(np.nan_to_num(x, nan=0.0, posinf=cells, neginf=-1.0)),
                       0, cells - 1).astype("int64")
        cell = np.maximum.accumulate(cell)
        lows = np.arange(cells)
        below = np.searchsorted(cell, lows - _CELL_SLACK, side="left")
        upto = np.searchsorted(cell, lows + _CELL_SLACK, side="right")
        window = int(np.max(upto - below))
        if best is None or window < best[0]:
            best = (window, kind, offset, scale, below)
    window, kind, offset, scale, below = best
    table = None
    if window <= _MAX_WINDOW:
        padded = np.concatenate([distinct, np.full(window, np.inf, dtype=dtype)]).astype(dtype)
        count = np.concatenate(
            [[0], np.searchsorted(cast, distinct, side="right")]).astype("int32")
        table = _BucketTable(kind, offset, scale, cells, below.astype("int32"), padded, count,
                             max(window, 1))
    plan.tables[dtype] = table
    return table


def _uniform_edges(plan: _ThresholdPlan, dtype: str):
    """The sorted thresholds in ``dtype`` (`ceil_to`) when they form a uniform grid on
    [0, 1] (each within a quarter step of ``i / d``, i = 0..d, both ends included),
    else None."""
    key = ("uniform", dtype)
    if key not in plan.tables:
        edges = ceil_to(plan.sorted_edges, dtype)
        d = len(edges) - 1
        uniform = (
            dtype in ("float32", "float64") and not plan.from_logits and d >= 1
            # The product score * d is rounded by at most d * u, an eighth of a step.
            and d * np.finfo(dtype).eps / 2 <= 1 / 8
            # Exact for float32 edges (24 + 21 bits); float64 errs by far less than 1/8.
            and np.max(np.abs(edges.astype("float64") * d - np.arange(d + 1))) <= 1 / 4)
        plan.tables[key] = edges if uniform else None
    return plan.tables[key]


def _edges_recomputed(plan: _ThresholdPlan, dtype: str) -> bool:
    """Whether a score of ``dtype`` may be compared in float64 with ``float64(i) * (1 /
    d)`` instead of the ``i``-th threshold: then `_uniform_buckets` computes the edge
    instead of gathering it.

    True when, edge by edge, the computed value has the same `ceil_to` in ``dtype`` as
    the threshold (for float64 scores: is the threshold), so that the comparison
    decides every score of that dtype as the threshold does. Checked here in NumPy's
    IEEE arithmetic; a float64 product and a conversion to float64 are exact or
    correctly rounded on every backend (a division is not: XLA on a CPU, or
    TensorFlow's graph optimiser turning it into a product by ``1 / d``). The linear
    grids pass for float32 scores for every grid of up to 10,001 thresholds
    (tests/test_metrics.py): ``i / d`` lies far from a float32 value, bar the exact ones
    (relatively, about 2**-38 at least), and the float64 product errs by under 2**-52.
    """
    key = ("recompute", dtype)
    if key not in plan.tables:
        edges = _uniform_edges(plan, dtype)
        d = len(edges) - 1
        plan.tables[key] = bool(np.array_equal(
            ceil_to(np.arange(d + 1, dtype="float64") * (1.0 / d), dtype), edges))
    return plan.tables[key]


def floor_rule(plan: _ThresholdPlan):
    """``d`` when a float32 score's bucket is ``floor(score * d) + 1`` exactly (clipped
    to ``[0, d + 1]``; `eager_torch.uniform_buckets`), else None.

    That holds when the thresholds in float32 are ``ceil_to(i / d)``, i = 0..d: a
    float32 score ``p`` is then at or above the ``i``-th exactly when ``p * d >= i``,
    and ``p * d`` is exact in float64 (24 + 29 bits at most). Checked here edge by
    edge, exactly in float64: ``e * d`` reaches ``i`` and the float32 below ``e``
    does not.
    """
    key = ("floor", "float32")
    if key not in plan.tables:
        edges = _uniform_edges(plan, "float32")
        rule = None
        if edges is not None and len(edges) - 1 < 2 ** 29:
            d = len(edges) - 1
            index = np.arange(d + 1, dtype="float64")
            below = np.nextafter(edges, np.float32(-np.inf)).astype("float64")
            if np.all(edges.astype("float64") * d >= index) and np.all(below * d < index):
                rule = d
        plan.tables[key] = rule
    return plan.tables[key]


def split_rule(plan: _ThresholdPlan):
    """``d`` of `floor_rule` when `_split_buckets` can count float32 scores with it
    exactly (``d <= 2**16``), else None."""
    d = floor_rule(plan)
    return d if d is not None and d <= _SPLIT_MAX else None


_SPLIT_MAX = 2 ** 16


def _split_buckets(scores, d: int):
    """``floor(score * d) + 1`` clipped to ``[0, d + 1]``, exactly, for float32
    scores, in float32 arithmetic and without a lookup (`split_rule`).

    ``x``, the integer nearest to the rounded ``score * d`` (clipped to ``[0, d]``),
    is within one of the exact product, so the bucket is ``x + (score * d >= x)``.
    That comparison is made exact by splitting the score into three parts of 8
    significant bits (masking its low bits): each part times ``d`` (at most 16 bits)
    is a float32 exactly, ``p1 * d - x`` is exact (Sterbenz: ``p1 * d`` is within a
    factor 2 of ``x`` wherever the sign can be in doubt), adding ``p2 * d`` is exact
    too where it matters (the sum is at least 2**8 times ``p3 * d`` when it is not),
    and the last part is compared, not added. Every float32 of [-1, 2.5] was checked
    against ``floor(score * d) + 1`` in float64 for d = 1, 2, 199, 4095, 9999, 12345,
    40000, 65535 and 65536 (about 30 s each; the tests draw from every exponent).

    Elementwise ops only, in float32: where float64 is not at hand (JAX without x64,
    a TPU, Apple's MPS) it replaces a lookup of the threshold, which on XLA's CPU kept
    the pass from being vectorised (``ThresholdConfusion(200)`` on JAX at 65,536
    scores: 0.61 of the bare kernel with the lookup, 1.14 without). Where float64 is
    at hand the threshold is recomputed in it (`_uniform_buckets`): TensorFlow read
    the same either way, eager torch 10 % slower with this one (twenty ops, not eight).
    """
    x = _backend.clip(ops.round(scores * ops.cast(d, scores.dtype)), 0.0, d)
    bits = _backend.bitcast(scores, "int32")
    p1 = _backend.bitcast(ops.bitwise_and(bits, -(1 << 16)), "float32")  # top 8 bits
    p12 = _backend.bitcast(ops.bitwise_and(bits, -(1 << 8)), "float32")  # top 16 bits
    above = (p1 * d - x) + (p12 - p1) * d >= -((scores - p12) * d)
    return ops.cast(x, "int32") + ops.cast(above, "int32")


def _uniform_buckets(scores, edges: np.ndarray, recompute: bool):
    """Number of thresholds ``<=`` each score, exactly, for edges uniform on [0, 1].

    With ``d + 1`` edges each within 1/4 of a step of ``i / d``, and ``score * d``
    rounded by at most 1/8 of a step, ``r``, the integer nearest to ``score * d``
    (clipped to [0, d]), is the only index whose edge can be on either side of the
    score: every edge below ``r`` is at most the score and every edge above is above
    it. The count is ``r`` plus one comparison with ``edges[r]``.

    ``edges[r]`` is recomputed as ``float64(r) * (1 / d)`` and compared with the score
    in float64 where that decides as the threshold does (`_edges_recomputed`) and
    float64 is at hand (`_backend.has_float64`: not on JAX without x64, a TPU or
    Apple's MPS); otherwise the edge (`ceil_to` the scores' dtype) is gathered. Only
    the gather needs finite scores; computed, a score that is not finite gets an
    arbitrary count.
    """
    d = len(edges) - 1
    x = _backend.clip(ops.round(scores * ops.cast(d, scores.dtype)), 0.0, d)
    r = ops.cast(x, "int32")
    if recompute:
        return r + ops.cast(ops.cast(x, "float64") * (1.0 / d) <= ops.cast(scores, "float64"),
                            "int32")
    edge = _backend.take(_backend.constant(edges, scores), r)
    return r + ops.cast(edge <= scores, "int32")


def prepare_plan(plan: _ThresholdPlan):
    """Build the plan's bucketing tables for every float dtype now, so that a compiled
    update finds them made and runs no NumPy (in torch.compile, a graph break)."""
    floor_rule(plan)
    for dtype in _FLOATS:
        if _uniform_edges(plan, dtype) is not None:
            _edges_recomputed(plan, dtype)
        else:
            _bucket_table(plan, dtype)


def threshold_buckets(scores, plan: _ThresholdPlan, finite=None):
    """For each score, the number of thresholds ``<=`` it, in [0, T], int32.

    ``finite``, when given, is ``isfinite(scores)``: the counts of the scores that are
    not finite are then arbitrary (the caller masks them); without it every score
    must be finite.
    """
    dtype = keras.backend.standardize_dtype(scores.dtype)
    if dtype == "float32" and split_rule(plan) is not None \
            and not _backend.has_float64(scores):
        return _split_buckets(scores, split_rule(plan))
    edges = _uniform_edges(plan, dtype)
    recompute = (edges is not None and _backend.has_float64(scores)
                 and _edges_recomputed(plan, dtype))
    if finite is not None and not recompute:
        scores = ops.where(finite, scores, 0.0)  # lookups need indices in range
    if edges is not None:
        return _uniform_buckets(scores, edges, recompute)
    table = _bucket_table(plan, dtype)
    if table is None:
        edges = _backend.constant(ceil_to(plan.sorted_edges, dtype), scores)
        return ops.cast(ops.searchsorted(edges, scores, side="right"), "int32")
    est = _estimate_dtype(dtype)
    x = _cell_position(ops.cast(scores, est), table.kind, plan.from_logits,
                       table.offset, table.scale, ops)
    cell = ops.cast(ops.clip(ops.floor(x), 0, table.num_cells - 1), "int32")
    below = _backend.take(_backend.constant(table.below, scores), cell)
    edges = _backend.constant(table.edges, scores)
    distinct = below
    for k in range(table.window):
        distinct = distinct + ops.cast(_backend.take(edges, below + k) <= scores, "int32")
    return _backend.take(_backend.constant(table.count, scores), distinct)


def threshold_codes(fmt: Formatted, plan: _ThresholdPlan):
    """Histogram codes ``true * (T + 1) + bucket`` and a validity mask, per sample."""
    if fmt.exact is not None:  # float64 scores the backend would round: in NumPy
        exact = fmt.exact.reshape(-1)
        bucket = ops.convert_to_tensor(
            np.searchsorted(plan.sorted_edges, exact, side="right").astype("int32"))
        finite = ops.convert_to_tensor(np.isfinite(exact))
    else:
        scores = ops.reshape(fmt.y_pred, (-1,))
        finite = ops.isfinite(scores)
        bucket = threshold_buckets(scores, plan, finite)
    true, valid = _binary_labels(ops.reshape(fmt.y_true, (-1,)), finite)
    if fmt.sample_weight is not None:
        w = ops.reshape(fmt.sample_weight, (-1,))
        valid = valid & ops.isfinite(w) & (w >= 0)
    return cell_codes(true, bucket, plan.num_thresholds + 1), valid


def threshold_matrices(hist, plan: _ThresholdPlan):
    """``(T, 2, 2)`` in the given order from a ``(2, T + 1)`` bucket histogram.

    Bucket ``b`` holds the scores with ``b`` thresholds at or below them, so sorted
    threshold ``i`` calls buckets ``>= i + 1`` positive: `tail_sums` ``[1:-1]``.
    """
    cm = tail_sums(hist, ops, _backend.cumsum)[1:-1]
    if not plan.in_order:
        cm = ops.take(cm, _backend.constant(plan.restore, cm), axis=0)
    return cm


# Imported before Keras, this module's ``import keras`` ran the package's import hook,
# which registers the Keras layer for ``load_model``; that layer imports names from
# here, so the hook left the registration to this point.
_COMPLETE = True
_register_deferred()
