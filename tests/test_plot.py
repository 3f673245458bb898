"""Figures: rendered to PNG, and the plotted points against scikit-learn."""

from __future__ import annotations

import io
import struct

import matplotlib
import numpy as np
import pytest
from sklearn import metrics as skm

from keras_confusion import plot
from keras_confusion.decisions import tune_threshold
from keras_confusion.report import report

matplotlib.use("Agg")


def _png_size(fig, dpi=50):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = buf.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height, len(data)


def _data(n=500, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    return y, np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)


def _figures():
    y, s = _data()
    rng = np.random.default_rng(1)
    cm20 = rng.integers(0, 50, (20, 20)) + np.diag(rng.integers(100, 300, 20))
    names20 = [f"class_{i}" for i in range(20)]
    return {
        "matrix_2": plot.confusion_matrix([[50, 3], [7, 40]], class_names=["ham", "spam"]),
        "matrix_20": plot.confusion_matrix(cm20, class_names=names20, normalize="true"),
        "pr": plot.precision_recall_curve(y, s, threshold=0.5),
        "roc": plot.roc_curve(y, s, threshold=0.5),
        "threshold": plot.threshold_curve(tune_threshold(y, s, "f1")),
        "constrained": plot.threshold_curve(
            tune_threshold(y, s, "precision", constraint=("recall", 0.9))),
        "history": plot.metric_history({"specificity": [0.7, 0.8, 0.85],
                                        "recall": [0.9, 0.88, 0.9]}),
        "report": report(y, s, bootstrap=0).plot(),
    }


def test_every_figure_renders_a_non_empty_png_of_its_figure_size():
    for name, fig in _figures().items():
        w_in, h_in = fig.get_size_inches()
        width, height, nbytes = _png_size(fig, dpi=50)
        assert (width, height) == (round(w_in * 50), round(h_in * 50)), name
        assert nbytes > 3000, name


def test_confusion_matrix_annotations_show_counts_and_row_rates():
    fig = plot.confusion_matrix([[50, 3], [7, 40]], class_names=["ham", "spam"])
    counts_ax, rates_ax = fig.axes[:2]  # the colorbars come after
    assert [t.get_text() for t in counts_ax.texts] == ["50", "3", "7", "40"]
    assert [t.get_text() for t in rates_ax.texts] == ["94.3%", "5.7%", "14.9%", "85.1%"]
    assert [t.get_text() for t in counts_ax.get_xticklabels()] == ["ham", "spam"]


def test_confusion_matrix_at_20_classes_labels_every_class():
    cm = np.arange(400).reshape(20, 20)
    names = [f"c{i}" for i in range(20)]
    fig = plot.confusion_matrix(cm, class_names=names, normalize=None)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert len(ax.texts) == 400
    assert min(t.get_fontsize() for t in ax.texts) >= 6


def test_precision_recall_curve_points_equal_sklearn():
    y, s = _data(300, seed=2)
    line = plot.precision_recall_curve(y, s).axes[0].lines[0]
    precision, recall, _ = skm.precision_recall_curve(y, s)
    np.testing.assert_allclose(line.get_xdata(), recall)
    np.testing.assert_allclose(line.get_ydata(), precision)


def test_roc_curve_points_equal_sklearn():
    y, s = _data(300, seed=3)
    line = plot.roc_curve(y, s).axes[0].lines[0]
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    # scikit-learn's (0, 0) comes first; ours is the last candidate (nothing positive).
    points = {(round(a, 12), round(b, 12)) for a, b in zip(line.get_xdata(), line.get_ydata(),
                                                           strict=True)}
    assert points == {(round(a, 12), round(b, 12)) for a, b in zip(fpr, tpr, strict=True)}


def test_operating_point_is_the_matrix_at_the_threshold():
    y, s = _data(300, seed=4)
    ax = plot.roc_curve(y, s, threshold=0.55).axes[0]
    point = ax.lines[2]
    pred = (s >= 0.55).astype(int)
    assert point.get_xdata()[0] == pytest.approx(
        1 - skm.recall_score(1 - y, 1 - pred))
    assert point.get_ydata()[0] == pytest.approx(skm.recall_score(y, pred))


