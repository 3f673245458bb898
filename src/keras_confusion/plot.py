"""Matplotlib figures: confusion matrices, curves, threshold search, training history.

matplotlib is imported lazily (install ``keras-confusion[plot]``); every function
returns a ``matplotlib.figure.Figure`` built without pyplot's global state, so it works
with any backend (``Agg`` on a server) and never opens a window by itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from keras_confusion import formulas
from keras_confusion._validation import arg_error, check_sample_weight

__all__ = [
    "confusion_matrix",
    "guarantee_curve",
    "metric_history",
    "precision_recall_curve",
    "roc_curve",
    "threshold_curve",
]

_MAX_POINTS = 2000  # a curve with more points looks the same and renders slower


def _figure(figsize):
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "keras_confusion.plot needs matplotlib: pip install 'keras-confusion[plot]'"
        ) from None
    return Figure(figsize=figsize, layout="constrained")


# User strings (class names, titles, metric names) are drawn as written: with mathtext
# a "$" would start a formula ("$5-$10" drawn as math, "$a^$" a parse error).
_LITERAL = {"parse_math": False}


def _literal_legend(ax, **kwargs):
    legend = ax.legend(**kwargs)
    for text in legend.get_texts():
        text.set_parse_math(False)
    return legend


def _suptitle(fig, title):
    fig.suptitle(str(title), **_LITERAL)


# ---------------------------------------------------------------- confusion matrix


def _draw_matrix(ax, values, annot, names, title, cmap, vmax):
    k = values.shape[0]
    im = ax.imshow(values, cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest")
    ticks = np.arange(k)
    label_size = 10 if k <= 10 else max(6, 10 - (k - 10) // 3)
    ax.set_xticks(ticks, [str(n) for n in names], fontsize=label_size,
                  rotation=45 if k > 5 or max(len(str(n)) for n in names) > 6 else 0,
                  ha="right" if k > 5 else "center", **_LITERAL)
    ax.set_yticks(ticks, [str(n) for n in names], fontsize=label_size, **_LITERAL)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if annot is not None and k <= 30:
        size = 10 if k <= 8 else max(6, 10 - (k - 8) // 4)
        thresh = 0.5 * vmax
        for i in range(k):
            for j in range(k):
                ax.text(j, i, annot[i][j], ha="center", va="center", fontsize=size,
                        color="white" if values[i, j] > thresh else "black")
    return im


def _matrix_panels(fig, axes, cm, names, panels):
    """Draw ``"counts"`` and/or ``"true"`` (row-normalised) heatmaps on ``axes``."""
    k = cm.shape[0]
    support = cm.sum(axis=1, keepdims=True)
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "counts":
            from keras_confusion._counting import count_text

            annot = [[count_text(c) for c in row] for row in cm]
            im = _draw_matrix(ax, cm, annot, names, "counts", "Blues", max(cm.max(), 1.0))
        else:
            rates = np.divide(cm, support, out=np.zeros_like(cm), where=support > 0)
            fmt = "{:.0%}" if k > 6 else "{:.1%}"
            annot = [[fmt.format(c) for c in row] for row in rates]
            im = _draw_matrix(ax, rates, annot, names, "normalised by true class (recall)",
                              "Blues", 1.0)
        fig.colorbar(im, ax=ax, shrink=0.8)


def confusion_matrix(cm, *, class_names: Sequence[str] | None = None, normalize="both",
                     title: str | None = None):
    """Heatmap of a confusion matrix: counts, row-normalised (recall per class), or both.

    Args:
        cm: ``(K, K)`` counts, rows true, columns predicted.
        class_names: ``K`` tick labels. Defaults to `None` (``0 ... K-1``).
        normalize: ``"both"`` (counts beside row-normalised), ``"true"`` (rows sum to
            1) or `None` (counts). Defaults to `"both"`.
        title: figure title. Defaults to `None`.

    Returns:
        A matplotlib Figure.

    Example:

    >>> fig = confusion_matrix([[50, 3], [7, 40]], class_names=["ham", "spam"])
    """
    cm = np.asarray(cm, dtype="float64")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] < 2:
        raise arg_error("cm", f"<array of shape {cm.shape}>", "a (K, K) confusion matrix")
    if normalize not in ("both", "true", None):
        raise arg_error("normalize", normalize, '"both", "true" or None')
    k = cm.shape[0]
    names = list(range(k)) if class_names is None else list(class_names)
    if len(names) != k:
        raise arg_error("class_names", class_names, f"a sequence of {k} names")
    panels = ["counts", "true"] if normalize == "both" else [normalize or "counts"]
    side = 3.2 + 0.4 * k
    fig = _figure((side * len(panels) + 0.8 * len(panels), side))
    _matrix_panels(fig, fig.subplots(1, len(panels), squeeze=False)[0], cm, names, panels)
    if title:
        _suptitle(fig, title)
    return fig


# ------------------------------------------------------------------------- curves


def _unit(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to [0, 1] by its range (as an axis would show it)."""
    ok = np.isfinite(v)
    if not ok.any():
        return np.zeros_like(v)
    low, high = v[ok].min(), v[ok].max()
    if high <= low:
        return np.zeros_like(v)
    return np.where(ok, (v - low) / (high - low), 0.0)


