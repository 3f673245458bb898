"""Confusion matrices, reports and exact threshold tuning on a Dask cluster.

``pip install 'keras-confusion[dask]'``; this module imports no Keras and no backend.
Every function takes a ``dask.dataframe.DataFrame`` and column names, runs on whatever
scheduler is active (a ``distributed.Client``, or Dask's local threads) and returns
exactly what the one-machine function returns on the same rows:

* `confusion_matrix` and `report`: each partition is counted (the command line's
  chunk accumulator, `keras_confusion._accumulate.Accumulator`) and the counts are summed in
  a tree; the report's intervals are drawn from the merged counts, so the same seed
  gives the same intervals as `keras_confusion.report.report`.
* `tune_threshold`: exact over every distinct score, without bringing the scores to
  the client. Three reads of the data (four when the bins are split):

  1. the range: rows, the smallest and largest score (and every value is checked, so
     bad input fails here, naming the partition or file and the row);
  2. a histogram of the scores over ``bins`` equal bins of that range, per class,
     summed over partitions. The confusion matrix at the first score of every
     non-empty bin (an "edge") is exact: it is a tail sum of the histogram. Inside a
     bin, TP and FP lie between the bin's two edge matrices, so the objective there
     has an upper bound (`_bounds`: the formula at the box's best corner, or a
     closed-form bound for MCC and Cohen's kappa);
  3. when those bins hold more than ``gather_rows`` rows, they are split again
     (another ``bins`` bins among them) and counted in one more pass, as long as
     that halves the rows to gather: the same bound on finer bins;
  4. only the scores of the bins whose bound can reach the best edge value (branch
     and bound) come back to the client, where the search is exact
     (`keras_confusion._counting.exact_curve`); the choice is made by
     `keras_confusion.decisions.choose_threshold`, the same code and the same tie
     rule as the one-machine `tune_threshold`, so the threshold is the same score.

  A user objective (a callable) has no bound: every bin is gathered (exact, but the
  client then holds every score). A pass is repeated, rarely, when the tie tolerance
  (relative to the largest value) could differ from the one-machine search's.

Memory, for ``N`` rows in ``P`` partitions and ``B`` bins: a worker holds one
partition's columns (or a file's chunk of ``chunk_rows`` from the command line) and
``16 B`` bytes of histogram (``32 B`` weighted; up to twice that after a split); the
client holds the merged histogram and its ``(B + 1, 2, 2)`` tail sums (about ``56 B``
bytes: 3.7 MB at the default ``B = 2**16``), and the gathered scores, 17 bytes per row
(25 weighted): about ``g N / B`` rows, ``g`` the number of bins that can win (7 for F1
and 84 for MCC on the data of ``benchmarks/bench_dask.py``), split again while that
exceeds ``gather_rows`` (2**22 by default, about 70 MB; more only when a split no
longer halves them, e.g. when millions of rows share one score). Bytes sent to the
client: ``O(B)`` for the histogram, tree-reduced on the workers, plus the gathered rows.
Each pass reads the DataFrame again: persist it first if it fits in the cluster's
memory.

Unweighted counts are integers and equal bit for bit. Weighted sums are added in
another order than on one machine and may differ in the last bits (exact for weights
that are integers, or sums of powers of two, up to 2**53).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from keras_confusion import formulas
from keras_confusion._counting import exact_curve, tail_sums
from keras_confusion._io import Chunk, InputError, check_chunk, iter_chunks
from keras_confusion._validation import arg_error, is_text, warn
from keras_confusion.decisions import (
    _TIE_RTOL,
    MultilabelThresholdResult,
    choose_threshold,
    resolve_constraint,
    resolve_objective,
)
from keras_confusion.report import check_threshold_number

__all__ = ["DEFAULT_BINS", "confusion_matrix", "report", "tune_threshold"]

#: Histogram bins of the exact search (a worker sends 16 bytes per bin).
DEFAULT_BINS = 1 << 16
#: Rows the client gathers at most before the bins that can win are split again.
DEFAULT_GATHER_ROWS = 1 << 22
_SPLIT_EVERY = 8  # partitions summed per task of the reduction tree


# ----------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Columns:
    """What to read from a partition: a label column, its score columns, a weight."""

    label: str
    scores: tuple
    weight: str | None
    num_classes: int


@dataclass(frozen=True)
class FileSource:
    """One prediction file, read on a worker in chunks as the command line reads it."""

    path: str
    chunk_rows: int


def _chunks(source, cols: _Columns):
    """Validated ``(labels, chunk)`` pairs of one source, as `check_chunk` checks them:
    an error names the file (or the partition) and the row."""
    if isinstance(source, FileSource):
        for chunk in iter_chunks([source.path], cols.label, cols.scores, source.chunk_rows,
                                 cols.weight):
            if len(chunk.labels):
                yield check_chunk(chunk, cols.label, cols.scores, cols.num_classes,
                                  cols.weight), chunk
        return
    index, frame = source
    if len(frame) == 0:
        return
    where = f"partition {index}"
    arrays = {}
    for c in (cols.label, *cols.scores) + ((cols.weight,) if cols.weight else ()):
        if c not in frame.columns:
            raise InputError(f"{where}: no column {c!r} (columns: "
                             f"{', '.join(repr(x) for x in list(frame.columns)[:20])})")
        a = frame[c].to_numpy()
        # A gap: pandas' <NA> (nullable dtypes, read as NaN), None among objects, or a
        # NaN label (an empty cell, as dd.read_csv reads it). A NaN score stays a score
        # that is not finite (`check_chunk`).
        if c == cols.label or not isinstance(frame[c].dtype, np.dtype) \
                or a.dtype.kind not in "biuf":
            missing = frame[c].isna().to_numpy()
            if missing.any():
                raise InputError(f"{where}: column {c!r}, row {int(np.argmax(missing)) + 1}: "
                                 "missing value")
        if a.dtype.kind not in "biuf":
            try:  # NumPy reads the text "1" as a number, as the files' reader does not
                if is_text(a):
                    raise TypeError
                a = frame[c].to_numpy(dtype="float64")
            except (TypeError, ValueError):
                raise InputError(f"{where}: column {c!r} has dtype {frame[c].dtype}; "
                                 "expected numbers (text is not a label or a score)") from None
        arrays[c] = a
    scores = np.stack([arrays[c] for c in cols.scores], axis=1)
    if scores.dtype.kind != "f":
        scores = scores.astype("float64")
    chunk = Chunk(where, 0, arrays[cols.label], scores,
                  arrays[cols.weight] if cols.weight else None)
    yield check_chunk(chunk, cols.label, cols.scores, cols.num_classes, cols.weight), chunk


def _dask():
    try:
        import dask
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("keras_confusion.dask needs dask: "
                          "pip install 'keras-confusion[dask]'") from None
    return dask


def _sources(ddf):
    dask = _dask()
    try:
        parts = ddf.to_delayed()
    except AttributeError:
        raise arg_error("ddf", f"<{type(ddf).__name__}>", "a dask.dataframe.DataFrame") from None

    return [dask.delayed(tuple, pure=True)([i, p]) for i, p in enumerate(parts)]


def _reduce(sources, task, combine, *args):
    """``task(source, *args)`` on every source, combined in a tree on the workers."""
    dask = _dask()

    parts = [dask.delayed(task, pure=True)(s, *args) for s in sources]
    if not parts:
        return None
    while len(parts) > 1:
        parts = [dask.delayed(combine, pure=True)(parts[i:i + _SPLIT_EVERY])
                 for i in range(0, len(parts), _SPLIT_EVERY)]
    (result,) = dask.compute(parts[0])
    return result


# ----------------------------------------------------------------------- counting


def _count_task(source, cols, threshold, curve):
    from keras_confusion._accumulate import Accumulator

    acc = Accumulator(cols.num_classes, threshold, tune=False, curve=curve, exact_limit=0,
                       weighted=cols.weight is not None)
    for y, chunk in _chunks(source, cols):
        acc.add(chunk, y)
    return acc


def _merge_accumulators(accs):
    first = accs[0]
    for other in accs[1:]:
        first.merge(other)
    return first


def count(sources, cols: _Columns, threshold=0.5, *, curve=False, no_rows=None):
    """The merged `keras_confusion._accumulate.Accumulator` of every source (counts at
    ``threshold``, or the argmax; with ``curve``, the figure's histogram)."""
    acc = _reduce(sources, _count_task, _merge_accumulators, cols, threshold, curve)
    if acc is None or acc.rows == 0:
        raise InputError("no data rows (every partition is empty)") if no_rows is None \
            else no_rows
    return acc


# ------------------------------------------------------------------------ tuning


def _range_task(source, cols):
    rows, lo, hi, total = 0, np.inf, -np.inf, 0.0
    present = np.zeros(2, dtype=bool)  # classes holding a sample of non-zero weight
    for y, chunk in _chunks(source, cols):
        s = chunk.scores[:, 0].astype(np.float64)
        rows += len(s)
        lo, hi = min(lo, float(s.min())), max(hi, float(s.max()))
        w = chunk.weights
        total += len(y) if w is None else float(w.sum())
        yy = y if w is None else y[w > 0]
        present |= [bool(np.any(yy == 0)), bool(np.any(yy == 1))]
    return rows, lo, hi, present, total


def _merge_ranges(parts):
    return (sum(p[0] for p in parts), min(p[1] for p in parts), max(p[2] for p in parts),
            np.logical_or.reduce([p[3] for p in parts]), sum(p[4] for p in parts))


@dataclass(frozen=True)
class _Bins:
    """Contiguous score ranges: ``count`` equal bins of ``[lo, hi]``, or the bins
    between sorted ``edges`` (after a refinement). A row's bin is non-decreasing in its
    score (every rounding step is monotone), so a bin is a run of the sorted scores."""

    lo: float
    hi: float
    count: int
    edges: np.ndarray | None = None

    def index(self, s):
        """Bin ``(N,)`` of float64 scores in ``[lo, hi]``."""
        if self.edges is not None:
            return np.clip(np.searchsorted(self.edges, s, side="right") - 1, 0,
                           self.count - 1)
        span = self.hi - self.lo
        if not np.isfinite(span) or span <= 0:
            return np.zeros(len(s), dtype=np.intp)
        b = np.floor((s - self.lo) * (self.count / span))
        return np.clip(b, 0, self.count - 1).astype(np.intp)

    def refine(self, which, parts):
        """These bins with each bin of ``which`` split in ``parts``, or `None` when
        they cannot be split (a range too wide for float64 arithmetic)."""
        span = self.hi - self.lo
        if not np.isfinite(span) or span <= 0:
            return None
        edges = self.edges if self.edges is not None else \
            self.lo + span * (np.arange(self.count + 1) / self.count)
        steps = np.arange(1, parts) / parts
        inner = edges[which, None] + (edges[which + 1] - edges[which])[:, None] * steps
        edges = np.unique(np.concatenate([edges, inner.ravel()]))
        return _Bins(self.lo, self.hi, len(edges) - 1, edges)


def _hist_task(source, cols, grid):
    bins = grid.count
    n = np.zeros((2, bins), dtype=np.int64)
    w_sum = np.zeros((2, bins)) if cols.weight else None
    for y, chunk in _chunks(source, cols):
        b = grid.index(chunk.scores[:, 0].astype(np.float64))
        codes = y.astype(np.intp) * bins + b
        n += np.bincount(codes, minlength=2 * bins).reshape(2, bins)
        if w_sum is not None:
            w_sum += np.bincount(codes, weights=chunk.weights, minlength=2 * bins).reshape(2, bins)
    return n, w_sum


def _merge_hists(parts):
    n = sum(p[0] for p in parts)
    w = None if parts[0][1] is None else sum(p[1] for p in parts)
    return n, w


def _gather_task(source, cols, grid, gather, extremes):
    """The rows in the bins ``gather`` (sorted), and the smallest and largest score in
    each bin of ``extremes`` (sorted)."""
    ys, ss, ws = [], [], []
    mins = np.full(len(extremes), np.inf)
    maxs = np.full(len(extremes), -np.inf)
    # Lookup tables over the bins: one gather per row instead of a search.
    bins = grid.count
    wanted = np.zeros(bins, dtype=bool)
    wanted[gather] = True
    slot = np.full(bins, -1, dtype=np.intp)
    slot[extremes] = np.arange(len(extremes))
    for y, chunk in _chunks(source, cols):
        s = chunk.scores[:, 0].astype(np.float64)
        b = grid.index(s)
        if len(gather):
            keep = wanted[b]
            ys.append(y[keep].astype(np.int8))
            ss.append(s[keep])
            if cols.weight:
                ws.append(chunk.weights[keep])
        if len(extremes):
            i = slot[b]
            at = i >= 0
            if at.any():
                np.minimum.at(mins, i[at], s[at])
                np.maximum.at(maxs, i[at], s[at])
    cat = (lambda a, dt: np.concatenate(a) if a else np.zeros(0, dt))  # noqa: E731
    return (cat(ys, np.int8), cat(ss, np.float64),
            cat(ws, np.float64) if cols.weight else None, mins, maxs)


def _merge_gathered(parts):
    y = np.concatenate([p[0] for p in parts])
    s = np.concatenate([p[1] for p in parts])
    w = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
    return (y, s, w, np.minimum.reduce([p[3] for p in parts]),
            np.maximum.reduce([p[4] for p in parts]))


# Formulas that rise with TP and fall with FP at fixed totals P and N (where no
# denominator is zero), with the keyword arguments under which that holds.
_MONOTONE = {
    formulas.accuracy: (), formulas.precision: (), formulas.recall: (),
    formulas.specificity: (), formulas.npv: (), formulas.f1: (), formulas.fbeta: ("beta",),
    formulas.jaccard: (), formulas.tversky: ("alpha", "beta"),
    formulas.balanced_accuracy: ("adjusted",), formulas.youden_j: (),
}


def _matrices(tp, fp, p, n):
    out = np.empty((len(tp), 2, 2), dtype=np.float64)
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1] = n - fp, fp, p - tp, tp
    return out