def test_threshold_curve_marks_the_chosen_threshold():
    y, s = _data(300, seed=5)
    result = tune_threshold(y, s, "f1")
    ax = plot.threshold_curve(result).axes[0]
    marker = next(line for line in ax.lines if line.get_marker() == "o")
    assert marker.get_xdata()[0] == result.threshold
    assert marker.get_ydata()[0] == result.value
    assert ax.get_ylabel() == "f1"


def test_metric_history_draws_one_line_per_metric_over_epochs():
    fig = plot.metric_history({"specificity": [0.7, 0.8, 0.85], "recall": [0.9, 0.88, 0.9]},
                              title="validation")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["specificity", "recall"]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [0.9, 0.88, 0.9])
    assert ax.get_title() == "validation"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: plot.confusion_matrix([1, 2, 3]), r"`cm`"),
        (lambda: plot.confusion_matrix([[1, 2], [3, 4]], class_names=["a"]), r"`class_names`"),
        (lambda: plot.confusion_matrix([[1, 2], [3, 4]], normalize="all"), r"`normalize`"),
        (lambda: plot.metric_history({}), r"`history`"),
        (lambda: plot.roc_curve([0, 1], [0.2, np.nan]), r"`y_score`"),
        (lambda: plot.precision_recall_curve([0, 1], [[0.2, 0.8], [0.6, 0.4]]), r"`y_score`"),
    ],
)
def test_plot_rejects_bad_input_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("threshold", [0.7008977144997484, 0.7])
def test_report_figure_states_the_threshold_exactly_as_its_repr(threshold):
    y, s = _data(300, seed=6)
    s[0] = threshold
    fig = report(y, s, threshold=threshold, bootstrap=0).plot()
    assert fig._suptitle.get_text() == f"300 samples, positive when score >= {threshold!r}"
    labels = [line.get_label() for ax in fig.axes for line in ax.lines]
    assert f"threshold {threshold!r}" in labels


def test_threshold_curve_of_a_multilabel_result_raises_value_error_naming_result():
    y = np.array([[0, 1], [1, 0], [1, 1]])
    s = np.array([[0.2, 0.7], [0.6, 0.1], [0.9, 0.8]])
    result = tune_threshold(y, s, multilabel=True)
    with pytest.raises(ValueError, match=r"`result`.*one label.*result\.results\[0\]"):
        plot.threshold_curve(result)
    with pytest.raises(ValueError, match=r"`result`"):
        plot.threshold_curve({"thresholds": [0.5]})
    assert plot.threshold_curve(result.results[1]).axes  # one label's result is drawn


def _imbalanced(n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.005).astype(int)
    return y, 1 / (1 + np.exp(-(rng.normal(size=n) + 3.0 * y - 2)))


def test_thinned_curves_keep_their_area_and_the_high_score_end():
    y, s = _imbalanced()
    line = plot.precision_recall_curve(y, s).axes[0].lines[0]
    recall, precision = line.get_xdata(), line.get_ydata()
    ref_precision, ref_recall, _ = skm.precision_recall_curve(y, s)
    assert len(recall) <= 2000 < len(ref_recall)
    # Both ends kept; the drawn steps' area is average precision (its step rule).
    assert (recall[0], precision[0]) == (ref_recall[0], ref_precision[0])
    assert (recall[-1], precision[-1]) == (ref_recall[-1], ref_precision[-1])
    area = -np.sum(np.diff(recall) * precision[:-1])
    assert area == pytest.approx(skm.average_precision_score(y, s), abs=0.005)
    assert np.sum(recall <= 0.1) >= 20  # the top-ranked scores are drawn
    # Every drawn point is a point of the curve.
    ref = set(zip(ref_recall.round(12), ref_precision.round(12), strict=True))
    assert set(zip(recall.round(12), precision.round(12), strict=True)) <= ref
    roc = plot.roc_curve(y, s).axes[0].lines[0]
    fpr, tpr = roc.get_xdata(), roc.get_ydata()
    assert len(fpr) <= 2000
    assert abs(np.trapezoid(tpr, fpr)) == pytest.approx(skm.roc_auc_score(y, s), abs=0.005)
    assert np.sum(fpr <= 0.01) >= 20


