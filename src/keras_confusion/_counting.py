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
    """The cell of each sample, ``true * K + decision`` (NumPy arrays or tensors).

    On torch one kernel (an add with ``alpha``) where the operators run two: eager
    torch pays about 2.5 us of dispatch per op (a `ThresholdConfusion(200)` update of
    8,192 scores takes about 48 us in all).
    """
    if type(y_pred).__module__ == "torch" and type(y_true).__module__ == "torch":
        import torch

        # Integers only: for booleans the add would stay boolean.
        if y_pred.dtype is torch.int32 and y_true.dtype in (torch.int32, torch.int64):
            return y_pred.add(y_true, alpha=num_classes)
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


_UNSIGNED = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _order_keys(s: np.ndarray):
    """Unsigned integer keys of float scores, in the scores' order, and the inverse.

    Returns ``(keys, to_scores)``: ``keys`` with ``a < b`` exactly when the scores
    compare so (equal scores, -0.0 and 0.0 included, have equal keys), and
    ``to_scores(k)``, the scores of some keys. A non-negative float's bits already
    order it; a negative one's are complemented and the sign bit set on the others.
    """
    s = s + s.dtype.type(0)  # -0.0 + 0.0 is 0.0: one key for both
    utype = _UNSIGNED[s.dtype.itemsize]
    bits = s.view(utype)
    if not s.size or s.min() >= 0:
        return bits, lambda k: k.astype(utype).view(s.dtype)
    sign = utype(1) << utype(8 * s.dtype.itemsize - 1)
    # An arithmetic shift of the sign bit: all ones for a negative score, else 0.
    flip = (s.view(np.dtype(f"i{s.dtype.itemsize}")) >> (8 * s.dtype.itemsize - 1)).view(utype)
    keys = bits ^ (flip | sign)

    def to_scores(k):
        k = k.astype(utype)
        return np.where(k & sign, k ^ sign, ~k).view(s.dtype)

    return keys, to_scores


def _sorted_label_keys(y, s):
    """Keys of the scores shifted left one bit, the label in the lowest, sorted (one
    sort carries labels along at the speed of sorting numbers), as a list of parts
    ``(packed, to_scores)`` in ascending order of score, ``to_scores`` the inverse of a
    part's score keys; None for scores that are not float16, float32 or float64.

    The keys of a part span less than half their integer type, leaving room for the
    label bit: one part where the scores' keys do, else two, the negative scores and
    the others (each sign's keys span less than half the type). Float32 logits of both
    signs span more than 2**31 keys (normal logits of spread 1: 0x3f3d43c2 to
    0xc0afd077), and sorted in one part they would need 64-bit keys, whose sort took
    1.6 times as long as the scores' (10 M: 0.64 s against 0.40 s).
    """
    if s.dtype.kind != "f" or s.dtype.itemsize not in _UNSIGNED:
        return None
    keys, to_scores = _order_keys(s)
    bits = 8 * keys.dtype.itemsize
    utype = np.uint32 if bits <= 32 else np.uint64

    def part(k, labels):
        low = k.min()
        packed = np.subtract(k, low, dtype=utype)
        packed <<= utype(1)
        packed |= labels.astype(utype, copy=False)
        packed.sort()
        return packed, lambda q: to_scores(q + low)

    if int(keys.max()) - int(keys.min()) < 1 << (max(bits, 32) - 1):
        return [part(keys, y)]
    negative = s < 0  # -0.0 is not: its key is 0.0's
    return [part(keys[negative], y[negative]), part(keys[~negative], y[~negative])]


def _argsort_by_keys(s: np.ndarray):
    """An argsort of float16 or float32 scores (ties in any order) as one sort of
    64-bit integers, each score's key above its index; None for other scores.

    ``np.argsort`` of 10 M float32 scores took 1.57-1.73 s, this sort 0.71-0.97 s
    (``np.sort`` of the scores: 0.44 s).
    """
    if s.dtype.kind != "f" or s.dtype.itemsize > 4:
        return None
    keys, _ = _order_keys(s)
    shift = max(int(len(s) - 1).bit_length(), 1)
    if 8 * keys.dtype.itemsize + shift > 64:
        return None
    packed = keys.astype(np.uint64)
    packed <<= np.uint64(shift)
    packed |= np.arange(len(s), dtype=np.uint64)
    packed.sort()
    packed &= np.uint64((1 << shift) - 1)
    return packed.view(np.int64)