def _bounds(fn, kwargs, hi_cm, lo_cm, weighted):
    """Lower and upper bounds ``(J,)`` of ``fn`` over the candidates inside bins whose
    edge matrices are ``lo_cm`` (the bin's first score: more positives) and ``hi_cm``
    (the next bin's), or ``(-inf, inf)`` where no bound is known.

    Inside a bin, TP lies in ``[TP(hi), TP(lo)]`` and FP in ``[FP(hi), FP(lo)]``, and
    (unweighted) at least one sample is positive and one negative, so no denominator
    of the formulas below is zero there.
    """
    j = len(hi_cm)
    lower, upper = np.full(j, -np.inf), np.full(j, np.inf)
    tp_hi, fp_hi = hi_cm[:, 1, 1].astype(float), hi_cm[:, 0, 1].astype(float)
    tp_lo, fp_lo = lo_cm[:, 1, 1].astype(float), lo_cm[:, 0, 1].astype(float)
    p, n = float(lo_cm[0, 1].sum()), float(lo_cm[0, 0].sum())
    s = p + n
    if j == 0 or p <= 0 or n <= 0:
        return lower, upper
    if weighted:
        # Zero weights may leave a candidate with no positive (or no negative) decision:
        # bins touching that get no bound (they are gathered).
        ok = (tp_hi + fp_hi > 0) & (tp_lo + fp_lo < s)
        q_min, q_max = tp_hi + fp_hi, tp_lo + fp_lo
    else:
        ok = np.ones(j, dtype=bool)
        q_min, q_max = tp_hi + fp_hi + 1, tp_lo + fp_lo - 1
    extra = set(kwargs) - {"zero_division"}
    if fn in _MONOTONE and extra <= set(_MONOTONE[fn]) and \
            (fn is not formulas.tversky or (kwargs.get("alpha", 0.5) > 0
                                            and kwargs.get("beta", 0.5) > 0)):
        # The best corner: every positive of the bin above every negative; clamped into
        # the candidates' range (at least one decision each way).
        tp_b, fp_b = tp_lo.copy(), fp_hi.copy()
        tp_w, fp_w = tp_hi.copy(), fp_lo.copy()
        if not weighted:
            fp_b = np.where(tp_b + fp_b == 0, fp_b + 1, fp_b)
            tp_b = np.where(tp_b + fp_b == s, tp_b - 1, tp_b)
            tp_w = np.where(tp_w + fp_w == 0, tp_w + 1, tp_w)
            fp_w = np.where(tp_w + fp_w == s, fp_w - 1, fp_w)
        hi_v = np.asarray(fn(_matrices(tp_b, fp_b, p, n), **kwargs), dtype=float)
        lo_v = np.asarray(fn(_matrices(tp_w, fp_w, p, n), **kwargs), dtype=float)
    elif fn is formulas.expected_cost:
        # Linear in TP and FP: the extremes are at the box's corners.
        vals = np.stack([np.asarray(fn(_matrices(a, b, p, n), **kwargs), dtype=float)
                         for a in (tp_hi, tp_lo) for b in (fp_hi, fp_lo)])
        lo_v, hi_v = vals.min(axis=0), vals.max(axis=0)
    elif fn in (formulas.mcc, formulas.cohen_kappa) and extra <= {"weights"}:
        # Both are (TP N - FP P) over a positive function of the predicted positives q:
        # MCC's sqrt(P N q (S - q)) (concave in q: least at an end of the range),
        # kappa's (q N + P (S - q)) / 2 (linear in q).
        num_hi, num_lo = tp_lo * n - fp_hi * p, tp_hi * n - fp_lo * p
        if fn is formulas.mcc:
            den = lambda q: np.sqrt(p * n * q * (s - q))  # noqa: E731
            q_mid = np.clip(s / 2, q_min, q_max)
            d_small = np.minimum(den(q_min), den(q_max))
            d_large = den(q_mid)
        else:
            den = lambda q: (q * n + p * (s - q)) / 2  # noqa: E731
            d_small, d_large = np.minimum(den(q_min), den(q_max)), np.maximum(den(q_min),
                                                                                den(q_max))
        with np.errstate(divide="ignore", invalid="ignore"):
            hi_v = np.where(num_hi >= 0, num_hi / d_small, num_hi / d_large)
            lo_v = np.where(num_lo <= 0, num_lo / d_small, num_lo / d_large)
        ok &= (d_small > 0) | (q_min > q_max)
    else:
        return lower, upper
    # A margin for rounding: a formula evaluated inside may exceed its corner by an ulp.
    margin = 1e-9 * np.maximum(np.abs(hi_v), np.abs(lo_v))
    lower = np.where(ok, lo_v - margin, -np.inf)
    upper = np.where(ok, hi_v + margin, np.inf)
    if not weighted:  # a bin of one row (or one score) has no candidate inside: NaN
        none = q_min > q_max
        lower[none], upper[none] = np.nan, np.nan
    return lower, upper


