"""Classification report over the whole data set, with confidence intervals.

``report(y_true, y_score)`` counts one confusion matrix at the chosen threshold
(binary) or at the argmax (multiclass) and computes every figure with the formulas of
`keras_confusion.formulas`, on that matrix and on a ``(R, K, K)`` stack of replicas.

Interval method: a Bayesian bootstrap with the Jeffreys prior. Every figure of the
report depends on the samples only through the ``K * K`` cell probabilities ``p`` of
the confusion matrix; with the Jeffreys prior ``Dirichlet(1/2, ..., 1/2)`` their
posterior given the counts is ``Dirichlet(cm + 1/2)``. The ``R`` replicas are draws of
``p`` from that posterior, scaled to the total count ``N`` so that the formulas see
count-like matrices (every figure is a ratio of counts, so the scale changes nothing;
expected cost is per sample). The interval of a figure is the equal-tailed posterior
interval: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the
figure over the replicas, widened where needed to contain the figure's value on the
observed matrix (a figure at its bound, recall 1 with no misses, gets upper end 1, as
in the modified Jeffreys interval of Brown, Cai and DasGupta, 2001). The draws cost
nothing per sample: a stream of 100 M rows costs as much as 100 rows. They cost time
in ``R * K * K`` (``R = 1000``: 5 s at ``K = 300``; ``K = 1000``: 8 s per 100 replicas),
and are reduced in blocks of replicas of about 2 M cells, so memory does not grow with
``R`` (peak of the process at ``K = 1000``: 230 MB; ``K = 2000``: 570 MB).

Unlike the percentile bootstrap (resampling the samples, i.e. drawing
``Multinomial(N, cm / N)``), a cell never observed keeps posterior mass, so a figure
at its bound (accuracy 1, no false positives) gets an interval of non-zero width, and
no replica has an empty denominator. A sum of cells has the summed Dirichlet
parameters, so a ratio ``a / (a + b)`` of two groups of cells has the posterior
``Beta(a + m / 2, b + n / 2)``, ``m`` and ``n`` the numbers of cells in each group:
for a binary report the recall, precision and specificity of a class have exactly the
Jeffreys interval, ``Beta(a + 1/2, b + 1/2)``, whose coverage stays near nominal for
rare classes and rates near 0 or 1.

Weighted samples (``sample_weight``): a cell holds the sum ``W`` of its samples' weights
and ``Q``, the sum of their squares. Its replicas are ``(Q / W) * Gamma(W**2 / Q + 1/2)``:
``W**2 / Q`` is the cell's Kish effective number of samples, and ``Q / W`` the weight one
of them stands for (for an empty cell, that of its true class's row; of the whole
matrix when the row is empty). With unit weights this is the unweighted method above,
draw for draw. Scaling every weight by a constant changes no figure and no interval;
weights constant within each true class (class weights) leave every per-class recall
interval as it was without them. Coverage of the 95% intervals in simulations (2,000
data sets each): 0.93-0.95 with class weights or Pareto(2.5) weights at 200 samples;
with log-normal weights (sigma 1.5) 0.85-0.91 at 200 samples and 0.91-0.95 at 2,000.
It falls below nominal where the effective counts are small (below about 30), as any
interval built on them does; weighted sums taken as counts covered 0.30-0.90.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from keras_confusion import _text, formulas
from keras_confusion._counting import count_matrix, decide, exact_curve
from keras_confusion._files import write_atomic
from keras_confusion._guarantee import check_guarantee
from keras_confusion._validation import (
    arg_error,
    check_cost_matrix,
    check_labels_scores,
    check_probability,
    check_sample_weight,
    check_zero_division,
)

__all__ = ["Report", "report"]

#: Per-class figures of the table, in column order, with the formula computing each.
PER_CLASS = {
    "precision": formulas.precision,
    "recall": formulas.recall,
    "specificity": formulas.specificity,
    "f1": formulas.f1,
}
#: Whole-matrix figures.
OVERALL = {
    "accuracy": formulas.accuracy,
    "balanced_accuracy": formulas.balanced_accuracy,
    "mcc": formulas.mcc,
    "cohen_kappa": formulas.cohen_kappa,
}


# ------------------------------------------------------------------ intervals


#: The most replicas a report takes: the replicas are kept in memory, (R, K, K) floats.
MAX_BOOTSTRAP = 100_000


#: Cells of the matrices whose figures are computed at once (`Report._stacks`).
_BLOCK_CELLS = 1 << 21


def bootstrap_matrices(cm, replicas: int, seed=0, squared_weights=None) -> np.ndarray:
    """``(R, ..., K, K)`` replicas of ``(..., K, K)`` confusion matrices for intervals.

    Each replica is a draw of the cell probabilities from their Jeffreys posterior
    ``Dirichlet(cm + 1/2)`` (a Bayesian bootstrap; see the module docstring), scaled
    to the matrix's total count ``N``: vectorised over replicas and any leading axes.
    With ``squared_weights``, ``cm`` holds sums of sample weights and each cell is
    drawn by its Kish effective count (module docstring).

    Args:
        cm: ``(..., K, K)`` non-negative counts, or sums of weights.
        replicas: the number ``R`` of replicas.
        seed: seed of `numpy.random.default_rng`, or a ``Generator``. Defaults to `0`.
        squared_weights: ``(..., K, K)`` sums of the squared weights of each cell, or
            `None` (counts: every weight 1). Defaults to `None`.

    Returns:
        ``(R, ..., K, K)`` float64 count-like matrices; every cell is positive and each
        replica sums to the same ``N`` as its matrix.
    """
    return np.concatenate(list(_replica_blocks(cm, replicas, seed, squared_weights,
                                               max(replicas, 1))))


def _replica_blocks(cm, replicas: int, seed, squared_weights, block: int):
    """`bootstrap_matrices` in blocks of at most ``block`` replicas, drawn in the same
    order: concatenated, they are its array, draw for draw."""
    cm = np.asarray(cm, dtype="float64")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    k = cm.shape[-1]
    flat = cm.reshape((*cm.shape[:-2], k * k))
    unit = None
    if squared_weights is None:
        alpha = flat + 0.5
    else:
        q = _check_squared_weights(squared_weights, cm)
        unit = _weight_units(cm, q).reshape(flat.shape)
        q = q.reshape(flat.shape)
        seen = flat > 0
        # W * (W / Q): exactly W when every weight is 1 (W * W is not, past 2**26).
        alpha = np.where(seen, flat * (flat / np.where(seen, q, 1.0)), 0.0) + 0.5
    n = cm.sum(axis=(-2, -1))
    for start in range(0, replicas, block):
        size = min(block, replicas - start)
        # Dirichlet(alpha) as normalised Gamma(alpha) draws (what Generator.dirichlet
        # does for alpha >= 0.1), here over any leading axes at once.
        draws = rng.standard_gamma(alpha, size=(size, *alpha.shape))
        if unit is not None:
            draws *= unit
        draws *= (n / draws.sum(axis=-1))[..., None]
        yield draws.reshape((size, *cm.shape))


def _weight_units(cm: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``Q / W`` of each cell of ``(..., K, K)`` weighted counts: the weight one effective
    sample stands for. An empty cell takes its row's (its true class's samples), or the
    whole matrix's when the row is empty too (1 where the matrix is empty)."""
    def ratio(num, den, fallback):
        return np.divide(num, den, out=np.broadcast_to(fallback, np.broadcast_shapes(
            num.shape, den.shape)).copy(), where=den > 0)

    whole = ratio(q.sum(axis=(-2, -1), keepdims=True), cm.sum(axis=(-2, -1), keepdims=True),
                  np.ones(()))
    row = ratio(q.sum(axis=-1, keepdims=True), cm.sum(axis=-1, keepdims=True), whole)
    return ratio(q, cm, row)