def _thin(x, y) -> np.ndarray:
    """Indices of the points to draw of the curve through ``(x, y)``, in order.

    Every point up to _MAX_POINTS. Beyond, the curve (each axis scaled to [0, 1]) is
    cut into ``_MAX_POINTS // 2 - 1`` pieces of equal length, and the points kept are
    the two ends and both ends of every segment that crosses from one piece into the
    next: at most _MAX_POINTS points, every segment longer than a piece drawn exactly,
    and no dropped point farther than one piece (1/1000 of the curve's length) from
    the line drawn, so the drawn curve keeps the shape of the whole curve, including
    its steep ends (the top-ranked scores of a precision-recall curve).
    """
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    n = x.size
    if n <= _MAX_POINTS:
        return np.arange(n)
    seg = np.hypot(np.diff(_unit(x)), np.diff(_unit(y)))
    cum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(seg))])
    if cum[-1] <= 0:
        return np.array([0, n - 1])
    pieces = _MAX_POINTS // 2 - 1
    piece = np.minimum(np.floor(cum * (pieces / cum[-1])), pieces).astype(np.int64)
    crossed = np.flatnonzero(np.diff(piece)) + 1  # the first point in a new piece
    return np.unique(np.concatenate([[0, n - 1], crossed - 1, crossed]))


def drawn_points(thresholds, cms, threshold=None) -> np.ndarray:
    """Indices of the points of a binary curve (`thresholds` ascending, ``(T, 2, 2)``
    ``cms``) that its figures use: those the precision-recall and ROC panels draw, and
    the operating point at ``threshold``. A report keeps only these (at most about
    4,000 points, where the exact curve has one per distinct score)."""
    thresholds = np.asarray(thresholds)
    recall = formulas.recall(cms)
    keep = [_thin(recall, formulas.precision(cms, zero_division=1.0)),
            _thin(1.0 - formulas.specificity(cms, zero_division=1.0), recall)]
    if threshold is not None and thresholds.size:
        keep.append([min(int(np.searchsorted(thresholds, threshold, side="left")),
                         thresholds.size - 1)])
    return np.unique(np.concatenate(keep)).astype(np.int64)


def _stack(y_true, y_score, sample_weight=None):
    from keras_confusion._counting import exact_curve
    from keras_confusion._validation import check_labels_scores

    t, s, _ = check_labels_scores(y_true, y_score)
    if s.ndim != 1:
        raise arg_error("y_score", f"<array of shape {s.shape}>", "binary scores of shape (N,)")
    return exact_curve(t, s, check_sample_weight(sample_weight, t.shape[0]))


def _operating_point(ax, thresholds, xs, ys, threshold):
    if threshold is None or thresholds.size == 0:
        return
    # The decision at `threshold` equals the decision at the smallest score >= it.
    i = min(int(np.searchsorted(thresholds, threshold, side="left")), thresholds.size - 1)
    ax.plot([xs[i]], [ys[i]], "o", color="C3", markersize=8,
            label=f"threshold {float(threshold)!r}", zorder=3)


