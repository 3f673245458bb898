"""Counting, written once: the decision rule, cell codes, bincounts, tail sums, curves.

The core of the library (NumPy; no Keras). A confusion matrix is a ``(..., K, K)``
array of counts, rows the true class and columns the decision. Every path that counts
goes through these definitions: the command line and `report` on NumPy arrays, and
the Keras layer (`counts`, `metrics`) on tensors, where `cell_codes` and `tail_sums`
are handed ``keras.ops`` as ``xp``.

* `decide`: positive when ``score >= threshold`` (scikit-learn's rule; Keras' own
  metrics use ``>``), exact for scores of any float dtype;
* `cell_codes` and `count_matrix`: a sample's cell is ``true * K + decision``, and one
  bincount of the codes is the matrix;
* `tail_sums`: a ``(2, B)`` histogram of bucketed scores, turned into the matrices at
  every bucket edge by a reverse cumulative sum (O(N + T) for T thresholds);
* `exact_curve`: the matrices at every distinct score, from one sort.
"""

from __future__ import annotations

import numpy as np

from keras_confusion._validation import ceil_to

__all__ = ["cell_codes", "count_matrix", "decide", "exact_curve", "tail_sums"]


def decide(scores, threshold):
    """The decision rule: ``scores >= threshold``, as booleans.

    A NumPy score of any float dtype is compared with the smallest value of its dtype
    at or above the threshold, which is the exact rule (float32(0.7) is below 0.7, so
    it is negative at 0.7). A tensor is compared with ``threshold`` as given: the Keras
    layer passes it already in the scores' dtype (`ceil_to`).
    """
    if isinstance(scores, np.ndarray):
        if scores.dtype.kind == "f":
            threshold = ceil_to(threshold, scores.dtype)
        with np.errstate(invalid="ignore"):
            return scores >= threshold
    return scores >= threshold


def cell_codes(y_true, y_pred, num_classes: int):
    """The cell of each sample, ``true * K + decision`` (NumPy arrays or tensors)."""
    return y_true * num_classes + y_pred


def count_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int,
                 weights: np.ndarray | None = None, *, num_columns: int | None = None
                 ) -> np.ndarray:
    """``(K, K)`` int64 counts of integer labels and decisions (one bincount), or the
    float64 sums of ``weights`` ``(N,)`` in each cell.

    ``num_columns`` (``K`` by default) counts ``y_pred`` over that many columns: the
    ``(2, B)`` histogram of binary labels over ``B`` score buckets, say.
    """
    columns = num_classes if num_columns is None else num_columns
    codes = cell_codes(y_true.astype(np.intp, copy=False), y_pred, columns)
    return np.bincount(codes, weights=weights, minlength=num_classes * columns).reshape(
        num_classes, columns)


def tail_sums(hist, xp=np, cumsum=None):
    """``(B + 1, 2, 2)`` matrices from a ``(2, B)`` histogram of negatives and positives
    over ordered buckets: matrix ``j`` calls the samples in buckets ``>= j`` positive
    (``j = B``: none).

    ``xp`` is NumPy or ``keras.ops``; ``cumsum`` replaces ``xp.cumsum`` (the Keras layer
    passes a backend shim).
    """
    cumsum = cumsum or xp.cumsum
    tail = xp.flip(cumsum(xp.flip(hist, axis=1), axis=1), axis=1)  # count in buckets >= j
    tail = xp.concatenate([tail, xp.zeros_like(tail[:, :1])], axis=1)
    fp, tp = tail[0], tail[1]
    tn, fn = fp[0] - fp, tp[0] - tp
    return xp.stack([xp.stack([tn, fp], axis=-1), xp.stack([fn, tp], axis=-1)], axis=-2)


def exact_curve(y, s, w=None):
    """Candidates (T,) ascending (each distinct score, then inf) and their (T, 2, 2).

    A sample is positive at candidate ``t`` when ``s >= t``. Unweighted, two plain
    sorts do it (NumPy's SIMD sort is several times faster than an argsort): the
    sorted scores give the candidates and how many samples reach each, and a binary
    search in the sorted scores of the smaller class splits that count into TP and FP.
    Weighted, one argsort and reverse cumulative sums of the weights, read at the
    first sample of each distinct score.
    """
    n = len(s)
    if w is None:
        s_sorted = np.sort(s)
        starts = np.flatnonzero(np.concatenate([[True], s_sorted[1:] != s_sorted[:-1]]))
        thresholds = s_sorted[starts]
        reached = n - starts  # samples with a score >= each candidate
        pos = y == 1
        n_pos = int(np.count_nonzero(pos))
        if n_pos <= n - n_pos:
            tp = n_pos - np.searchsorted(np.sort(s[pos]), thresholds, side="left")
            fp = reached - tp
        else:
            fp = (n - n_pos) - np.searchsorted(np.sort(s[~pos]), thresholds, side="left")
            tp = reached - fp
    else:
        order = np.argsort(s)  # ties in any order: only group starts are read
        s_sorted = s[order]
        starts = np.flatnonzero(np.concatenate([[True], s_sorted[1:] != s_sorted[:-1]]))
        thresholds = s_sorted[starts]
        w_sorted = w[order]
        pos = w_sorted * y[order]
        tp = np.cumsum(pos[::-1])[::-1][starts]
        fp = np.cumsum((w_sorted - pos)[::-1])[::-1][starts]
    # Filled in place: nested np.stack is several times slower on millions of rows.
    cms = np.zeros((len(tp) + 1, 2, 2), dtype=tp.dtype)  # the last row: inf, no positives
    cms[:-1, 1, 1] = tp
    cms[:-1, 0, 1] = fp
    cms[:, 1, 0] = tp[0] - cms[:, 1, 1]
    cms[:, 0, 0] = fp[0] - cms[:, 0, 1]
    return np.concatenate([thresholds, [np.inf]]), cms


def count_text(c) -> str:
    """A count as text: an integer as one (``12``), a weighted sum to 6 digits."""
    if isinstance(c, (int, np.integer)):
        return str(int(c))
    c = float(c)
    return str(int(c)) if c.is_integer() and abs(c) < 2.0 ** 53 else f"{c:.6g}"


#: What the intervals are, as `Report.to_dict` names them.
