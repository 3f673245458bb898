"""Formulas over (..., K, K) against scikit-learn, brute force and hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given
from hypothesis import strategies as st
from keras import ops

import keras_confusion as kc
from keras_confusion import formulas as F

from conftest import gradient, to_numpy

AVERAGES = ["macro", "micro", "weighted", None]


def _data(seed, n, k, weighted):
    rng = np.random.default_rng(seed)
    # Skewed class frequencies so that some classes are rare or absent.
    probs = rng.dirichlet(np.full(k, 0.5))
    y = rng.choice(k, n, p=probs)
    pred = np.where(rng.random(n) < 0.6, y, rng.choice(k, n, p=probs))
    w = rng.choice([0.0, 0.5, 1.0, 3.0], n) if weighted else None
    return y, pred, w


def _cm(y, pred, k, w):
    if len(y) == 0 or (w is not None and not np.any(w)):
        return np.zeros((k, k))
    return skm.confusion_matrix(y, pred, labels=list(range(k)), sample_weight=w)


def _both(cm):
    """The same matrix as NumPy and as a backend tensor: both paths must agree."""
    return [np.asarray(cm, "float64"), ops.convert_to_tensor(np.asarray(cm, "float32"))]


def _close(got, expected, atol=1e-6):
    np.testing.assert_allclose(np.asarray(to_numpy(got), "float64"), expected, atol=atol)


CASES = dict(seed=st.integers(0, 2**31), n=st.sampled_from([0, 1, 5, 60, 400]),
             k=st.sampled_from([2, 3, 6]), weighted=st.booleans(),
             zero_division=st.sampled_from([0.0, 1.0]))


@given(**CASES)
def test_precision_recall_f_scores_and_jaccard_equal_sklearn_for_every_average(
        seed, n, k, weighted, zero_division):
    y, pred, w = _data(seed, n, k, weighted)
    if n == 0 or (w is not None and not w.any()):
        return  # scikit-learn refuses these; covered by the edge-case tests below
    labels = list(range(k))
    averages = AVERAGES + (["binary"] if k == 2 else [])
    for cm in _both(_cm(y, pred, k, w)):
        for avg in averages:
            p, r, f, _ = skm.precision_recall_fscore_support(
                y, pred, labels=labels, average=avg, sample_weight=w,
                zero_division=zero_division)
            f2 = skm.fbeta_score(y, pred, beta=2.0, labels=labels, average=avg,
                                 sample_weight=w, zero_division=zero_division)
            jac = skm.jaccard_score(y, pred, labels=labels, average=avg, sample_weight=w,
                                    zero_division=zero_division)
            kw = dict(average=avg, zero_division=zero_division)
            _close(F.precision(cm, **kw), p)
            _close(F.recall(cm, **kw), r)
            _close(F.f1(cm, **kw), f)
            _close(F.fbeta(cm, 2.0, **kw), f2)
            _close(F.jaccard(cm, **kw), jac)


@given(**CASES)
def test_whole_matrix_formulas_equal_sklearn(seed, n, k, weighted, zero_division):
    y, pred, w = _data(seed, n, k, weighted)
    if n == 0 or (w is not None and not w.any()):
        return
    for cm in _both(_cm(y, pred, k, w)):
        _close(F.accuracy(cm), skm.accuracy_score(y, pred, sample_weight=w))
        _close(F.mcc(cm), skm.matthews_corrcoef(y, pred, sample_weight=w), atol=1e-5)
        for weights in (None, "linear", "quadratic"):
            _close(F.cohen_kappa(cm, weights=weights, zero_division=zero_division),
                   skm.cohen_kappa_score(y, pred, labels=list(range(k)), weights=weights,
                                         sample_weight=w, replace_undefined_by=zero_division),
                   atol=1e-5)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for adjusted in (False, True):
                    expected = skm.balanced_accuracy_score(y, pred, sample_weight=w,
                                                           adjusted=adjusted)
                    if np.isfinite(expected):  # sklearn divides by zero with one class
                        _close(F.balanced_accuracy(cm, adjusted=adjusted), expected)


@given(seed=st.integers(0, 2**31), n=st.sampled_from([1, 50, 300]),
       n_labels=st.sampled_from([2, 4]), weighted=st.booleans())
def test_multilabel_averages_equal_sklearn(seed, n, n_labels, weighted):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, (n, n_labels))
    pred = np.where(rng.random((n, n_labels)) < 0.7, y, 1 - y)
    w = rng.choice([0.5, 1.0, 2.0], n) if weighted else None
    stack = skm.multilabel_confusion_matrix(y, pred, sample_weight=w)
    for cm in _both(stack):
        for avg in AVERAGES:
            p, r, f, _ = skm.precision_recall_fscore_support(
                y, pred, average=avg, sample_weight=w, zero_division=0.0)
            _close(F.precision(cm, average=avg, multilabel=True), p)
            _close(F.recall(cm, average=avg, multilabel=True), r)
            _close(F.f1(cm, average=avg, multilabel=True), f)
            _close(F.jaccard(cm, average=avg, multilabel=True),
                   skm.jaccard_score(y, pred, average=avg, sample_weight=w, zero_division=0.0))


def _brute_force_one_vs_rest(cm):
    cm = np.asarray(cm, "float64")
    out = []
    for c in range(cm.shape[0]):
        tp = cm[c, c]
        fp = cm[:, c].sum() - tp
        fn = cm[c, :].sum() - tp
        tn = cm.sum() - tp - fp - fn
        out.append((tp, fp, fn, tn))
    return np.array(out)


def _ratio(a, b, z):
    return a / b if b > 0 else z


@given(**CASES)
def test_specificity_npv_youden_and_tversky_equal_brute_force_one_vs_rest(
        seed, n, k, weighted, zero_division):
    y, pred, w = _data(seed, n, k, weighted)
    cm_np = _cm(y, pred, k, w)
    stats = _brute_force_one_vs_rest(cm_np)
    z = zero_division
    spec = np.array([_ratio(tn, tn + fp, z) for tp, fp, fn, tn in stats])
    npv = np.array([_ratio(tn, tn + fn, z) for tp, fp, fn, tn in stats])
    rec = np.array([_ratio(tp, tp + fn, z) for tp, fp, fn, tn in stats])
    tv = np.array([_ratio(tp, tp + 0.3 * fp + 0.7 * fn, z) for tp, fp, fn, tn in stats])
    support = stats[:, 0] + stats[:, 2]
    for cm in _both(cm_np):
        _close(F.specificity(cm, average=None, zero_division=z), spec)
        _close(F.specificity(cm, average="macro", zero_division=z), spec.mean())
        _close(F.specificity(cm, average="weighted", zero_division=z),
               _ratio((spec * support).sum(), support.sum(), z))
        tn_sum, fp_sum = stats[:, 3].sum(), stats[:, 1].sum()
        _close(F.specificity(cm, average="micro", zero_division=z),
               _ratio(tn_sum, tn_sum + fp_sum, z))
        _close(F.npv(cm, average=None, zero_division=z), npv)
        _close(F.youden_j(cm, average=None, zero_division=z), rec + spec - 1)
        _close(F.tversky(cm, 0.3, 0.7, average=None, zero_division=z), tv)
        if k == 2:
            _close(F.specificity(cm, zero_division=z), spec[1])
            _close(F.sensitivity(cm, zero_division=z), rec[1])


def test_tversky_reduces_to_f1_and_jaccard():
    cm = np.array([[50, 7], [4, 9]])
    np.testing.assert_allclose(F.tversky(cm, 0.5, 0.5), F.f1(cm))
    np.testing.assert_allclose(F.tversky(cm, 1.0, 1.0), F.jaccard(cm))


def test_hand_worked_binary_example():
    # tn=5, fp=1, fn=2, tp=3
    cm = np.array([[5, 1], [2, 3]])
    assert F.precision(cm) == pytest.approx(3 / 4)
    assert F.recall(cm) == pytest.approx(3 / 5)
    assert F.specificity(cm) == pytest.approx(5 / 6)
    assert F.npv(cm) == pytest.approx(5 / 7)
    assert F.f1(cm) == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert F.accuracy(cm) == pytest.approx(8 / 11)
    assert F.balanced_accuracy(cm) == pytest.approx((3 / 5 + 5 / 6) / 2)
    assert F.mcc(cm) == pytest.approx((3 * 5 - 1 * 2) / np.sqrt(4 * 5 * 6 * 7))
    assert F.expected_cost(cm, [[0, 1], [10, 0]]) == pytest.approx((1 + 20) / 11)


def _ratio(num, den, z):
    return num / den if den > 0 else z


def _stats(cm):
    """TP, FP, FN, TN of each class (one-vs-rest), as Python numbers."""
    k, total = len(cm), sum(map(sum, cm))
    out = []
    for c in range(k):
        tp = cm[c][c]
        fp = sum(cm[i][c] for i in range(k)) - tp
        fn = sum(cm[c]) - tp
        out.append((tp, fp, fn, total - tp - fp - fn))
    return out


def _reference(name, cm, z, average):
    """Each formula from its definition, by hand: a ratio whose denominator is 0 is z."""
    cm = [[float(c) for c in row] for row in cm]
    k, total = len(cm), sum(map(sum, cm))
    per_class = {
        "precision": lambda tp, fp, fn, tn: _ratio(tp, tp + fp, z),
        "recall": lambda tp, fp, fn, tn: _ratio(tp, tp + fn, z),
        "specificity": lambda tp, fp, fn, tn: _ratio(tn, tn + fp, z),
        "npv": lambda tp, fp, fn, tn: _ratio(tn, tn + fn, z),
        "fbeta": lambda tp, fp, fn, tn: _ratio(5 * tp, 5 * tp + 4 * fn + fp, z),  # beta 2
        "f1": lambda tp, fp, fn, tn: _ratio(2 * tp, 2 * tp + fn + fp, z),
        "jaccard": lambda tp, fp, fn, tn: _ratio(tp, tp + fp + fn, z),
        "tversky": lambda tp, fp, fn, tn: _ratio(tp, tp + 0.3 * fp + 0.7 * fn, z),
        "youden_j": lambda tp, fp, fn, tn: _ratio(tp, tp + fn, z) + _ratio(tn, tn + fp, z) - 1,
    }
    if name in per_class:
        fn_ = per_class[name]
        stats = _stats(cm)
        if average == "binary":
            return fn_(*stats[1])
        if average == "micro":
            return fn_(*(sum(s[i] for s in stats) for i in range(4)))
        values = [fn_(*s) for s in stats]
        if average == "macro":
            return sum(values) / k
        support = [s[0] + s[2] for s in stats]  # weighted
        return _ratio(sum(v * n for v, n in zip(values, support, strict=True)), sum(support), z)
    rows = [sum(r) for r in cm]
    cols = [sum(cm[i][j] for i in range(k)) for j in range(k)]
    trace = sum(cm[i][i] for i in range(k))
    if name == "accuracy":
        return _ratio(trace, total, z)
    if name == "balanced_accuracy":
        recalls = [cm[i][i] / rows[i] for i in range(k) if rows[i] > 0]
        return _ratio(sum(recalls), len(recalls), z)
    if name == "mcc":  # scikit-learn's matthews_corrcoef, z where it divides by 0
        cov = trace * total - sum(r * c for r, c in zip(rows, cols, strict=True))
        den = (total**2 - sum(c * c for c in cols)) * (total**2 - sum(r * r for r in rows))
        return cov / np.sqrt(den) if den > 0 else z
    if name == "cohen_kappa":
        observed = sum(cm[i][j] for i in range(k) for j in range(k) if i != j)
        expected = sum(rows[i] * cols[j] for i in range(k) for j in range(k) if i != j)
        return 1 - observed * total / expected if expected > 0 else z
    assert name == "expected_cost"
    return _ratio(sum(cm[i][j] * COST3[i][j] for i in range(k) for j in range(k)), total, z)


COST3 = [[0, 1, 2], [3, 0, 4], [5, 6, 0]]
DEGENERATE = [
    [[0, 0], [0, 0]],  # empty input
    [[7, 0], [0, 0]],  # one class only: no positives, no predicted positives
    [[0, 0], [0, 4]],  # no negatives, no predicted negatives
    [[3, 2], [0, 0]],  # no positives
    [[3, 0], [2, 0]],  # no predicted positives
    [[0, 3], [0, 2]],  # no predicted negatives
    [[5, 1], [2, 3]],  # no zero denominator: the plain value
    [[0, 0, 0], [0, 0, 0], [0, 0, 0]],
    [[4, 0, 0], [1, 0, 0], [0, 0, 0]],  # class 2 absent, class 1 and 2 never predicted
    [[0, 0, 0], [0, 6, 0], [0, 0, 0]],  # one class, perfectly predicted
    [[2, 1, 0], [0, 3, 0], [0, 0, 0]],
]
KWARGS = {"fbeta": {"beta": 2.0}, "tversky": {"alpha": 0.3, "beta": 0.7}}


@pytest.mark.parametrize("name", sorted(set(F.BY_NAME) - {"sensitivity"}))
def test_every_formula_takes_zero_division_where_its_ratio_is_0_over_0(name):
    # Against each formula written out by hand, on matrices where some ratio is 0/0,
    # for zero_division 0.25 (neither 0 nor 1, so that neither default hides a miss),
    # every average, NumPy and backend tensors alike.
    fn = F.get(name)
    for cm in DEGENERATE:
        k = len(cm)
        averages = (["binary"] if k == 2 else []) + ["macro", "micro", "weighted"]
        for average in averages if name in F.PER_CLASS else [None]:
            kwargs = dict(KWARGS.get(name, {}))
            if average is not None:
                kwargs["average"] = average
            if name == "expected_cost":
                kwargs["cost_matrix"] = np.asarray(COST3)[:k, :k]
            expected = _reference(name, cm, 0.25, average)
            for m in _both(cm):
                got = float(to_numpy(fn(m, zero_division=0.25, **kwargs)))
                assert got == pytest.approx(expected, abs=1e-6), (cm, average)


def test_degenerate_binary_cases_match_sklearn_zero_division():
    # No predicted positives: precision is 0/0.
    y, pred = np.array([0, 1, 1]), np.array([0, 0, 0])
    cm = skm.confusion_matrix(y, pred, labels=[0, 1])
    for z in (0.0, 1.0):
        assert F.precision(cm, zero_division=z) == skm.precision_score(y, pred, zero_division=z)
    # No positives at all: recall is 0/0; sklearn's MCC is 0 when a marginal is constant.
    y, pred = np.array([0, 0, 0]), np.array([0, 1, 0])
    cm = skm.confusion_matrix(y, pred, labels=[0, 1])
    for z in (0.0, 1.0):
        assert F.recall(cm, zero_division=z) == skm.recall_score(y, pred, zero_division=z)
    assert F.mcc(cm) == skm.matthews_corrcoef(y, pred) == 0.0


@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_mcc_is_exactly_zero_when_one_class_holds_every_sample(weighted):
    # Rounded, 1 - t.t of a constant marginal came out near 2e-16, not 0: MCC 2.2e-09
    # (and 41 of 3,000 random matrices off scikit-learn's exact 0).
    rng = np.random.default_rng(7)
    for trial in range(300):
        k = int(rng.integers(3, 8))
        n = int(rng.integers(1, 40))
        only = int(rng.integers(0, k))
        other = rng.integers(0, k, n)
        y, pred = (np.full(n, only), other) if trial % 2 else (other, np.full(n, only))
        w = rng.uniform(0.1, 3.0, n) if weighted else None
        cm = skm.confusion_matrix(y, pred, labels=range(k), sample_weight=w)
        assert F.mcc(cm) == skm.matthews_corrcoef(y, pred, sample_weight=w) == 0.0
        assert F.mcc(cm, zero_division=0.5) == 0.5
    # A stack keeps each matrix's own case.
    varied = np.array([[3, 1, 0], [0, 2, 1], [1, 0, 4]])
    constant = np.array([[0, 0, 0], [0, 0, 0], [1, 1, 5]])
    stack = F.mcc(np.stack([varied, constant]))
    assert stack[1] == 0.0 and stack[0] == pytest.approx(skm.matthews_corrcoef(
        *np.repeat(np.array([(i, j) for i in range(3) for j in range(3)]).T,
                   varied.ravel(), axis=1)), abs=1e-12)


def test_formulas_keep_leading_axes_of_a_stack():
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 20, (5, 3, 2, 2)).astype("float64")
    for name in ["precision", "f1", "mcc", "cohen_kappa", "balanced_accuracy", "accuracy"]:
        fn = F.get(name)
        got = fn(stack)
        assert got.shape == (5, 3)
        np.testing.assert_allclose(got[2, 1], fn(stack[2, 1]))
    multi = rng.integers(0, 20, (4, 3, 3))
    assert F.precision(multi, average=None).shape == (4, 3)
    assert F.precision(multi, average="macro").shape == (4,)


def test_formula_gradients_are_finite_on_soft_counts_without_positives():
    y = np.zeros(6, "float32")

    def fn(p):
        cm = kc.soft_confusion_matrix(y, p)
        return ops.stack([F.f1(cm), F.mcc(cm), F.precision(cm), F.recall(cm),
                          F.specificity(cm), F.balanced_accuracy(cm), F.cohen_kappa(cm)])

    for p in (np.zeros(6, "float32"), np.full(6, 0.5, "float32"), np.ones(6, "float32")):
        assert np.all(np.isfinite(gradient(fn, p)))


def test_mcc_keeps_float32_precision_on_large_counts():
    cm = np.array([[9_000_000, 1_000_003], [999_997, 3_000_011]], "float64")
    expected = F.mcc(cm)
    got = to_numpy(F.mcc(ops.convert_to_tensor(cm.astype("float32"))))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: F.fbeta(np.eye(2), beta=0), "beta"),
        (lambda: F.fbeta(np.eye(2), beta=-1.0), "beta"),
        (lambda: F.precision(np.eye(3)), "average"),
        (lambda: F.precision(np.eye(2), average="samples"), "average"),
        (lambda: F.expected_cost(np.eye(3), np.ones((2, 2))), "cost_matrix"),
        (lambda: F.expected_cost(np.eye(2), [[0, -1], [1, 0]]), "cost_matrix"),
        (lambda: F.expected_cost(np.eye(2), [1, 2, 3]), "cost_matrix"),
        (lambda: F.tversky(np.eye(2), alpha=-0.1), "alpha"),
        (lambda: F.precision(np.ones((2, 3))), "cm"),
        (lambda: F.precision(np.eye(2), zero_division=np.nan), "zero_division"),
        (lambda: F.cohen_kappa(np.eye(2), weights="cubic"), "weights"),
        (lambda: F.get("f2"), "formula"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=f"Argument `{argument}`.*Received: {argument}="):
        call()


@pytest.mark.parametrize("name", sorted(F.BY_NAME))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_every_formula_refuses_a_non_finite_count_instead_of_zero_division(name, bad):
    # A NaN denominator failed `den > 0` and took zero_division: precision of
    # [[5, nan], [1, 7]] read 0.0, or 1.0 (perfect) with zero_division=1.0.
    fn = F.get(name)
    kwargs = {"cost_matrix": [[0, 1], [5, 0]]} if fn is F.expected_cost else {}
    stack = np.tile(np.array([[5.0, 3.0], [1.0, 7.0]]), (3, 1, 1))
    assert np.all(np.isfinite(fn(stack, **kwargs)))
    stack[2, 0, 1] = bad
    with pytest.raises(ValueError, match=r"Argument `cm` must be finite counts.*Received: "
                                         rf"cm=<{bad} at index \[2, 0, 1\]>"):
        fn(stack, **kwargs)


@pytest.mark.parametrize("cm", [[["1", "2"], ["3", "4"]], [[1, "a"], [2, 3]],
                                np.array([["a", 1], [2, 3]], dtype=object)])
def test_formulas_refuse_text_naming_cm(cm):
    # '[["a", "b"], ["c", "d"]]' said "could not convert string to float: 'a'", and
    # '[["1", "2"], ["3", "4"]]' was read as numbers.
    with pytest.raises(ValueError, match=r"Argument `cm` must be a confusion matrix of counts"):
        F.precision(cm)


def test_get_returns_formulas_by_name_and_costs_are_lower_is_better():
    assert F.get("sensitivity") is F.recall
    assert F.get("f1") is F.f1
    assert F.greater_is_better(F.f1)
    assert not F.greater_is_better(F.expected_cost)


@pytest.mark.parametrize("k", [2, 4])
def test_every_formula_on_float64_tensors_equals_numpy(k):
    """float64 backend tensors (the losses' counts) go through every formula and option
    as NumPy arrays do (balanced_accuracy mixed a float32 constant in on TensorFlow)."""
    rng = np.random.default_rng(k)
    cm = rng.integers(0, 30, (3, k, k)).astype("float64")
    cm[0, 1] = 0  # a class without support
    cost = rng.random((k, k))
    calls = []
    for name in sorted(F.BY_NAME):
        fn = F.get(name)
        if name == "expected_cost":
            calls.append((name, fn, {"cost_matrix": cost}))
            continue
        per_class = "average" in fn.__code__.co_varnames
        if not (per_class and k > 2):  # their default, "binary", needs K = 2
            calls.append((name, fn, {}))
        if name == "balanced_accuracy":
            calls.append((name, fn, {"adjusted": True}))
        if name == "cohen_kappa":
            calls += [(name, fn, {"weights": "linear"}), (name, fn, {"weights": "quadratic"})]
        if per_class and k > 2:
            calls += [(name, fn, {"average": a}) for a in AVERAGES]
    for name, fn, kwargs in calls:
        expected = fn(cm, **kwargs)
        got = fn(ops.convert_to_tensor(cm), **kwargs)
        np.testing.assert_allclose(np.asarray(to_numpy(got), "float64"), expected,
                                   rtol=1e-5, atol=1e-6, err_msg=f"{name} {kwargs}")