def exact_curve(y, s, w=None):
    """Candidates (T,) ascending (each distinct score, then inf) and their (T, 2, 2).

    A sample is positive at candidate ``t`` when ``s >= t``. Unweighted, one sort of
    integer keys that hold each score's order and its label (`_sorted_label_keys`)
    gives the candidates (where the score part changes) and the positives among each
    candidate's samples; tail sums of those give TP and FP. Weighted (or with no scores,
    or scores that are not float16, float32 or float64), one argsort (`_argsort_by_keys`
    where it can) and reverse cumulative sums of the weights, read at the first sample
    of each distinct score.
    """
    n = len(s)
    parts = _sorted_label_keys(y, s) if w is None and n else None
    if parts is not None:
        # Per part, runs of equal keys (one score and one label each, at most two runs
        # a score), joined over the parts (which share no score) into one sequence.
        thresholds, positives, first, starts = [], [], [], []
        samples_before = runs_before = 0
        for packed, to_scores in parts:  # every part holds samples
            runs = np.flatnonzero(packed[1:] != packed[:-1])
            runs += 1
            runs = np.concatenate([[0], runs])
            keys = packed[runs]
            length = np.empty_like(runs)  # each run's length where its label is 1, else 0
            np.subtract(runs[1:], runs[:-1], out=length[:-1])
            length[-1] = len(packed) - runs[-1]
            length[(keys & keys.dtype.type(1)) == 0] = 0
            keys >>= keys.dtype.type(1)
            at = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
            thresholds.append(to_scores(keys[at]))
            positives.append(length)
            starts.append(runs[at])
            starts[-1] += samples_before  # in place: 10 M scores are gigabytes of arrays
            at += runs_before
            first.append(at)
            samples_before += len(packed)
            runs_before += len(runs)
        thresholds, positives, first, starts = (
            np.concatenate(x) if len(x) > 1 else x[0]
            for x in (thresholds, positives, first, starts))
        tp = positives[::-1].cumsum()[::-1][first]  # positives at each candidate and above
        fp = (n - starts) - tp
    else:
        order = _argsort_by_keys(s)  # ties in any order: only group starts are read
        if order is None:
            order = np.argsort(s)
        s_sorted = s[order]
        starts = np.flatnonzero(np.concatenate([[True], s_sorted[1:] != s_sorted[:-1]]))
        thresholds = s_sorted[starts]
        if w is None:
            tp = np.cumsum(y[order][::-1], dtype=np.int64)[::-1][starts]
            fp = (n - starts) - tp
        else:
            w_sorted = w[order]
            pos = w_sorted * y[order]
            tp = np.cumsum(pos[::-1])[::-1][starts]
            fp = np.cumsum((w_sorted - pos)[::-1])[::-1][starts]
    # Stored cell by cell ((2, 2, T), seen as (T, 2, 2)): each cell's candidates are
    # contiguous, so filling them and a formula's arithmetic on them run at memory speed.
    cells = np.empty((2, 2, len(tp) + 1), dtype=tp.dtype)  # the last: inf, no positives
    cells[1, 1, :-1], cells[0, 1, :-1] = tp, fp
    cells[1, 1, -1] = cells[0, 1, -1] = 0
    np.subtract(tp[0], cells[1, 1], out=cells[1, 0])
    np.subtract(fp[0], cells[0, 1], out=cells[0, 0])
    cms = cells.transpose(2, 0, 1)
    return np.concatenate([thresholds, [np.inf]]), cms


def count_text(c) -> str:
    """A count as text: an integer as one (``12``), a weighted sum to 6 digits."""
    if isinstance(c, (int, np.integer)):
        return str(int(c))
    c = float(c)
    return str(int(c)) if c.is_integer() and abs(c) < 2.0 ** 53 else f"{c:.6g}"


#: What the intervals are, as `Report.to_dict` names them.