def _pr_axes(ax, thresholds, cms, threshold=None):
    # The last candidate predicts nothing positive: recall 0, precision 1 (as sklearn).
    precision = formulas.precision(cms, zero_division=1.0)
    recall = formulas.recall(cms)
    keep = _thin(recall, precision)
    ax.step(recall[keep], precision[keep], where="post", color="C0")
    pos = cms[0, 1].sum() if len(cms) else 0
    total = cms[0].sum() if len(cms) else 1
    ax.axhline(pos / total, color="grey", ls=":", lw=1, label=f"chance ({pos / total:.3f})")
    _operating_point(ax, thresholds, recall, precision, threshold)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02),
           title="precision-recall")
    _literal_legend(ax, loc="lower left", fontsize=8)


def _roc_axes(ax, thresholds, cms, threshold=None):
    tpr = formulas.recall(cms)
    fpr = 1.0 - formulas.specificity(cms, zero_division=1.0)
    keep = _thin(fpr, tpr)
    ax.plot(fpr[keep], tpr[keep], color="C0")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="chance")
    _operating_point(ax, thresholds, fpr, tpr, threshold)
    ax.set(xlabel="false positive rate (1 - specificity)",
           ylabel="true positive rate (recall)", xlim=(-0.02, 1.02), ylim=(0, 1.02),
           title="ROC")
    _literal_legend(ax, loc="lower right", fontsize=8)


def precision_recall_curve(y_true, y_score, *, threshold=None, title=None, sample_weight=None):
    """Precision against recall over every threshold, with an optional operating point.

    The curve is drawn as steps through the exact (recall, precision) of each distinct
    score, as `sklearn.metrics.precision_recall_curve` gives them; past 2,000 points,
    through the points spaced evenly along the curve's length and the ends of its
    long segments (at most 2,000), so that its shape, its ends and the area under the
    steps are kept.

    Args:
        y_true: binary labels ``(n_samples,)`` in {0, 1}.
        y_score: scores of class 1 ``(n_samples,)``.
        threshold: mark the point where ``score >= threshold``. Defaults to `None`.
        title: figure title. Defaults to `None`.
        sample_weight: optional weights ``(n_samples,)``, finite and >= 0: the curve of
            the weighted counts, as scikit-learn's with ``sample_weight``. Defaults to
            `None`.

    Returns:
        A matplotlib Figure.
    """
    thresholds, cms = _stack(y_true, y_score, sample_weight)
    fig = _figure((4.5, 4.2))
    _pr_axes(fig.subplots(), thresholds, cms, threshold)
    if title:
        _suptitle(fig, title)
    return fig


def roc_curve(y_true, y_score, *, threshold=None, title=None, sample_weight=None):
    """ROC curve (recall against false positive rate), with an optional operating point.

    Drawn through the exact point of each distinct score (past 2,000 points, thinned
    as `precision_recall_curve` is). Args and returns as `precision_recall_curve`.
    """
    thresholds, cms = _stack(y_true, y_score, sample_weight)
    fig = _figure((4.5, 4.2))
    _roc_axes(fig.subplots(), thresholds, cms, threshold)
    if title:
        _suptitle(fig, title)
    return fig


_THRESHOLD_LABEL = "threshold (positive when score >= threshold)"


def _threshold_units(x):
    """``(scale, axis label)`` for thresholds ``x`` drawn as ``x / scale``. Matplotlib
    computes with the axis span, and scores of +-1e308 (logits of an overflowing model)
    overflowed it ("Singular matrix"); past 1e100 the axis is in units of a power of 10."""
    top = float(np.max(np.abs(x), initial=0.0))
    if not top > 1e100:
        return 1.0, _THRESHOLD_LABEL
    scale = 10.0 ** np.floor(np.log10(top))
    return scale, f"{_THRESHOLD_LABEL}, in units of {scale:.0e}"