def _bin_state(sources, cols, grid, fn, kwargs, vectorized, greater, constraint, evaluate,
               as_vals):
    """The histogram pass over ``grid`` and what it gives: the exact matrix and value at
    every bin's first score (its edge), and bounds of the values inside each bin."""
    hist_n, hist_w = _reduce(sources, _hist_task, _merge_hists, cols, grid)
    weighted = hist_w is not None
    tails = tail_sums(hist_w if weighted else hist_n)  # (B + 1, 2, 2): edge matrices
    nonempty = np.flatnonzero(hist_n.sum(axis=0))  # bins holding a row: each an edge
    edge_cms = tails[nonempty]
    inner_cms = tails[nonempty + 1]  # the next edge: the bin's candidates lie between
    edge_v, edge_ok = evaluate(np.concatenate([edge_cms, tails[-1:]]))
    edge_vals = as_vals(edge_v)
    bounded = vectorized and any(fn is f for f in formulas.BY_NAME.values())
    low, up = np.full(len(nonempty), -np.inf), np.full(len(nonempty), np.inf)
    if bounded:
        low, up = _bounds(fn, kwargs, inner_cms, edge_cms, weighted)
        low, up = (low, up) if greater else (-up, -low)
    if constraint is not None:
        # A bin whose constraint bound cannot meet the constraint holds no eligible
        # candidate inside: it neither competes nor sets the tie rule's scale.
        c_fn, _, c_bound, c_kwargs, c_greater = constraint
        c_low, c_up = _bounds(c_fn, c_kwargs, inner_cms, edge_cms, weighted)
        infeasible = (c_up < c_bound) if c_greater else (c_low > c_bound)
        low[infeasible], up[infeasible] = np.nan, np.nan
    return hist_n, hist_w, tails, nonempty, edge_cms, edge_vals, edge_ok, low, up