def test_report_keeps_only_the_drawn_curve_and_draws_it_as_the_exact_curve():
    # The exact curve has a point per distinct score (40 bytes each); the report keeps
    # the points its PR and ROC panels draw and the operating point.
    y, s = _imbalanced()
    r = report(y, s, threshold=0.6, bootstrap=0)
    thresholds, cms = r.curve
    assert len(thresholds) <= 4001 < len(np.unique(s))
    assert cms.shape == (len(thresholds), 2, 2)
    fig = r.plot()
    pr_ax, roc_ax = fig.axes[2], fig.axes[3]
    recall, precision = pr_ax.lines[0].get_xdata(), pr_ax.lines[0].get_ydata()
    area = -np.sum(np.diff(recall) * precision[:-1])
    assert area == pytest.approx(skm.average_precision_score(y, s), abs=0.005)
    fpr, tpr = roc_ax.lines[0].get_xdata(), roc_ax.lines[0].get_ydata()
    assert abs(np.trapezoid(tpr, fpr)) == pytest.approx(skm.roc_auc_score(y, s), abs=0.005)
    pred = (s >= 0.6).astype(int)
    point = roc_ax.lines[2]
    assert point.get_xdata()[0] == pytest.approx(1 - skm.recall_score(1 - y, 1 - pred))
    assert point.get_ydata()[0] == pytest.approx(skm.recall_score(y, pred))
    point = pr_ax.lines[2]
    assert point.get_xdata()[0] == pytest.approx(skm.recall_score(y, pred))
    assert point.get_ydata()[0] == pytest.approx(skm.precision_score(y, pred))


@pytest.mark.parametrize("names", [["x", "$a^$"], ["$5-$10", "$10-$20"],
                                   ["under $5", r"$\foo$"]])
def test_class_names_with_dollar_signs_are_drawn_literally_not_as_mathtext(names):
    # Reference: the names as given. Mathtext would draw "$5-$10" as a formula and
    # fail to parse "$a^$"; every user string must be drawn as written.
    y, s = _data(200, seed=3)
    r = report(y, s, class_names=names, bootstrap=0)
    figures = [r.plot(), plot.confusion_matrix([[5, 1], [2, 7]], class_names=names,
                                               title=names[1]),
               plot.metric_history({names[0]: [0.5, 0.6], names[1]: [0.4, 0.7]},
                                   title=names[1])]
    for fig in figures:
        _png_size(fig)  # renders without a mathtext error
    for ax in figures[0].axes[:2] + figures[1].axes[:2]:
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            assert [t.get_text() for t in ticks] == names
            assert not any(t.get_parse_math() for t in ticks)
    assert figures[1]._suptitle.get_text() == names[1]
    assert not figures[1]._suptitle.get_parse_math()
    legend = figures[2].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == names
    assert not any(t.get_parse_math() for t in legend.get_texts())
    assert figures[2].axes[0].title.get_text() == names[1]
    assert not figures[2].axes[0].title.get_parse_math()
    assert "<img" in r.to_html()


def test_weighted_precision_recall_curve_points_equal_sklearn_with_sample_weight():
    y, s = _data(300, seed=5)
    w = np.random.default_rng(5).gamma(0.8, 1.5, 300)
    line = plot.precision_recall_curve(y, s, sample_weight=w).axes[0].lines[0]
    precision, recall, _ = skm.precision_recall_curve(y, s, sample_weight=w)
    np.testing.assert_allclose(line.get_xdata(), recall)
    np.testing.assert_allclose(line.get_ydata(), precision)