def threshold_curve(result, *, title=None):
    """The objective (a metric, or a cost) against the threshold, best one marked.

    The line goes through the objective at each finite candidate threshold (past
    2,000 candidates, thinned as `precision_recall_curve` is).

    Args:
        result: a `keras_confusion.decisions.ThresholdResult` of one binary search
            (its ``thresholds``, ``values``, ``threshold``, ``value``, ``objective``
            and, with a constraint, ``feasible``). For a
            `keras_confusion.decisions.MultilabelThresholdResult` pass one label's
            result, ``result.results[i]``.
        title: figure title. Defaults to `None`.

    Returns:
        A matplotlib Figure.
    """
    from keras_confusion.decisions import MultilabelThresholdResult, ThresholdResult

    if isinstance(result, MultilabelThresholdResult):
        raise arg_error("result", f"<MultilabelThresholdResult of "
                        f"{len(result.results)} labels>",
                        "the ThresholdResult of one label: pass one label's result, "
                        "e.g. result.results[0]")
    if not isinstance(result, ThresholdResult) and not all(
            hasattr(result, a) for a in ("thresholds", "values", "threshold", "value")):
        raise arg_error("result", f"<{type(result).__name__}>",
                        "a ThresholdResult (what tune_threshold returns)")
    thresholds = np.asarray(result.thresholds, dtype="float64")
    values = np.asarray(result.values, dtype="float64")
    finite = np.isfinite(thresholds)  # the last candidate, inf, predicts nothing positive
    feasible = getattr(result, "feasible", None)
    fig = _figure((6.0, 4.0))
    ax = fig.subplots()
    keep = _thin(thresholds[finite], values[finite])
    x, y = thresholds[finite][keep], values[finite][keep]
    scale, xlabel = _threshold_units(x)
    x = x / scale
    name = str(getattr(result, "objective", "objective"))
    ax.plot(x, y, color="C0", label=name)
    if feasible is not None:
        bad = np.where(np.asarray(feasible, dtype=bool)[finite][keep], np.nan, y)
        ax.plot(x, bad, color="C7", lw=3, alpha=0.6, label="constraint not met")
    chosen = float(result.threshold)
    shown = chosen / scale if np.isfinite(chosen) else (x.max() if x.size else 1.0)
    label = (f"chosen {chosen:.4g} ({name} {result.value:.4g})" if np.isfinite(chosen)
             else f"chosen: nothing positive ({name} {result.value:.4g})")
    ax.axvline(shown, color="C3", ls="--", lw=1)
    ax.plot([shown], [result.value], "o", color="C3", zorder=3, label=label)
    constraint = getattr(result, "constraint", None)
    if title is None:
        title = f"{name} versus threshold"
        if constraint is not None:
            try:
                relation = ">=" if formulas.greater_is_better(formulas.get(constraint[0])) \
                    else "<="
            except ValueError:
                relation = "bound"
            title += f" (subject to {constraint[0]} {relation} {constraint[1]:g})"
    ax.set_xlabel(xlabel)
    ax.set_ylabel(name, **_LITERAL)
    ax.set_title(str(title), **_LITERAL)
    ax.grid(alpha=0.3)
    _literal_legend(ax, fontsize=8)
    return fig