def _class_expected_cost(cms: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Expected cost per sample of each true class, ``(..., K)``: `formulas.expected_cost`
    of its row alone (0 for an empty row). Row by row: the matrices with one row
    kept, ``(..., K, K, K)``, took 2 GB a block at K = 120."""
    cost = check_cost_matrix(cost, cms.shape[-1])
    num, den = np.sum(cms * cost, axis=-1), np.sum(cms, axis=-1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


# ------------------------------------------------------------------------- report


class Report:
    """A confusion matrix with per-class and overall figures and their intervals.

    Build it with `report` (arrays in memory) or `Report.from_confusion_matrix`
    (counts accumulated elsewhere, e.g. by the command line over a stream).

    Attributes:
        confusion_matrix: ``(K, K)`` int64 counts, rows true, columns predicted (float64
            sums of sample weights in a weighted report).
        weighted: whether the cells are sums of sample weights (``sample_weight`` of
            `report`, ``squared_weights`` here).
        squared_weights: ``(K, K)`` sums of the squared weights of each cell, or `None`.
        num_samples: the number of samples (the total weight in a weighted report).
        num_rows: the number of samples counted, weighted or not; `None` for a
            weighted matrix given without ``num_rows``.
        class_names: the ``K`` class names.
        table: per-class columns as a dict of lists (``pandas.DataFrame(r.table)``
            works): ``class``, ``support``, then for each figure its value and
            ``<figure>_low``, ``<figure>_high`` interval bounds.
        overall: ``{name: (value, low, high)}`` for accuracy, balanced accuracy,
            MCC, Cohen's kappa (and expected cost with a cost matrix).
        bootstrap_matrices: the ``(R, K, K)`` float64 replicas (Jeffreys-Dirichlet
            posterior draws scaled to the total count), or `None` when ``R = 0``;
            drawn again, the same, on each access (the report keeps its figures only).
        threshold: the decision threshold (binary), or `None` (argmax).
        curve: ``(thresholds, (T, 2, 2) counts)`` of the binary curve the figure draws,
            or `None`. `report` keeps only the points the figure uses
            (`plot.drawn_points`); for the exact curve use `tune_threshold`, whose
            result holds every candidate.
        guarantee: what the threshold guarantees on new data, as
            ``tune_threshold(..., confidence=c).guarantee`` gives it, or `None`.
        notes: lines the renderers add after the figures (e.g. how the matrix was
            estimated), or an empty list.
        decision: how the matrix's decisions were made, as the renderers state it
            after the number of samples: ``"positive when score >= 0.5"``,
            ``"decision: argmax"``, or the text given (a cross-fitted matrix is at no
            one threshold).
    """

    def __init__(self, confusion_matrix, *, class_names=None, cost_matrix=None,
                 bootstrap=1000, seed=0, confidence=0.95, threshold=None, curve=None,
                 zero_division=0.0, squared_weights=None, guarantee=None, notes=None,
                 decision=None, num_rows=None):
        try:
            cm = np.asarray(confusion_matrix)
            if cm.dtype.kind == "O":  # e.g. lists holding None or numbers
                cm = cm.astype("float64")
            if cm.dtype.kind not in "biuf":  # strings are not counts
                raise TypeError
        except (TypeError, ValueError):
            raise arg_error("confusion_matrix", "<non-numeric array>",
                            "a (K, K) matrix of non-negative integer counts") from None
        if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] < 2:
            raise arg_error("confusion_matrix", f"<array of shape {cm.shape}>",
                            "a (K, K) matrix of counts with K >= 2")
        self.weighted = squared_weights is not None
        if not self.weighted and (not np.all(np.isfinite(cm)) or np.any(cm < 0)
                                  or np.any(cm != np.round(cm))):
            raise arg_error("confusion_matrix", "<array>", "non-negative integer counts")
        if self.weighted and (not np.all(np.isfinite(cm)) or np.any(cm < 0)):
            raise arg_error("confusion_matrix", "<array>",
                            "finite non-negative sums of sample weights")
        # The total must fit int64: no silent wrap-around.
        total = float(np.sum(cm, dtype=np.float64))
        if total >= 2.0 ** 62 and not self.weighted:
            raise arg_error("confusion_matrix", f"<counts summing to {total:.3g}>",
                            "counts whose total is below 2**62")
        if total == 0:
            if self.weighted:
                raise arg_error("confusion_matrix", "<sums of weights that are all zero>",
                                "a positive weight on at least one sample")
            raise arg_error("confusion_matrix", "<counts that are all zero>",
                            "counts of at least one sample (a report of nothing has no "
                            "figures)")
        self.squared_weights = _check_squared_weights(squared_weights, cm)
        self.confusion_matrix = cm.astype(np.float64 if self.weighted else np.int64)
        k = cm.shape[0]
        self.num_samples = float(cm.sum()) if self.weighted else int(cm.sum())
        self.num_rows = _check_num_rows(num_rows, None if self.weighted else self.num_samples)
        self.class_names = _check_class_names(class_names, k)
        self.cost_matrix = None if cost_matrix is None else check_cost_matrix(cost_matrix, k)
        self.confidence = check_probability("confidence", confidence, open_low=True,
                                            open_high=True)
        self.bootstrap = check_bootstrap(bootstrap)
        self.seed = _check_seed(seed)
        self.threshold = _check_report_threshold(threshold)
        self.zero_division = check_zero_division(zero_division)
        # (thresholds ascending, (T, 2, 2)) for binary scores, or None
        self.curve = _check_curve(curve, k)
        self.guarantee = check_guarantee(guarantee)
        self.notes = _check_notes(notes)
        self.decision = _check_decision(decision, self.threshold)
        # The replicas' Generator, copied before it draws, so that `bootstrap_matrices`
        # draws the same ones again (with seed=None too: fresh entropy, taken once).
        rng = self.seed if isinstance(self.seed, np.random.Generator) \
            else np.random.default_rng(self.seed)
        self._draw_seed = copy.deepcopy(rng)
        self._compute(rng)

    @property
    def bootstrap_matrices(self):
        """The ``(R, K, K)`` replicas, drawn again on each access (the report keeps
        only its figures: at ``K = 1000`` and ``R = 1000`` the replicas take 8 GB)."""
        if not self.bootstrap:
            return None
        return bootstrap_matrices(self.confusion_matrix, self.bootstrap,
                                  copy.deepcopy(self._draw_seed), self.squared_weights)

    @classmethod
    def from_confusion_matrix(cls, confusion_matrix, **kwargs) -> Report:
        """A report from ``(K, K)`` counts accumulated elsewhere.

        Args:
            confusion_matrix: ``(K, K)`` non-negative integer counts, rows true,
                columns predicted.
            **kwargs: the keyword arguments of `Report` (not all those of `report`:
                no ``num_classes``, which is the matrix's ``K``):

                * ``class_names``: ``K`` names. Defaults to `None` (``"0"``, ...).
                * ``cost_matrix``: ``(K, K)`` costs, rows true, columns decision.
                  Defaults to `None`.
                * ``bootstrap``: replicas ``R`` (at most ``MAX_BOOTSTRAP``); 0 gives
                  no intervals. Defaults to `1000`.
                * ``seed``: seed of the replicas. Defaults to `0`.
                * ``confidence``: level of the intervals. Defaults to `0.95`.
                * ``threshold``: the binary threshold the counts were taken at, as
                  the report states it. Defaults to `None`, which reports the
                  decision as the argmax ("decision: argmax"); pass ``threshold=``
                  to state a binary threshold.
                * ``curve``: ``(thresholds ascending, (T, 2, 2) counts)`` for the
                  precision-recall and ROC panels of the figure. Defaults to
                  `None` (no curves).
                * ``zero_division``: the value of a figure whose denominator is 0.
                  Defaults to `0.0`.
                * ``squared_weights``: for a matrix of sums of sample weights, the
                  ``(K, K)`` sums of their squares (the intervals need both). Defaults
                  to `None` (integer counts).
                * ``guarantee``: what the threshold guarantees on new data
                  (``tune_threshold(..., confidence=c).guarantee``). Defaults to
                  `None`.
                * ``notes``: lines added after the figures. Defaults to `None`.
                * ``decision``: the statement of how the decisions were made, in
                  place of ``"positive when score >= <threshold>"`` (or ``"decision:
                  argmax"``). Defaults to `None`.
                * ``num_rows``: with ``squared_weights``, the number of samples
                  whose weights the matrix sums (the JSON's ``num_rows``). Defaults
                  to `None` (unknown; integer counts are their own number).

        Returns:
            A `Report`.
        """
        return cls(confusion_matrix, **kwargs)

    # -------------------------------------------------------------------- figures

    def _stacks(self, rng):
        """The matrix, then its replicas in ``(B, K, K)`` stacks of a bounded size
        (`_BLOCK_CELLS`): the figures of one ``(R, K, K)`` stack took several arrays
        of its size (``K = 300``, ``R = 1000``: 3.5 GB; ``K = 2000`` ran out of
        memory)."""
        cm = self.confusion_matrix
        yield cm[None]
        if self.bootstrap:
            block = max(1, _BLOCK_CELLS // cm.size)
            yield from _replica_blocks(cm, self.bootstrap, rng, self.squared_weights, block)

    def _compute(self, rng):
        q = ((1 - self.confidence) / 2, (1 + self.confidence) / 2)
        z = self.zero_division

        def split(values):  # (1 + R, ...) -> value, low, high
            if values.shape[0] == 1:
                return values[0], np.full_like(values[0], np.nan), np.full_like(values[0], np.nan)
            low, high = np.quantile(values[1:], q, axis=0)
            # Widened to hold the point value where the tails leave it out: a figure at
            # its bound (recall 1 with no misses) gets upper end 1, as in the modified
            # Jeffreys interval of Brown, Cai and DasGupta (2001).
            return values[0], np.minimum(low, values[0]), np.maximum(high, values[0])

        table = {"class": list(self.class_names),
                 "support": self.confusion_matrix.sum(axis=1).tolist()}
        blocks = []
        for stack in self._stacks(rng):
            per_class = {name: fn(stack, average=None, zero_division=z)
                         for name, fn in PER_CLASS.items()}
            overall = {name: fn(stack, zero_division=z) for name, fn in OVERALL.items()}
            if self.cost_matrix is not None:
                per_class["expected_cost"] = _class_expected_cost(stack, self.cost_matrix)
                overall["expected_cost"] = formulas.expected_cost(stack, self.cost_matrix)
            blocks.append((per_class, overall))
        per_class, overall = ({name: np.concatenate([b[i][name] for b in blocks])
                               for name in blocks[0][i]} for i in (0, 1))
        for name, values in per_class.items():
            v, lo, hi = split(values)
            table[name], table[f"{name}_low"], table[f"{name}_high"] = (
                v.tolist(), lo.tolist(), hi.tolist())
        self.table = table
        self.figures = list(per_class)
        self.overall = {name: tuple(float(x) for x in split(values))
                        for name, values in overall.items()}

    # --------------------------------------------------------------------- output
    # The renderers live beside the class, in `_text` (text, JSON) and `_html`.

    def size_text(self) -> str:
        """``"N samples"``, or the total weight of a weighted report."""
        return _text.size_text(self)

    def to_dict(self) -> dict:
        """The report as plain JSON-serialisable Python objects (NaN becomes `None`)."""
        return _text.report_dict(self)

    def to_json(self, path=None, *, indent=2) -> str:
        """The `to_dict` report as JSON text; also written to ``path`` (whole or not at
        all) when given."""
        return _text.render_json(self, path, indent=indent)

    def to_text(self) -> str:
        """A plain-text report: matrix, per-class table and overall figures."""
        return _text.render_text(self)

    def __str__(self) -> str:
        return _text.render_text(self)

    def __repr__(self) -> str:
        return (f"Report(num_samples={self.num_samples}, num_classes="
                f"{len(self.class_names)}, bootstrap={self.bootstrap}"
                f"{', weighted=True' if self.weighted else ''})")

    def plot(self):
        """The report's figure: the confusion matrix (counts and row-normalised), plus
        precision-recall and ROC curves for binary scores. Returns a matplotlib Figure."""
        from keras_confusion import plot

        return plot.report_figure(self)

    def to_html(self, path=None, *, tuned=None, guarantee=None) -> str:
        """One self-contained HTML page that works offline: an explorer, the tables and
        the figure (a base64 PNG, for print and readers without scripts).

        Binary reports with a curve get a threshold explorer: a slider and a number
        field over the stored curve points (the report's ``curve``), the confusion
        matrix, precision, recall, specificity, F1, MCC and the expected cost following
        it, on precision-recall and ROC curves drawn by the page. ``#threshold=X`` in
        the page's address opens it at the stored candidate nearest ``X``. Multiclass
        reports get the matrix as a heat table; clicking a class shows its one-vs-rest
        figures. The page makes no network request (its Content-Security-Policy
        forbids them) and fits windows from 390 px wide.

        Args:
            path: where to write the page (written whole or not at all); `None` only
                returns it. Defaults to `None`.
            tuned: a tuned threshold to mark, or the `ThresholdResult` of
                `tune_threshold` (its threshold; and its guarantee when it states one,
                a ``confidence`` and ``bound`` under a constraint). Defaults to `None`.
            guarantee: a floor guaranteed on new data, ``{"name", "floor",
                "confidence", "bound"}`` (optionally ``"threshold"``; defaults to the
                tuned one, else the report's). Defaults to `None`.

        Returns:
            The HTML text.
        """
        from keras_confusion._html import report_html

        page = report_html(self, tuned=tuned, guarantee=guarantee)
        if path is not None:
            write_atomic(path, page.encode("utf-8"))
        return page


def _check_decision(decision, threshold) -> str:
    if decision is None:
        return ("decision: argmax" if threshold is None
                else f"positive when score >= {threshold!r}")
    if not isinstance(decision, str) or not decision.strip():
        raise arg_error("decision", decision, "None or a non-empty string")
    return decision


def _check_notes(notes):
    if notes is None:
        return []
    if isinstance(notes, str) or not all(isinstance(n, str) for n in notes):
        raise arg_error("notes", notes, "None or a list of strings")
    return list(notes)


def _check_seed(seed):
    """``seed`` as `numpy.random.default_rng` takes it: None, an int >= 0 or a Generator."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise arg_error("seed", seed, "None, an integer >= 0 or a numpy.random.Generator")
    return int(seed)


def check_bootstrap(bootstrap, name: str = "bootstrap") -> int:
    """The number of replicas: 0 (no intervals) or an integer in [2, MAX_BOOTSTRAP]."""
    expected = (f"the number of replicas: 0 (no intervals) or an integer from 2 to "
                f"{MAX_BOOTSTRAP}")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) \
            or bootstrap < 0 or bootstrap == 1 or bootstrap > MAX_BOOTSTRAP:
        raise arg_error(name, bootstrap, expected)
    return int(bootstrap)


def _check_report_threshold(threshold):
    """None (argmax), or a number that is not NaN (inf: nothing positive)."""
    if threshold is None:
        return None
    return check_threshold_number(
        threshold, "None (argmax) or a number, not NaN (inf: nothing positive)")


def check_threshold_number(threshold, expected="a number, not NaN (inf: nothing positive)"):
    """A binary threshold as a float: a number, not NaN (inf is allowed: nothing
    positive, as `tune_threshold` may choose); a string such as ``"0.5"`` or a bool is
    refused, as `Report` refuses it (`report` took ``"0.5"``)."""
    if isinstance(threshold, (str, bytes, bool, np.bool_)):
        raise arg_error("threshold", threshold, expected)
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise arg_error("threshold", threshold, expected) from None
    if np.isnan(value):
        raise arg_error("threshold", threshold, expected)
    return value


def _check_num_rows(num_rows, counted):
    """``num_rows`` as an int (None stays None); ``counted``, the total of integer
    counts, is the number of rows, and ``num_rows`` must agree with it."""
    if num_rows is None:
        return counted
    if isinstance(num_rows, (bool, np.bool_)) or not isinstance(num_rows, (int, np.integer)) \
            or num_rows < 0 or (counted is not None and num_rows != counted):
        expected = ("a whole number >= 0" if counted is None else
                    f"{counted}, the number of samples the counts sum to (or None)")
        raise arg_error("num_rows", num_rows, expected)
    return int(num_rows)


def _check_curve(curve, k: int):
    """None, or ``(thresholds (T,) ascending, (T, 2, 2) counts)`` of binary scores."""
    if curve is None:
        return None
    expected = ("None or a pair (thresholds of shape (T,) ascending, counts of shape "
                "(T, 2, 2)) of binary scores")
    if k != 2:
        raise arg_error("curve", f"<{type(curve).__name__}>", f"None for {k} classes: "
                        "curves are drawn for binary scores only")
    if isinstance(curve, (str, bytes)) or not isinstance(curve, Sequence) or len(curve) != 2:
        shown = curve if isinstance(curve, (str, bytes)) else f"<{type(curve).__name__}>"
        raise arg_error("curve", shown, expected)
    try:
        thresholds = np.asarray(curve[0], dtype="float64")
        cms = np.asarray(curve[1], dtype="float64")
    except (TypeError, ValueError):
        raise arg_error("curve", "<non-numeric arrays>", expected) from None
    if thresholds.ndim != 1 or cms.shape != (thresholds.size, 2, 2):
        raise arg_error("curve", f"<arrays of shapes {thresholds.shape} and {cms.shape}>",
                        expected)
    if np.any(np.isnan(thresholds)) or np.any(np.diff(thresholds) < 0) \
            or not np.all(np.isfinite(cms)) or np.any(cms < 0):
        raise arg_error("curve", "<arrays>", expected + ", thresholds not NaN, counts "
                        "finite and non-negative")
    return curve


def _check_squared_weights(squared_weights, cm: np.ndarray):
    """None, or float64 sums of squared weights consistent with the weighted ``cm``:
    of its shape, finite, positive exactly where ``cm`` is, at most ``cm ** 2``."""
    if squared_weights is None:
        return None
    expected = (f"a {cm.shape} matrix of the sums of the squared sample weights of each "
                "cell: finite, positive exactly where confusion_matrix is, at most its "
                "square")
    try:
        q = np.asarray(squared_weights, dtype="float64")
    except (TypeError, ValueError):
        raise arg_error("squared_weights", "<non-numeric array>", expected) from None
    if q.shape != cm.shape:
        raise arg_error("squared_weights", f"<array of shape {q.shape}>", expected)
    # Q <= W**2 (W * (W * (1 + 1e-9)) rather than W * W: W may be near the float64 limit).
    if not np.all(np.isfinite(q)) or np.any(q < 0) or np.any((q > 0) != (cm > 0)) \
            or np.any(q > cm * (cm * (1 + 1e-9))):
        raise arg_error("squared_weights", "<array>", expected)
    return q


#: Positive weights of a weighted report lie in this range: the sums of their squares,
#: which the intervals need, are then finite and non-zero.
WEIGHT_RANGE = (1e-100, 1e100)


def check_report_weights(w: np.ndarray, name: str = "sample_weight") -> None:
    """Refuse positive weights outside `WEIGHT_RANGE`."""
    lo, hi = WEIGHT_RANGE
    bad = (w != 0) & ((w < lo) | (w > hi))
    if bad.any():
        i = int(np.argmax(bad))
        raise arg_error(name, f"<{w[i].item()} at sample {i}>",
                        f"0, or from {lo:g} to {hi:g} (the intervals need the squares of "
                        "the weights); scale every weight alike, which changes no figure")


def _check_class_names(class_names, k: int) -> list:
    if class_names is None:
        return [str(i) for i in range(k)]
    if isinstance(class_names, (str, bytes)):  # a string is one name, not K letters
        raise arg_error("class_names", class_names,
                        f"a sequence of {k} names (one per class), not one string")
    try:
        names = list(class_names)
    except TypeError:
        raise arg_error("class_names", f"<{type(class_names).__name__}>",
                        f"a sequence of {k} names (one per class)") from None
    if len(names) != k:
        raise arg_error("class_names", class_names, f"a sequence of {k} names (one per class)")
    names = [str(n) for n in names]
    if len(set(names)) < k:  # the table, the JSON's keys and the page would confuse them
        twice = next(n for n in names if names.count(n) > 1)
        raise arg_error("class_names", class_names,
                        f"{k} distinct names ({twice!r} is given {names.count(twice)} times)")
    return names


def report(
    y_true,
    y_score,
    *,
    threshold=0.5,
    num_classes=None,
    class_names: Sequence[str] | None = None,
    cost_matrix=None,
    bootstrap: int = 1000,
    seed=0,
    confidence: float = 0.95,
    sample_weight=None,
) -> Report:
    """A classification report with Bayesian-bootstrap (Jeffreys) confidence intervals.

    Args:
        y_true: integer class labels, array-like of shape ``(n_samples,)`` (or one-hot
            ``(n_samples, K)`` with multiclass scores).
        y_score: binary scores of class 1, ``(n_samples,)``; or multiclass scores
            ``(n_samples, K)``, decided by argmax.
        threshold: binary only: positive when ``score >= threshold``, in the units of
            ``y_score``. Defaults to `0.5`.
        num_classes: optional check of ``K``; the task is read from the shape of
            ``y_score``, never from its values. Defaults to `None`.
        class_names: ``K`` names for the table and figures. Defaults to `None`
            (``"0"``, ``"1"``, ...).
        cost_matrix: optional ``(K, K)`` costs (rows true, columns decision); adds the
            expected cost per sample, per class and overall. Defaults to `None`.
        bootstrap: number of replicas ``R`` (draws from the Jeffreys-Dirichlet
            posterior of the cells; see the module docstring), at most
            ``MAX_BOOTSTRAP``; 0 gives no intervals. Defaults to `1000`.
        seed: seed of the draws. Defaults to `0`.
        confidence: level of the equal-tailed intervals. Defaults to `0.95`.
        sample_weight: optional weights ``(n_samples,)``, finite and >= 0: the matrix,
            every figure and the curves are weighted (as scikit-learn's with
            ``sample_weight``), and the intervals take each cell's Kish effective
            number of samples (module docstring). Defaults to `None`.

    Returns:
        A `Report`.

    Example:

    >>> r = report([0, 0, 1, 1, 1], [0.1, 0.6, 0.7, 0.8, 0.3], bootstrap=200)
    >>> r.confusion_matrix.tolist()
    [[1, 1], [1, 2]]
    >>> round(r.table["recall"][1], 3)
    0.667
    """
    t, s, k = check_labels_scores(y_true, y_score, num_classes)
    w = check_sample_weight(sample_weight, t.shape[0], some_positive=True)
    if w is not None:
        check_report_weights(w)
    curve = None
    if s.ndim == 1:
        thr = check_threshold_number(threshold)
        pred = decide(s, thr).astype(np.intp)
        # Only the points its figure draws: the exact curve has one per distinct score
        # (40 bytes each: 400 MB kept for 10 M scores).
        from keras_confusion.plot import drawn_points

        thresholds, cms = exact_curve(t, s, w)
        keep = drawn_points(thresholds, cms, thr)
        curve = (thresholds[keep], cms[keep])
    else:
        if isinstance(threshold, (bool, np.bool_)) or not (
                isinstance(threshold, (int, float, np.number)) and threshold == 0.5):
            raise arg_error("threshold", threshold, "0.5 (the default) with multiclass "
                            "scores, whose decisions are the argmax")
        thr = None
        pred = s.argmax(axis=1)
    return Report(count_matrix(t, pred, k, w), class_names=class_names,
                  cost_matrix=cost_matrix, bootstrap=bootstrap, seed=seed,
                  confidence=confidence, threshold=thr, curve=curve,
                  squared_weights=None if w is None else count_matrix(t, pred, k, w * w),
                  num_rows=t.shape[0])