def _to_gather(known, gather, low, up):
    """The bins not yet gathered whose inside can reach the best known value (within
    the tie tolerance), and that value's band."""
    best = np.max(known, initial=-np.inf)
    pruned = ~gather
    # The tie rule's scale is the largest eligible magnitude of all candidates: at most
    # this, with the bounds of the bins not gathered.
    scale = max(np.max(np.abs(known), initial=0.0),
                np.nanmax(np.abs(np.r_[low[pruned], up[pruned], 0.0])))
    band = best - _TIE_RTOL * scale  # a value below it is neither best nor tied
    more = pruned & (up >= band) if np.isfinite(best) else pruned.copy()
    return more, band


def _tune_column(sources, cols, fn, name, kwargs, vectorized, greater, constraint, bins,
                 no_rows=None, no_weight=None, gather_rows=None):
    """`tune_threshold` of one binary label and score column, exactly (module docstring):
    the result and the number of rows. ``no_rows`` and ``no_weight``: the errors to
    raise for no rows and for weights that are all zero (the command line's)."""
    rows, lo, hi, present, total = _reduce(sources, _range_task, _merge_ranges, cols)
    if rows == 0:
        raise no_rows or InputError("no data rows (every partition is empty)")
    if total == 0 and no_weight is not None:
        raise no_weight
    gather_rows = DEFAULT_GATHER_ROWS if gather_rows is None else gather_rows
    if present.sum() < 2:
        warn(f"tune_threshold: y_true holds only class {int(np.argmax(present))} (with "
             f"non-zero weight); {name} may not depend on the threshold.", stacklevel=4)

    def as_vals(v):  # objective values as the tie rule compares them (maximised)
        return v if greater else -v

    def evaluate(cms):
        from keras_confusion.decisions import _evaluate, _is_library_formula

        v = _evaluate(fn, cms, kwargs, vectorized)
        if constraint is None:
            return v, np.ones(len(v), dtype=bool)
        c_fn, _, bound, c_kwargs, c_greater = constraint
        c = _evaluate(c_fn, cms, c_kwargs, _is_library_formula(c_fn))
        return v, (c >= bound) if c_greater else (c <= bound)

    grid, wanted_before = _Bins(lo, hi, bins), None
    while True:
        hist_n, hist_w, tails, nonempty, edge_cms, edge_vals, edge_ok, low, up = _bin_state(
            sources, cols, grid, fn, kwargs, vectorized, greater, constraint, evaluate,
            as_vals)
        gather = (up == np.inf) | (low == -np.inf)  # bins without a bound (NaN: no inside)
        more, _ = _to_gather(edge_vals[edge_ok], gather, low, up)
        per_bin = hist_n.sum(axis=0)[nonempty]
        wanted = int(per_bin[gather | more].sum())
        # Too many rows to gather: split the bins that can win, count again (one pass).
        if wanted <= gather_rows or (wanted_before is not None and wanted > wanted_before / 2):
            break
        which = nonempty[(gather | more) & (per_bin > 1)]
        finer = grid.refine(which, max(2, -(-bins // max(len(which), 1))))
        if finer is None:
            break
        grid, wanted_before = finer, wanted
    weighted = hist_w is not None
    extremes = np.zeros(len(nonempty), dtype=bool)  # bins whose first score is needed
    eligible_edges = edge_ok[:-1]
    known = edge_vals[edge_ok]  # eligible values known exactly (maximised)
    seen, result = None, None  # the tie rule's largest magnitude in the last search
    while True:
        best = np.max(known, initial=-np.inf)
        pruned = ~gather
        more, band = _to_gather(known, gather, low, up)
        need = ~gather & ~extremes & eligible_edges & (edge_vals[:-1] >= band)
        if seen is not None and not more.any() and not need.any():
            ambiguous = (known >= band) & (known < best - _TIE_RTOL * seen)
            if not ambiguous.any():
                return result, rows
            # The scale is not pinned down: fetch every larger magnitude.
            more = pruned & (np.nanmax(np.abs(np.c_[low, up]), axis=1) > seen)
            need = ~gather & ~extremes & eligible_edges & (np.abs(edge_vals[:-1]) > seen)
            if not more.any() and not need.any():  # pragma: no cover - nothing larger
                return result, rows
        gather |= more
        extremes |= need
        extremes &= ~gather
        y_g, s_g, w_g, mins, maxs = _reduce(sources, _gather_task, _merge_gathered, cols,
                                            grid, nonempty[gather], nonempty[extremes])
        result, gathered = _search(tails, hist_w if weighted else hist_n, nonempty, gather,
                                   extremes, edge_cms, y_g, s_g, w_g, mins, maxs, grid,
                                   fn, name, kwargs, vectorized, greater, constraint)
        v, ok = evaluate(gathered)
        known = np.r_[as_vals(v)[ok], edge_vals[edge_ok]]
        ok_seen = np.ones(len(result.values), dtype=bool) if result.feasible is None \
            else result.feasible
        seen = np.max(np.abs(as_vals(result.values)[ok_seen]), initial=0.0)


def _search(tails, hist, nonempty, gather, extremes, edge_cms, y_g, s_g, w_g, mins, maxs,
            grid, fn, name, kwargs, vectorized, greater, constraint):
    """`choose_threshold` on the candidates known after a gathering pass.

    Gathered bins give every distinct score, its matrix counted from the gathered rows
    plus the rows of the bins above that were not gathered; a bin not gathered gives its
    edge (known where its first score was fetched) and, when it holds more than one
    score, a place for those inside it (never chosen: they break runs of ties).

    Returns the result and the ``(G, 2, 2)`` matrices of the gathered candidates.
    """
    if len(s_g):
        t_g, cms_g = exact_curve(y_g, s_g, w_g)
        t_g, cms_g = t_g[:-1], cms_g[:-1]
    else:
        t_g, cms_g = np.zeros(0), np.zeros((0, 2, 2), dtype=tails.dtype)
    b_g = grid.index(t_g)
    not_gathered = np.ones(grid.count, dtype=bool)
    not_gathered[nonempty[gather]] = False
    # The rows of the bins not gathered, as (B + 1, 2, 2) tail sums: above a gathered
    # candidate's bin they are called positive (FP, TP of the next edge), below it
    # negative (TN, FN of its own edge). TN and FN are no longer the total less FP and
    # TP summed in another order, which, weighted, left +-1e-12 where every row is
    # positive (NPV 2.0; FN < 0, recall above 1): each comes from one running sum, so
    # it is exactly 0 where no row is, and never negative.
    rest = tail_sums(hist * not_gathered)
    full = np.zeros((len(t_g), 2, 2), dtype=tails.dtype)
    full[:, :, 1] = cms_g[:, :, 1] + rest[b_g + 1, :, 1]
    full[:, :, 0] = cms_g[:, :, 0] + rest[b_g, :, 0]
    left = np.flatnonzero(~gather)
    first = np.full(len(nonempty), np.nan)
    has_inside = np.ones(len(nonempty), dtype=bool)
    x_index = np.flatnonzero(extremes)
    first[x_index] = mins
    has_inside[x_index] = mins < maxs
    inside = left[has_inside[left]]
    bin_key = np.r_[b_g, nonempty[left], nonempty[inside]]
    sub_key = np.r_[np.zeros(len(t_g) + len(left), int), np.ones(len(inside), int)]
    order = np.lexsort((sub_key, np.r_[t_g, np.zeros(len(left) + len(inside))], bin_key))
    thresholds = np.r_[np.r_[t_g, first[left], np.full(len(inside), np.nan)][order], np.inf]
    cms = np.concatenate([np.concatenate([full, edge_cms[left], edge_cms[inside]])[order],
                          tails[-1:]])
    is_known = np.r_[np.r_[np.ones(len(t_g), bool), extremes[left],
                           np.zeros(len(inside), bool)][order], True]
    result = choose_threshold(thresholds, cms, fn, name, kwargs, vectorized, greater,
                              constraint, known=is_known)
    return result, full


def tune_sources(sources, cols: _Columns, objective, *, cost_matrix=None, constraint=None,
                 bins=DEFAULT_BINS, no_rows=None, no_weight=None, gather_rows=None,
                 formula_kwargs=None):
    """The exact search over file sources (the command line's ``--scheduler``):
    ``(ThresholdResult, rows)``; ``formula_kwargs``, the objective's parameters."""
    fn, name, kwargs, vectorized, greater = resolve_objective(
        objective, cost_matrix, formula_kwargs or {}, None, None, constraint)
    constraint = resolve_constraint(constraint, cost_matrix)
    return _tune_column(sources, cols, fn, name, kwargs, vectorized, greater, constraint, bins,
                        no_rows, no_weight, gather_rows)


def file_sources(paths, chunk_rows):
    """One source per file: a worker reads it in chunks of ``chunk_rows``."""
    return [FileSource(p, chunk_rows) for p in paths]


# ------------------------------------------------------------------------ public


def _column_list(value, name):
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise arg_error(name, value, "a column name, or a list of column names")


def _weight_column(sample_weight):
    if sample_weight is not None and not isinstance(sample_weight, str):
        raise arg_error("sample_weight", sample_weight,
                        "the name of a column of weights (or None)")
    return sample_weight


def _label_columns(label, score, multilabel, num_classes=None):
    labels, scores = _column_list(label, "label"), _column_list(score, "score")
    if multilabel:
        if len(labels) != len(scores):
            raise arg_error("label", label, f"one label column per score column "
                            f"({len(scores)}) when multilabel=True")
        return [(lab, (sc,), 2) for lab, sc in zip(labels, scores, strict=True)]
    if len(labels) != 1:
        raise arg_error("label", label, "one column (pass multilabel=True for several)")
    k = 2 if len(scores) == 1 else len(scores)
    if num_classes is not None and num_classes != k:
        raise arg_error("num_classes", num_classes,
                        f"{k}, the number of score columns (one column: binary)")
    return [(labels[0], tuple(scores), k)]


def confusion_matrix(ddf, *, label, score, threshold=0.5, num_classes=None, multilabel=False,
                     sample_weight=None):
    """The confusion matrix of a Dask DataFrame's labels and scores, counted per
    partition and summed: equal to `keras_confusion.confusion_matrix` (and
    scikit-learn's) on the same rows.

    Args:
        ddf: a ``dask.dataframe.DataFrame``.
        label: the label column (binary 0/1 or class indices), or with
            ``multilabel=True`` one label column per score column.
        score: a column of class-1 scores (binary, decided by ``score >= threshold``),
            or a list of ``K`` class-score columns (multiclass, decided by argmax).
        threshold: binary: positive when ``score >= threshold``; with ``multilabel``
            one number, or one per label. Defaults to `0.5`.
        num_classes: optional check of ``K``. Defaults to `None`.
        multilabel: one ``(2, 2)`` matrix per (label, score) column pair. Defaults to
            `False`.
        sample_weight: the name of a column of weights (finite, >= 0). Defaults to
            `None`.

    Returns:
        ``(K, K)`` int64 counts (float64 sums of weights), or ``(L, 2, 2)`` with
        ``multilabel=True``.
    """
    weight = _weight_column(sample_weight)
    if isinstance(threshold, (str, bytes, bool, np.bool_)):  # np.asarray reads "0.5"
        check_threshold_number(threshold)
    pairs = _label_columns(label, score, multilabel, num_classes)
    thresholds = np.broadcast_to(np.asarray(threshold, dtype=float), (len(pairs),)) \
        if multilabel else [threshold]
    sources = _sources(ddf)
    out = []
    for (lab, sc, k), thr in zip(pairs, thresholds, strict=True):
        if k > 2 and not (isinstance(thr, (int, float)) and thr == 0.5):
            raise arg_error("threshold", thr, "0.5 (the default) with multiclass scores, "
                            "whose decisions are the argmax")
        check_threshold_number(thr)
        out.append(count(sources, _Columns(lab, sc, weight, k), float(thr)).counts)
    return np.stack(out) if multilabel else out[0]


def report(ddf, *, label, score, threshold=0.5, num_classes=None, class_names=None,
           cost_matrix=None, bootstrap=1000, seed=0, confidence=0.95, sample_weight=None):
    """`keras_confusion.report.report` on a Dask DataFrame: the same `Report` (matrix,
    table, overall figures and, from the merged counts with the same seed, the same
    intervals).

    The one difference is the figure's curve (``Report.curve``): counted in the same
    pass at the 4,096 thresholds ``k / 4096``, as the command line's ``--html`` does,
    when every score is in [0, 1] (else none), instead of at every distinct score,
    which would bring every score to the client.

    Args:
        ddf: a ``dask.dataframe.DataFrame``.
        label: the label column.
        score: a column of class-1 scores, or ``K`` class-score columns (argmax).
        threshold, num_classes, class_names, cost_matrix, bootstrap, seed, confidence:
            as `keras_confusion.report.report`.
        sample_weight: the name of a column of weights. Defaults to `None`.

    Returns:
        A `keras_confusion.report.Report`.
    """
    from keras_confusion.report import Report

    weight = _weight_column(sample_weight)
    ((lab, sc, k),) = _label_columns(label, score, False, num_classes)
    if k > 2:
        if isinstance(threshold, (bool, np.bool_)) or not (
                isinstance(threshold, (int, float, np.number)) and threshold == 0.5):
            raise arg_error("threshold", threshold, "0.5 (the default) with multiclass "
                            "scores, whose decisions are the argmax")
        thr = None
    else:
        thr = check_threshold_number(threshold)
    acc = count(_sources(ddf), _Columns(lab, sc, weight, k), 0.5 if thr is None else thr,
                curve=k == 2)
    if acc.weighted and acc.counts.sum() == 0:
        raise arg_error("sample_weight", "<weights that are all zero>",
                        "a positive weight on at least one sample")
    return Report(acc.counts, class_names=class_names, cost_matrix=cost_matrix,
                  bootstrap=bootstrap, seed=seed, confidence=confidence, threshold=thr,
                  curve=acc.histogram_curve() if k == 2 else None,
                  squared_weights=acc.squares, num_rows=acc.rows if acc.weighted else None)


def tune_threshold(ddf, objective=None, *, label, score, cost_matrix=None, constraint=None,
                   sample_weight=None, multilabel=False, vectorized=None,
                   greater_is_better=None, bins=DEFAULT_BINS,
                   gather_rows=DEFAULT_GATHER_ROWS, confidence=None, **formula_kwargs):
    """`keras_confusion.tune_threshold` on a Dask DataFrame, exact: the same threshold,
    value and confusion matrix, without collecting the scores (module docstring).
    A floor guaranteed on new data (``confidence=``) is not chosen here yet: tune on
    one machine (`keras_confusion.tune_threshold`).

    Args:
        ddf: a ``dask.dataframe.DataFrame``.
        objective, cost_matrix, constraint, vectorized, greater_is_better,
            **formula_kwargs: as `keras_confusion.tune_threshold`.
        label: the label column (0/1), or one per score column with ``multilabel``.
        score: the column of class-1 scores, or one per label with ``multilabel``.
        sample_weight: the name of a column of weights. Defaults to `None`.
        multilabel: one threshold per (label, score) column pair. Defaults to `False`.
        bins: histogram bins of the first pass; more bins send more to the client in
            the histogram and fewer gathered scores. Defaults to `2**16`.
        gather_rows: when the bins that can win hold more rows than this, they are
            split again (``bins`` more bins among them) and counted in one more pass,
            until the rows to gather fit (or stop shrinking by half). Defaults to
            `2**22`.

    Returns:
        A `keras_confusion.decisions.ThresholdResult` (a
        `MultilabelThresholdResult` with ``multilabel=True``). Its ``thresholds``,
        ``values`` and ``confusion_matrices`` hold the candidates the search counted
        exactly (the gathered scores and the first scores it needed), not every
        distinct score.
    """
    if confidence is not None:  # it read "`confidence` must be not given: it is neither
        # an argument of tune_threshold nor of formula ..."
        raise arg_error("confidence", confidence, "None: a guaranteed floor is chosen on "
                        "one machine only (keras_confusion.tune_threshold), not on Dask yet")
    fn, name, kwargs, vectorized, greater = resolve_objective(
        objective, cost_matrix, formula_kwargs, vectorized, greater_is_better, constraint)
    constraint = resolve_constraint(constraint, cost_matrix)
    weight = _weight_column(sample_weight)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise arg_error("bins", bins, "an integer >= 1")
    if isinstance(gather_rows, bool) or not isinstance(gather_rows, (int, np.integer)) \
            or gather_rows < 0:
        raise arg_error("gather_rows", gather_rows, "an integer >= 0")
    pairs = _label_columns(label, score, multilabel)
    if not multilabel and pairs[0][2] != 2:
        raise arg_error("score", score, "one column of class-1 scores (pass multilabel=True "
                        "for one threshold per label)")
    sources = _sources(ddf)
    results = []
    for i, (lab, sc, _) in enumerate(pairs):
        try:
            results.append(_tune_column(sources, _Columns(lab, sc, weight, 2), fn, name,
                                        kwargs, vectorized, greater, constraint, int(bins),
                                        gather_rows=int(gather_rows))[0])
        except InputError:
            raise
        except ValueError as e:
            if not multilabel:
                raise
            raise ValueError(f"Label {i}: {e}") from None
    if not multilabel:
        return results[0]
    return MultilabelThresholdResult.from_results(results, name)