def guarantee_curve(result, *, title=None):
    """The guaranteed floor against the threshold, next to the value on the data.

    For a result of ``tune_threshold(..., constraint=(name, floor), confidence=c)``:
    the constrained formula on the calibration data at each candidate threshold, its
    exact lower confidence bound at ``c`` (Clopper-Pearson, on the samples its test
    counts), the floor, and the chosen threshold. Where the data's value is above the
    floor but the bound is not, the empirical choice would be taken and the guarantee
    refuses it: the gap between the curves is the price of holding on new data.

    Args:
        result: a `keras_confusion.decisions.ThresholdResult` with a ``confidence``
            (one label's, ``result.results[i]``, for multilabel).
        title: figure title. Defaults to `None`.

    Returns:
        A matplotlib Figure.
    """
    from keras_confusion import _guarantee

    if getattr(result, "confidence", None) is None or getattr(result, "results", None):
        raise arg_error("result", f"<{type(result).__name__}>",
                        "the ThresholdResult of tune_threshold(..., confidence=c) for one "
                        "label (a result with a guarantee)")
    name, floor = result.constraint
    name = name if name in _guarantee.GUARANTEED else formulas.name_of(formulas.get(name))
    cms = np.asarray(result.confusion_matrices)
    g = _guarantee.guarantee(name, floor, result.confidence, cms)
    value = np.asarray(formulas.get(name)(cms.astype("float64")), dtype="float64")
    thresholds = np.asarray(result.thresholds, dtype="float64")
    finite = np.isfinite(thresholds)
    fig = _figure((6.0, 4.0))
    ax = fig.subplots()
    x = thresholds[finite]
    keep = _thin(x, value[finite])
    scale, xlabel = _threshold_units(x[keep])
    x = x / scale
    ax.plot(x[keep], value[finite][keep], color="C0", label=f"{name} on the data")
    ax.plot(x[keep], g.bound[finite][keep], color="C1",
            label=f"lower bound, {_percent(result.confidence)} confidence")
    ax.axhline(floor, color="C7", ls=":", lw=1, label=f"floor {floor:g}")
    ok = np.where(g.feasible[finite][keep], g.bound[finite][keep], np.nan)
    ax.plot(x[keep], ok, color="C2", lw=3, alpha=0.5, label="guaranteed")
    chosen = float(result.threshold)
    if np.isfinite(chosen):
        ax.axvline(chosen / scale, color="C3", ls="--", lw=1)
        ax.plot([chosen / scale], [result.bound], "o", color="C3", zorder=3,
                label=f"chosen {chosen:.4g} (bound {result.bound:.3f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(name, **_LITERAL)
    ax.set_title(str(title if title is not None else
                     f"{name} >= {floor:g} with {_percent(result.confidence)} confidence"),
                 **_LITERAL)
    ax.grid(alpha=0.3)
    _literal_legend(ax, fontsize=8)
    return fig


def _percent(level) -> str:
    return f"{100 * float(level):g}%"


def metric_history(history: Mapping[str, Sequence[float]], *, title=None):
    """One line per metric over the epochs (e.g. ``model.fit(...).history``).

    Args:
        history: ``{name: values per epoch}``.
        title: figure title. Defaults to `None`.

    Returns:
        A matplotlib Figure.

    Example:

    >>> fig = metric_history({"specificity": [0.7, 0.8, 0.85], "recall": [0.9, 0.88, 0.9]})
    """
    if not isinstance(history, Mapping) or not history:
        raise arg_error("history", history, "a non-empty mapping {name: values per epoch}")
    fig = _figure((6.0, 4.0))
    ax = fig.subplots()
    for name, values in history.items():
        v = np.asarray(values, dtype="float64").ravel()
        ax.plot(np.arange(1, v.size + 1), v, marker="o" if v.size <= 30 else None,
                markersize=3, label=str(name))
    ax.set(xlabel="epoch", ylabel="value")
    ax.set_title(str(title or "metrics per epoch"), **_LITERAL)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    _literal_legend(ax, fontsize=8)
    return fig


def report_figure(report):
    """The figure of a `keras_confusion.report.Report`: matrix panels, plus the
    precision-recall and ROC curves when the report has binary scores."""
    cm = report.confusion_matrix.astype("float64")
    k = cm.shape[0]
    curve = report.curve
    side = 3.2 + 0.4 * k
    n_panels = 2 + (2 if curve is not None else 0)
    width = (side + 0.8) * 2 + (4.2 * 2 if curve is not None else 0)
    fig = _figure((width, max(side, 3.8)))
    widths = [side + 0.8, side + 0.8] + ([4.2, 4.2] if curve is not None else [])
    axes = fig.subplots(1, n_panels, gridspec_kw={"width_ratios": widths})
    _matrix_panels(fig, axes[:2], cm, report.class_names, ["counts", "true"])
    if curve is not None:
        _pr_axes(axes[2], *curve, report.threshold)
        _roc_axes(axes[3], *curve, report.threshold)
    _suptitle(fig, f"{report.size_text()}, {report.decision}")
    return fig