def test_weighted_roc_curve_points_equal_sklearn_with_sample_weight():
    y, s = _data(300, seed=6)
    w = np.random.default_rng(6).gamma(0.8, 1.5, 300)
    line = plot.roc_curve(y, s, sample_weight=w).axes[0].lines[0]
    fpr, tpr, _ = skm.roc_curve(y, s, sample_weight=w, drop_intermediate=False)
    points = {(round(a, 12), round(b, 12)) for a, b in zip(line.get_xdata(), line.get_ydata(),
                                                           strict=True)}
    assert points == {(round(a, 12), round(b, 12)) for a, b in zip(fpr, tpr, strict=True)}


def test_curves_refuse_bad_sample_weight_naming_it():
    with pytest.raises(ValueError, match=r"`sample_weight` must be finite and >= 0"):
        plot.roc_curve([0, 1, 1], [0.1, 0.6, 0.3], sample_weight=[1, -1, 1])


def test_matrix_annotations_show_weighted_and_soft_counts_as_they_are_not_truncated():
    fig = plot.confusion_matrix([[0.5, 2.0], [1.25, 3.0]], normalize=None)
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.5", "2", "1.25", "3"]



def test_guarantee_curve_draws_the_bound_that_decides_and_the_chosen_threshold():
    y, s = _data(600, seed=9)
    result = tune_threshold(y, s, "specificity", constraint=("recall", 0.8), confidence=0.9)
    ax = plot.guarantee_curve(result).axes[0]
    data, bound = ax.lines[0], ax.lines[1]
    finite = np.isfinite(result.thresholds)
    recall = result.confusion_matrices[:, 1, 1] / np.sum(y == 1)
    np.testing.assert_allclose(data.get_ydata(), recall[finite])
    from scipy import stats

    tp = result.confusion_matrices[finite, 1, 1]
    ref = np.where(tp > 0, stats.beta.ppf(0.1, np.maximum(tp, 1), np.sum(y == 1) - tp + 1), 0)
    np.testing.assert_allclose(bound.get_ydata(), ref, rtol=1e-9, atol=1e-12)
    # The bound clears the floor exactly at the thresholds the guarantee keeps.
    np.testing.assert_array_equal(bound.get_ydata() >= 0.8, result.feasible[finite])
    marker = next(line for line in ax.lines if line.get_marker() == "o")
    assert marker.get_xdata()[0] == result.threshold
    assert marker.get_ydata()[0] == result.bound
    with pytest.raises(ValueError, match=r"`result` must be the ThresholdResult of"):
        plot.guarantee_curve(tune_threshold(y, s, "f1"))


@pytest.mark.parametrize("scores", [[-1e308, 1e308, 0.5], [-1e200, 3e250, 0.1]])
def test_threshold_curves_of_huge_scores_draw_in_units_of_a_power_of_ten(scores):
    # Scores of +-1e308 (an overflowing model's logits) made matplotlib's axis span
    # overflow: "LinAlgError: Singular matrix", and `tune --plot` printed just that.
    y = np.array([0, 1, 1])
    s = np.array(scores)
    result = tune_threshold(y, s, "f1")
    fig = plot.threshold_curve(result)
    assert _png_size(fig)[:2] == (300, 200)
    ax = fig.axes[0]
    scale = 10.0 ** np.floor(np.log10(np.abs(s).max()))
    assert ax.get_xlabel().endswith(f"in units of {scale:.0e}")
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "f1"]
    np.testing.assert_allclose(line.get_xdata(), np.sort(s) / scale)
    guaranteed = tune_threshold(np.r_[np.zeros(60), np.ones(60)],
                                np.r_[np.linspace(-1e308, 0, 60), np.linspace(1, 1e308, 60)],
                                "specificity", constraint=("recall", 0.5), confidence=0.9)
    assert _png_size(plot.guarantee_curve(guaranteed))[:2] == (300, 200)
    # Ordinary scores keep the plain axis.
    assert plot.threshold_curve(tune_threshold(y, [0.2, 0.7, 0.4], "f1")).axes[0] \
        .get_xlabel() == "threshold (positive when score >= threshold)"
