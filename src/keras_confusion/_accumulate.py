"""Counting a stream of chunks on one machine: what the command line and each Dask
worker run over the rows of their files (NumPy; no Keras).

An `Accumulator` adds chunk after chunk: at a fixed threshold (or argmax) into the
``(K, K)`` matrix, dropping the rows; for tuning it keeps the scores up to
``exact_limit`` rows (then bins them, 2**20 bins of [0, 1]); for the HTML curves it
keeps a ``(2, 2**12)`` histogram. Accumulators of disjoint rows merge by addition.
"""

from __future__ import annotations

import numpy as np

from keras_confusion._counting import count_matrix, decide, tail_sums
from keras_confusion._io import Chunk, InputError

__all__ = ["CURVE_BINS", "EXACT_LIMIT", "TUNE_BINS", "Accumulator"]

EXACT_LIMIT = 5_000_000
TUNE_BINS = 1 << 20  # a power of two: score * bins is exact, so bins are exact thresholds
CURVE_BINS = 1 << 12  # curves for the HTML figure at a fixed threshold


class Accumulator:
    """Counts a stream of chunks; keeps what tuning or the curves need, bounded."""

    def __init__(self, num_classes, threshold, *, tune, curve, exact_limit, weighted=False):
        self.k = num_classes
        self.threshold = threshold
        self.weighted = weighted
        self.counts = np.zeros((num_classes, num_classes),
                               dtype=np.float64 if weighted else np.int64)
        # Sums of squared weights per cell (weighted only): the intervals need them.
        self.squares = np.zeros((num_classes, num_classes)) if weighted else None
        self.rows = 0
        # Binary scores outside [0, 1] counted at a fixed threshold: logits, say, which
        # the command line's default threshold of 0.5 would decide as probabilities.
        self.outside = 0
        self.tune = tune
        self.exact_limit = exact_limit
        self.kept: list[tuple] | None = [] if tune else None  # (y, score, weights, origin)
        self.hist = None  # (2, bins) counts (sums of weights) of binary scores
        self.hist_sq = None  # (2, bins) sums of squared weights (weighted tuning)
        self.bins = TUNE_BINS if tune else CURVE_BINS
        self.curve = curve or tune

    def add(self, chunk, y):
        s, w = chunk.scores, chunk.weights
        n = len(y)
        self.rows += n
        if self.k == 2 and s.shape[1] == 1:
            score = s[:, 0]
            if self.tune:
                self._keep(chunk, y, score, w)
                return
            pred = decide(score, self.threshold)
            if len(score) and (score.min() < 0 or score.max() > 1):  # two reductions, no arrays
                self.outside += int(np.count_nonzero((score < 0) | (score > 1)))
            if w is not None:
                pred = pred.view(np.int8)
                self.counts += count_matrix(y, pred, 2, w)
                self.squares += count_matrix(y, pred, 2, w * w)
            else:
                # K = 2: three counts of booleans read 1 byte per row, several times
                # faster than building int64 codes for a bincount.
                pos = y.view(bool) if y.dtype.itemsize == 1 else y != 0
                tp, n_pos, n_pred = (np.count_nonzero(pred & pos), np.count_nonzero(pos),
                                     np.count_nonzero(pred))
                self.counts += np.array([[n - n_pos - n_pred + tp, n_pred - tp],
                                         [n_pos - tp, tp]])
            if self.curve:
                self._histogram(chunk, y, score, w, strict=False)
        else:
            pred = s.argmax(axis=1)
            self.counts += count_matrix(y, pred, self.k, w)
            if w is not None:
                self.squares += count_matrix(y, pred, self.k, w * w)

    def merge(self, other: Accumulator) -> Accumulator:
        """Add the counts of ``other`` (of another part of the data) into these: what
        the Dask engine does with the accumulators of its partitions. Counts at a fixed
        threshold or argmax only (scores kept for tuning are not merged)."""
        if self.tune or other.tune:
            raise ValueError("merge: accumulators that keep scores for tuning are not merged")
        self.rows += other.rows
        self.outside += other.outside
        self.counts = self.counts + other.counts
        if self.weighted:
            self.squares = self.squares + other.squares
        # A curve needs every part's scores in [0, 1].
        if self.curve and other.curve:
            if self.hist is None:
                self.hist, self.hist_sq = other.hist, other.hist_sq
            elif other.hist is not None:
                self.hist = self.hist + other.hist
                if self.weighted:
                    self.hist_sq = self.hist_sq + other.hist_sq
        else:
            self.curve, self.hist, self.hist_sq = False, None, None
        return self

    def _keep(self, chunk, y, score, w):
        if self.kept is not None and self.rows <= self.exact_limit:
            # With where it came from: an error found when binning it names the row.
            self.kept.append((y.astype(np.int8), score.astype(np.float64), w,
                              Chunk(chunk.path, chunk.start, None, None)))
            return
        if self.kept is not None:  # past the limit: move what was kept into bins
            kept, self.kept = self.kept, None
            for ky, ks, kw, origin in kept:
                self._histogram(origin, ky, ks, kw, strict=True)
        self._histogram(chunk, y, score, w, strict=True)

    def _histogram(self, chunk, y, score, w, *, strict):
        if not self.curve:
            return
        outside = (score < 0) | (score > 1)
        if outside.any():
            if strict:
                row = int(np.argmax(outside))
                where = f"{chunk.path}: row {chunk.start + row + 1}: " if chunk else ""
                raise InputError(
                    f"{where}score {score[row]} is outside [0, 1]: tuning more than "
                    f"{self.exact_limit} rows bins probabilities in [0, 1]; pass "
                    "probabilities, or a larger --exact-limit")
            self.curve, self.hist = False, None  # no curve for scores that are not in [0, 1]
            return
        if self.hist is None:
            self.hist = np.zeros((2, self.bins), dtype=np.float64 if self.weighted else np.int64)
            self.hist_sq = np.zeros((2, self.bins)) if self.weighted else None
        if score.dtype.itemsize < 4:  # float16 * bins would overflow to inf
            score = score.astype(np.float32)
        b = np.minimum((score * self.bins).astype(np.intp), self.bins - 1)
        self.hist += count_matrix(y, b, 2, w, num_columns=self.bins)
        if w is not None:
            self.hist_sq += count_matrix(y, b, 2, w * w, num_columns=self.bins)

    def scores(self):
        """``(labels, scores, weights)`` for an exact search or from the bins."""
        if self.kept is not None:
            if not self.kept:
                return np.zeros(0, np.int8), np.zeros(0), None
            return (np.concatenate([k[0] for k in self.kept]),
                    np.concatenate([k[1] for k in self.kept]),
                    np.concatenate([k[2] for k in self.kept]) if self.weighted else None)
        # Each bin stands for its lower edge: score >= k / bins exactly when bin >= k.
        edges = np.arange(self.bins) / self.bins
        nz0, nz1 = np.flatnonzero(self.hist[0]), np.flatnonzero(self.hist[1])
        y = np.r_[np.zeros(nz0.size, np.int8), np.ones(nz1.size, np.int8)]
        return y, np.r_[edges[nz0], edges[nz1]], np.r_[self.hist[0, nz0], self.hist[1, nz1]]

    def total_weight(self) -> float:
        """The sum of the weights read so far (weighted only)."""
        if self.kept is not None:
            return float(sum(k[2].sum() for k in self.kept))
        if self.tune:
            return float(self.hist.sum()) if self.hist is not None else 0.0
        return float(self.counts.sum())

    def matrices_at(self, threshold):
        """Weighted tuning: ``(2, 2)`` sums of the weights and of their squares at
        ``score >= threshold``, each summed directly (not as a difference of sums, which
        could leave a residue in a cell that has no sample)."""
        if self.kept is not None:
            y, s, w = self.scores()
            pred = decide(s, threshold).view(np.int8)
            return count_matrix(y, pred, 2, w), count_matrix(y, pred, 2, w * w)
        # Binned: the threshold is an edge k / bins (or inf, k = bins).
        k = int(np.searchsorted(np.arange(self.bins) / self.bins, threshold, side="left"))
        return tuple(np.stack([h[:, :k].sum(axis=1), h[:, k:].sum(axis=1)], axis=1)
                     for h in (self.hist, self.hist_sq))

    def histogram_curve(self):
        """Candidates ascending and ``(T, 2, 2)`` counts at the bin edges."""
        if self.hist is None:
            return None
        # Bin k holds the scores in [k / bins, (k + 1) / bins): matrix k is at k / bins.
        return np.r_[np.arange(self.bins) / self.bins, np.inf], tail_sums(self.hist)
