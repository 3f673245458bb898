"""Hard, soft and per-threshold counts against scikit-learn and brute force."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given
from hypothesis import strategies as st
from keras import ops

import keras_confusion as kc

from conftest import BACKEND, compiled, gradient, to_numpy

# Scores on a coarse grid: exactly representable in float32 and full of ties.
GRID = np.arange(0, 21) / 20.0
# A few sample counts (0 and 1 included): JAX compiles once per shape, so random sizes
# would spend the test budget compiling.
SIZES = st.sampled_from([0, 1, 2, 17, 200])


def _binary_data(seed, n, *, weights=False, grid=True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.choice(GRID, n) if grid else rng.random(n).astype("float32")
    s = s.astype("float32")
    w = rng.choice([0.0, 0.5, 1.0, 2.0], n).astype("float32") if weights else None
    return y, s, w


def sk_confusion(y, pred, labels, w=None):
    """scikit-learn's matrix; it refuses empty input and all-zero weights, which count 0."""
    if len(y) == 0 or (w is not None and not np.any(w)):
        return np.zeros((len(labels), len(labels)))
    return skm.confusion_matrix(y, pred, labels=labels, sample_weight=w)


def _sk_binary(y, s, threshold, w=None):
    # The exact rule on the values given: float32 scores against the float64 threshold
    # (the grid's k / 20 are float32 only for k = 0, 5, 10, 15, 20: ties there; else a
    # float32 score of the grid is just above or just below the same threshold).
    return sk_confusion(y, (s.astype("float64") >= threshold).astype(int), [0, 1], w)


# ----------------------------------------------------------------------- binary


@given(seed=st.integers(0, 2**31), n=SIZES, thr=st.sampled_from(list(GRID)),
       weighted=st.booleans())
def test_binary_counts_equal_sklearn_on_random_data_with_ties(seed, n, thr, weighted):
    y, s, w = _binary_data(seed, n, weights=weighted)
    got = to_numpy(kc.confusion_matrix(y, s, threshold=thr, sample_weight=w))
    np.testing.assert_allclose(got, _sk_binary(y, s, thr, w), atol=1e-5)


@given(seed=st.integers(0, 2**31), n=st.sampled_from([1, 17, 300]),
       batch_size=st.sampled_from([7, 64]))
def test_binary_counts_accumulated_over_batches_equal_one_shot_and_sklearn(seed, n, batch_size):
    y, s, w = _binary_data(seed, n, weights=True)
    total = sum(to_numpy(kc.confusion_matrix(y[i:i + batch_size], s[i:i + batch_size],
                                             sample_weight=w[i:i + batch_size]))
                for i in range(0, n, batch_size))
    one_shot = to_numpy(kc.confusion_matrix(y, s, sample_weight=w))
    np.testing.assert_allclose(total, one_shot, atol=1e-4)
    np.testing.assert_allclose(one_shot, _sk_binary(y, s, 0.5, w), atol=1e-4)


def test_unweighted_counts_are_integers_and_weighted_counts_are_floats():
    y, s, w = _binary_data(0, 50, weights=True)
    assert "int" in str(kc.confusion_matrix(y, s).dtype)
    assert "float" in str(kc.confusion_matrix(y, s, sample_weight=w).dtype)


@pytest.mark.parametrize("form", ["list", "float32", "float16", "float32 tensor",
                                  "compiled float32 tensor"])
def test_score_equal_to_threshold_is_positive(form):
    # Every score here is exact in every dtype; Python floats are decided in float64
    # NumPy, the others by the backend's comparison.
    s = [0.5, 0.5, 0.25, 0.75]
    if form != "list":
        s = np.asarray(s, form.split()[-2] if "tensor" in form else form)
    if "tensor" in form:
        s = ops.convert_to_tensor(s)
    count = (compiled(lambda y, s: kc.confusion_matrix(y, s, threshold=0.5))
             if form.startswith("compiled") else
             lambda y, s: kc.confusion_matrix(y, s, threshold=0.5))
    cm = to_numpy(count(ops.convert_to_tensor(np.array([1, 0, 1, 0], "float32")), s))
    # scikit-learn's >= rule: both 0.5 scores are predicted positive.
    np.testing.assert_array_equal(cm, [[0, 2], [1, 1]])


@pytest.mark.parametrize(
    ("y", "s", "expected"),
    [
        ([0, 0, 0], [0.1, 0.7, 0.2], [[2, 1], [0, 0]]),  # no positives
        ([1, 1, 1], [0.1, 0.7, 0.9], [[0, 0], [1, 2]]),  # no negatives
        ([0, 1, 1], [0.1, 0.2, 0.3], [[1, 0], [2, 0]]),  # no predicted positives
        ([0, 1, 1], [0.6, 0.8, 0.9], [[0, 1], [0, 2]]),  # no predicted negatives
        ([], [], [[0, 0], [0, 0]]),  # empty input
    ],
)
def test_binary_edge_cases_equal_sklearn(y, s, expected):
    got = to_numpy(kc.confusion_matrix(np.asarray(y, "float32"), np.asarray(s, "float32")))
    np.testing.assert_array_equal(got, expected)
    if len(y):
        np.testing.assert_array_equal(got, _sk_binary(np.array(y), np.array(s), 0.5))


def test_all_zero_sample_weights_give_a_zero_matrix():
    y, s, _ = _binary_data(1, 40)
    got = to_numpy(kc.confusion_matrix(y, s, sample_weight=np.zeros(40)))
    np.testing.assert_array_equal(got, np.zeros((2, 2)))


def test_column_vector_inputs_equal_flat_inputs():
    y, s, w = _binary_data(2, 30, weights=True)
    flat = to_numpy(kc.confusion_matrix(y, s, sample_weight=w))
    col = to_numpy(kc.confusion_matrix(y[:, None], s[:, None], sample_weight=w[:, None]))
    mixed = to_numpy(kc.confusion_matrix(y, s[:, None], sample_weight=w))
    np.testing.assert_allclose(col, flat)
    np.testing.assert_allclose(mixed, flat)


@pytest.mark.parametrize(("y_shape", "s_shape"), [((1,), (1, 1)), ((1, 1), (1,)), ((1,), (1,))])
def test_batch_of_one_sample_keeps_its_batch_axis(y_shape, s_shape):
    y = np.ones(y_shape, "float32")
    s = np.full(s_shape, 0.75, "float32")
    np.testing.assert_array_equal(to_numpy(kc.confusion_matrix(y, s)), [[0, 0], [0, 1]])
    np.testing.assert_allclose(to_numpy(kc.soft_confusion_matrix(y, s)), [[0, 0], [0.25, 0.75]])


def test_extra_axes_are_samples_and_batch_weights_broadcast_over_them():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, (4, 5, 6, 1)).astype("float32")
    s = rng.choice(GRID, (4, 5, 6, 1)).astype("float32")
    w = np.array([1.0, 0.0, 2.0, 0.5], "float32")
    got = to_numpy(kc.confusion_matrix(y, s, sample_weight=w))
    w_pixels = np.broadcast_to(w[:, None, None, None], y.shape).ravel()
    np.testing.assert_allclose(got, _sk_binary(y.ravel(), s.ravel(), 0.5, w_pixels), atol=1e-5)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_from_logits_decision_equals_sigmoid_then_threshold(threshold):
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 500)
    logits = rng.normal(0, 3, 500).astype("float32")
    logits[:3] = 0.0  # exactly at the 0.5 boundary
    p = 1.0 / (1.0 + np.exp(-logits.astype("float64")))
    got = to_numpy(kc.confusion_matrix(y, logits, threshold=threshold, from_logits=True))
    expected = skm.confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1])
    np.testing.assert_array_equal(got, expected)


# ------------------------------------------------------------------- multiclass


@given(seed=st.integers(0, 2**31), n=SIZES, k=st.sampled_from([2, 3, 7]),
       weighted=st.booleans(), one_hot=st.booleans())
def test_multiclass_counts_equal_sklearn_for_sparse_and_one_hot_labels(seed, n, k, weighted,
                                                                        one_hot):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    p = rng.integers(0, 4, (n, k)).astype("float32")  # integer scores: ties in the argmax
    w = rng.choice([0.0, 1.0, 3.0], n).astype("float32") if weighted else None
    labels = np.eye(k, dtype="float32")[y] if one_hot else y
    got = to_numpy(kc.confusion_matrix(labels, p, num_classes=k, sample_weight=w))
    expected = sk_confusion(y, np.argmax(p, axis=-1), list(range(k)), w)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_multiclass_one_class_only_fills_one_cell():
    p = np.tile(np.array([[0.1, 0.7, 0.2]], "float32"), (5, 1))
    got = to_numpy(kc.confusion_matrix(np.ones(5, "int32"), p, num_classes=3))
    expected = np.zeros((3, 3))
    expected[1, 1] = 5
    np.testing.assert_array_equal(got, expected)


def test_two_column_scores_with_num_classes_2_use_the_argmax():
    p = np.array([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]], "float32")
    got = to_numpy(kc.confusion_matrix([0, 1, 1], p, num_classes=2))
    np.testing.assert_array_equal(got, [[1, 0], [1, 1]])  # tie -> first class, as argmax


def test_one_dimensional_scores_with_num_classes_2_are_binary_scores():
    # Two samples, not one sample's two class scores.
    got = to_numpy(kc.confusion_matrix([0, 1], [0.2, 0.9], num_classes=2))
    np.testing.assert_array_equal(got, [[1, 0], [0, 1]])


def test_multiclass_segmentation_map_counts_every_pixel():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, (2, 4, 4))
    p = rng.random((2, 4, 4, 3)).astype("float32")
    got = to_numpy(kc.confusion_matrix(y, p, num_classes=3))
    expected = skm.confusion_matrix(y.ravel(), p.argmax(-1).ravel(), labels=[0, 1, 2])
    np.testing.assert_array_equal(got, expected)


# ------------------------------------------------------------------- multilabel


@given(seed=st.integers(0, 2**31), n=SIZES, n_labels=st.sampled_from([1, 4]),
       weighted=st.booleans())
def test_multilabel_counts_equal_sklearn_multilabel_confusion_matrix(seed, n, n_labels,
                                                                      weighted):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, (n, n_labels))
    s = rng.choice(GRID, (n, n_labels)).astype("float32")
    thr = rng.choice(GRID[1:], n_labels)
    w = rng.choice([0.0, 1.0, 2.0], n).astype("float32") if weighted else None
    got = to_numpy(kc.confusion_matrix(y, s, multilabel=True, threshold=thr, sample_weight=w))
    assert got.shape == (n_labels, 2, 2)
    pred = (s.astype("float64") >= thr).astype(int)
    if n_labels > 1 and n and (w is None or w.any()):
        expected = skm.multilabel_confusion_matrix(y, pred, sample_weight=w)
    else:  # scikit-learn reads one column as a binary task about class 0
        expected = [sk_confusion(y[:, i], pred[:, i], [0, 1], w) for i in range(n_labels)]
    np.testing.assert_allclose(got, expected, atol=1e-5)


# ------------------------------------------------------------------ soft counts


def test_soft_counts_equal_hard_counts_when_probabilities_are_zero_or_one():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 100)
    p = rng.integers(0, 2, 100).astype("float32")
    w = rng.random(100).astype("float32")
    soft = to_numpy(kc.soft_confusion_matrix(y, p, sample_weight=w))
    hard = to_numpy(kc.confusion_matrix(y, p, sample_weight=w))
    np.testing.assert_allclose(soft, hard, atol=1e-5)
    k = 4
    yk = rng.integers(0, k, 100)
    pk = np.eye(k, dtype="float32")[rng.integers(0, k, 100)]
    np.testing.assert_allclose(to_numpy(kc.soft_confusion_matrix(yk, pk, k)),
                               to_numpy(kc.confusion_matrix(yk, pk, k)), atol=1e-5)


@given(seed=st.integers(0, 2**31), n=SIZES, k=st.sampled_from([2, 5]),
       from_logits=st.booleans())
def test_soft_multiclass_counts_equal_numpy_expected_counts_and_sum_to_total_weight(
        seed, n, k, from_logits):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = rng.normal(0, 2, (n, k)).astype("float32")
    w = rng.random(n).astype("float32")
    p = np.exp(x - x.max(-1, keepdims=True)) if from_logits else np.abs(x)
    p = p / np.maximum(p.sum(-1, keepdims=True), 1e-12)
    expected = (np.eye(k)[y] * w[:, None]).T @ p
    got = to_numpy(kc.soft_confusion_matrix(y, x if from_logits else p.astype("float32"), k,
                                            from_logits=from_logits, sample_weight=w))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got.sum(), w.sum(), rtol=1e-4, atol=1e-4)


def test_soft_binary_and_multilabel_counts_equal_numpy_expected_counts():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, (60, 3))
    p = rng.random((60, 3)).astype("float32")
    got = to_numpy(kc.soft_confusion_matrix(y, p, multilabel=True))
    for label in range(3):
        t, q = y[:, label], p[:, label].astype("float64")
        expected = [[np.sum((1 - t) * (1 - q)), np.sum((1 - t) * q)],
                    [np.sum(t * (1 - q)), np.sum(t * q)]]
        np.testing.assert_allclose(got[label], expected, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(kc.soft_confusion_matrix(y[:, 0], p[:, 0])), got[0],
                               rtol=1e-6)


def test_soft_counts_with_logits_stay_exact_at_extreme_logits():
    logits = np.array([1e4, -1e4, 30.0, -30.0], "float32")
    got = to_numpy(kc.soft_confusion_matrix([1, 0, 1, 0], logits, from_logits=True))
    np.testing.assert_allclose(got, [[2, 0], [0, 2]], atol=1e-6)


@pytest.mark.parametrize("labels", [[0, 0, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 1]])
def test_soft_counts_gradient_is_finite_everywhere_on_the_unit_interval(labels):
    p = np.array([0.0, 1.0, 0.5, 1e-7, 1 - 1e-7], "float32")

    cells = ops.convert_to_tensor(np.array([[1.0, 2.0], [3.0, 5.0]], "float32"))

    def fn(x):
        return ops.sum(kc.soft_confusion_matrix(np.asarray(labels, "float32"), x) * cells)

    g = gradient(fn, p)
    # d/dp_n of the weighted cells: (2 - 1) for a negative sample, (5 - 3) for a positive.
    np.testing.assert_allclose(g, np.where(np.asarray(labels) == 1, 2.0, 1.0), rtol=1e-6)


def test_soft_counts_are_float32_under_half_precision_inputs():
    p = np.full(70000, 0.75, "float16")
    cm = kc.soft_confusion_matrix(np.ones(70000), p)
    assert keras.backend.standardize_dtype(cm.dtype) == "float32"
    # float16 would overflow at 65,504.
    np.testing.assert_allclose(to_numpy(cm)[1].sum(), 70000)


# ----------------------------------------------------------- per-threshold counts


@given(seed=st.integers(0, 2**31), n=SIZES, weighted=st.booleans(),
       n_thr=st.sampled_from([1, 12]))
def test_threshold_matrices_equal_sklearn_at_each_threshold(seed, n, weighted, n_thr):
    y, s, w = _binary_data(seed, n, weights=weighted)
    rng = np.random.default_rng(seed + 1)
    thresholds = rng.choice(GRID, n_thr)  # unsorted, with duplicates and ties with scores
    got = to_numpy(kc.threshold_confusion_matrices(y, s, thresholds, sample_weight=w))
    assert got.shape == (n_thr, 2, 2)
    for i, t in enumerate(thresholds):
        np.testing.assert_allclose(got[i], _sk_binary(y, s, t, w), atol=1e-4)


def test_threshold_matrices_equal_hard_confusion_matrix_at_each_grid_threshold():
    y, s, _ = _binary_data(8, 300, grid=False)
    got = to_numpy(kc.threshold_confusion_matrices(y, s, 11))
    for i, t in enumerate(np.linspace(0, 1, 11)):
        np.testing.assert_array_equal(got[i], to_numpy(kc.confusion_matrix(y, s, threshold=t)))


@pytest.mark.parametrize("spacing", ["linear", "logit"])
def test_threshold_matrices_from_logits_equal_hard_matrices_from_logits(spacing):
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 400)
    logits = rng.normal(0, 4, 400).astype("float32")
    grid = kc.counts.thresholds_grid(33, spacing=spacing)
    got = to_numpy(kc.threshold_confusion_matrices(y, logits, grid, from_logits=True))
    for i, t in enumerate(grid):
        np.testing.assert_array_equal(
            got[i], to_numpy(kc.confusion_matrix(y, logits, threshold=t, from_logits=True)))


def test_logit_spaced_grid_resolves_rare_event_scores():
    grid = kc.counts.thresholds_grid(50, spacing="logit")
    assert np.all(np.diff(grid) > 0)
    assert grid[0] < 1e-6 and grid[-1] > 1 - 1e-6
    assert np.sum(grid < 0.01) >= 10  # a linear grid of 50 has one threshold below 0.01


# ---------------------------------------------------------------- compiled paths


def test_compiled_counts_equal_eager_counts():
    y, s, w = _binary_data(9, 256, weights=True)
    fn = compiled(lambda a, b, c: kc.confusion_matrix(a, b, sample_weight=c))
    np.testing.assert_allclose(
        to_numpy(fn(ops.convert_to_tensor(y, "float32"), ops.convert_to_tensor(s),
                    ops.convert_to_tensor(w))),
        _sk_binary(y, s, 0.5, w), atol=1e-4)


def test_compiled_counts_do_not_count_nan_scores_or_invalid_labels_as_negatives():
    from keras_confusion.counts import format_inputs, hard_counts

    y = np.array([0, 1, 0, 1, 2, 0], "float32")
    s = np.array([0.1, np.nan, np.inf, 0.9, 0.9, 0.2], "float32")

    def fn(a, b):
        return hard_counts(format_inputs(a, b, None, False, None))

    cm, invalid = compiled(fn)(ops.convert_to_tensor(y), ops.convert_to_tensor(s))
    np.testing.assert_array_equal(to_numpy(cm), [[2, 0], [0, 1]])
    assert int(to_numpy(invalid)) == 3


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "argument", "seen"),
    [
        (dict(y_true=[0, 2], y_pred=[0.1, 0.2]), "y_true", "2"),
        (dict(y_true=[0, 3], y_pred=np.full((2, 3), 1 / 3), num_classes=3), "y_true", "3"),
        (dict(y_true=[0, 1, 1], y_pred=[0.1, 0.2]), "y_true", "(3,)"),
        (dict(y_true=[0, 1], y_pred=np.full((2, 4), 0.25), num_classes=3), "y_pred", "(2, 4)"),
        (dict(y_true=[0, 1], y_pred=[0.1, 0.2], sample_weight=[1.0, -1.0]), "sample_weight",
         "-1.0"),
        (dict(y_true=[0, 1], y_pred=[0.1, np.nan]), "y_pred", "nan"),
        (dict(y_true=[0, 1], y_pred=[0.1, 3.0]), "y_pred", "3.0"),
        (dict(y_true=[0, 1], y_pred=[0.1, 0.2], num_classes=1), "num_classes", "1"),
        (dict(y_true=[0, 1], y_pred=[0.1, 0.2], threshold=1.5), "threshold", "1.5"),
        (dict(y_true=[0, 1], y_pred=[0.1, 0.2], sample_weight=[1.0, 1.0, 1.0]),
         "sample_weight", "(3,)"),
    ],
)
def test_bad_input_raises_value_error_naming_argument_and_value(kwargs, argument, seen):
    with pytest.raises(ValueError, match=f"Argument `{argument}`") as info:
        kc.confusion_matrix(**kwargs)
    assert seen in str(info.value)


def test_bad_thresholds_raise_value_error_naming_thresholds():
    with pytest.raises(ValueError, match=r"Argument `thresholds`.*Received: thresholds=1"):
        kc.threshold_confusion_matrices([0, 1], [0.2, 0.8], 1)
    with pytest.raises(ValueError, match="Argument `thresholds`"):
        kc.threshold_confusion_matrices([0, 1], [0.2, 0.8], [0.5, 2.0])


def test_backend_name_is_one_of_the_three_supported():
    assert BACKEND in ("jax", "tensorflow", "torch")


# ------------------------------------------------------------- the row argmax kernel


def _adversarial_rows(k, rng):
    """Rows of width k whose first maximum is hard to find: ties, all zeros, maxima
    below 2**-60 whose neighbours differ by a subnormal amount, huge magnitudes, and
    NaN / +-inf rows; plus random rows. Padding is -1e30, far below every maximum."""
    tiny = float(np.float32(2.0**-126))
    small = [
        [1.5e-38, 1.6e-38, 0.0],
        [tiny, float(np.nextafter(np.float32(tiny), np.float32(1))), 0.0, -1.0],
        [0.0, 0.0, 0.0],
        [-0.0, 0.0, -0.0],
        [-1e30, -1e30, -2e30],
        [3e38, -3e38, 3e38, 1.0],
        [3e38, 3e38, 1.0],  # finite scores whose row sum overflows
        [1.0, 2.0, 2.0, 1.0, 2.0],
        [-(2.0**-61), -(2.0**-60), -(2.0**-61)],
        [2.0**-61, float(np.nextafter(np.float32(2.0**-61), np.float32(1))), 0.0],
        [np.nan, 1.0, 2.0],
        [1.0, np.inf, 2.0],
        [1.0, -np.inf, 2.0],
        [-np.inf, -np.inf, -np.inf],
    ]
    rows = []
    for values in small:
        row = np.full(k, -1e30, "float32")
        row[rng.choice(k, len(values), replace=False)] = values
        rows.append(row)
    for e in range(-100, 120, 11):  # a maximum and its float32 neighbour below, at scale 2**e
        row = (np.float32(2.0**e) * rng.uniform(1, 2, k)).astype("float32")
        i, j = rng.choice(k, 2, replace=False)
        row[j] = np.nextafter(row.max(), np.float32(-np.inf))
        row[i] = np.nextafter(row[j], np.float32(np.inf))
        rows += [row, -row]
    rows += list(rng.normal(size=(20, k)).astype("float32"))
    rows += list(rng.integers(0, 3, size=(20, k)).astype("float32"))  # ties everywhere
    return np.stack(rows)


# Eagerly, compiled as Keras compiles a step, and on TensorFlow as a plain tf.function
# (Keras' choice on a machine with CPUs only), which keeps TensorFlow's own argmax (by
# blocks from 320 classes). "eager-blocks": eagerly, with those blocks taken however
# small the batch (eagerly they are taken from 6 M scores only).
_ARGMAX_MODES = ["eager", "compiled", "graph", "eager-blocks"] if BACKEND == "tensorflow" \
    else ["eager", "compiled"]


# XLA's and torch's own argmax below 28 and 64; TensorFlow's XLA reads finiteness from
# its argmax up to 16 classes; TensorFlow outside XLA takes blocks of 40 from 320.
@pytest.mark.parametrize("k", [5, 16, 17, 40, 300, 320, 1000])
@pytest.mark.parametrize("mode", _ARGMAX_MODES)
@pytest.mark.parametrize("tall", [False, True])  # tall: NumPy's argmax in threaded blocks
def test_row_argmax_is_numpys_first_maximum_and_finiteness_on_adversarial_rows(
        k, mode, tall, monkeypatch):
    from keras_confusion import _backend
    from keras_confusion._backend import kernels

    if mode == "eager-blocks":
        monkeypatch.setattr(kernels, "_BLOCKED_EAGER_MIN_SCORES", 0)
    x = _adversarial_rows(k, np.random.default_rng(k))
    if tall:
        x = np.random.default_rng(0).permutation(np.tile(x, ((1 << 21) // x.size + 1, 1)))
    fn = compiled(_backend.row_argmax) if mode == "compiled" else _backend.row_argmax
    if mode == "graph":
        import tensorflow as tf

        fn = tf.function(_backend.row_argmax, jit_compile=False)
        graph = fn.get_concrete_function(tf.TensorSpec(x.shape, tf.float32)).graph
        # No call back into Python: the update stays exportable in a SavedModel.
        assert not any(op.type.startswith("PyFunc") for op in graph.get_operations())
    index, finite = (to_numpy(v) for v in fn(ops.convert_to_tensor(x)))
    expected_finite = np.isfinite(x).all(axis=-1)
    np.testing.assert_array_equal(finite, expected_finite)
    np.testing.assert_array_equal(index[expected_finite], x.argmax(axis=-1)[expected_finite])
    assert index.dtype == np.int32
    assert ((index >= 0) & (index < k)).all()  # in range even where not finite


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_numpy_rows_in_threaded_blocks_equal_one_numpy_pass(threads):
    from keras_confusion._backend import kernels

    rng = np.random.default_rng(threads)
    for n, k in [(1, 70), (5000, 300), (9001, 64)]:  # blocks of 1747 and 8192 rows
        x = rng.normal(size=(n, k)).astype("float32")
        x[rng.random(x.shape) < 1e-4] = np.nan
        index, sums = kernels._numpy_rows(x, threads)
        assert index.dtype == np.int32
        np.testing.assert_array_equal(index, x.argmax(axis=-1))
        np.testing.assert_array_equal(sums, np.einsum("ij->i", x))


def test_multiclass_counts_of_wide_scores_equal_sklearn_eager_and_compiled(rng):
    k = 300
    x = _adversarial_rows(k, rng)
    finite = np.isfinite(x).all(axis=-1)
    x, y = x[finite], rng.integers(0, k, int(finite.sum()))
    expected = skm.confusion_matrix(y, x.argmax(-1), labels=range(k))
    np.testing.assert_array_equal(to_numpy(kc.confusion_matrix(y, x, num_classes=k)), expected)
    fn = compiled(lambda a, b: kc.confusion_matrix(a, b, num_classes=k))
    np.testing.assert_array_equal(
        to_numpy(fn(ops.convert_to_tensor(y, "int32"), ops.convert_to_tensor(x))), expected)


def test_weighted_counts_keep_growing_past_2_24_in_a_cell(monkeypatch):
    """A float32 histogram adding one weight at a time stays at 2**24 (2**24 + 1 rounds
    back): a large weighted batch is histogrammed per chunk and the chunks summed. Here
    chunks of 4 samples stand for chunks of 2**20."""
    from keras_confusion import counts

    w = np.array([2.0**24, 0, 0, 0] + [1.0] * 8, dtype="float32")
    y = np.zeros(len(w), dtype="int32")
    s = np.full(len(w), 0.25, dtype="float32")
    monkeypatch.setattr(counts, "WEIGHTED_CHUNK", 4)
    expected = [[2.0**24 + 8, 0], [0, 0]]  # float32 holds 2**24 + 8 exactly
    np.testing.assert_array_equal(to_numpy(kc.confusion_matrix(y, s, sample_weight=w)),
                                  expected)
    np.testing.assert_array_equal(
        to_numpy(kc.threshold_confusion_matrices(y, s, [0.5], sample_weight=w))[0], expected)
    # Random data in chunks of 4: the same as scikit-learn.
    rng = np.random.default_rng(3)
    y, s, w = _binary_data(4, 203, weights=True, grid=False)
    np.testing.assert_allclose(to_numpy(kc.confusion_matrix(y, s, sample_weight=w)),
                               _sk_binary(y, s, 0.5, w), rtol=1e-6)
    k = 5
    yk = rng.integers(0, k, 203)
    p = rng.random((203, k)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(kc.confusion_matrix(yk, p, num_classes=k, sample_weight=w)),
        sk_confusion(yk, p.argmax(1), list(range(k)), w), rtol=1e-6)


def _straddling_float64_scores(thresholds, rng):
    """Float64 scores on both sides of each threshold, closer than a float32 step."""
    t = np.asarray(thresholds, dtype="float64")
    near = np.concatenate([t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf),
                           t - 1e-11, t + 1e-11])
    return np.clip(np.concatenate([near, rng.random(40)]), 0.0, 1.0)


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.1 + 1e-12])
def test_float64_numpy_scores_are_decided_exactly_as_sklearn_on_every_backend(threshold):
    # JAX without x64 rounds float64 to float32: 0.49999999999 became 0.5 (positive).
    rng = np.random.default_rng(7)
    s = _straddling_float64_scores([threshold], rng)
    y = rng.integers(0, 2, len(s))
    expected = skm.confusion_matrix(y, s >= threshold, labels=[0, 1])
    assert np.array_equal(to_numpy(kc.confusion_matrix(y, s, threshold=threshold)), expected)
    assert np.array_equal(  # a Python list of floats is float64 too
        to_numpy(kc.confusion_matrix(y.tolist(), s.tolist(), threshold=threshold)), expected)
    metric = kc.metrics.ConfusionMatrix(threshold=threshold)
    metric.update_state(y[:30], s[:30])
    metric.update_state(y[30:], s[30:])
    assert np.array_equal(metric.counts(), expected)
    z = np.log(s[(s > 0) & (s < 1)]) - np.log1p(-s[(s > 0) & (s < 1)])
    zy = y[(s > 0) & (s < 1)]
    t_logit = np.log(threshold) - np.log1p(-threshold)
    assert np.array_equal(
        to_numpy(kc.confusion_matrix(zy, z, threshold=threshold, from_logits=True)),
        skm.confusion_matrix(zy, z >= t_logit, labels=[0, 1]))


def test_float64_numpy_scores_get_exact_buckets_at_every_threshold():
    rng = np.random.default_rng(8)
    thresholds = [0.7, 0.2, 0.5, 0.30000000001]
    s = _straddling_float64_scores(thresholds, rng)
    y = rng.integers(0, 2, len(s))
    w = rng.choice([0.0, 1.0, 2.5], len(s))
    expected = np.stack([skm.confusion_matrix(y, s >= t, labels=[0, 1], sample_weight=w)
                         for t in thresholds])
    got = to_numpy(kc.threshold_confusion_matrices(y, s, thresholds, sample_weight=w))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    metric = kc.metrics.ThresholdConfusion(thresholds=thresholds)
    for part in np.array_split(np.arange(len(s)), 3):
        metric.update_state(y[part], s[part], sample_weight=w[part])
    np.testing.assert_allclose(metric.counts(), expected, rtol=0, atol=1e-6)
    grid = kc.metrics.ThresholdConfusion(num_thresholds=11)
    s_grid = _straddling_float64_scores(np.linspace(0, 1, 11), rng)
    y_grid = rng.integers(0, 2, len(s_grid))
    grid.update_state(y_grid, s_grid)
    assert np.array_equal(grid.counts(), np.stack(
        [skm.confusion_matrix(y_grid, s_grid >= t, labels=[0, 1]) for t in np.linspace(0, 1, 11)]))


def test_float64_numpy_multilabel_and_multiclass_decisions_equal_sklearn():
    rng = np.random.default_rng(9)
    thresholds = np.array([0.5, 0.7, 0.25])
    s = np.stack([_straddling_float64_scores([t], rng) for t in thresholds], axis=-1)
    y = rng.integers(0, 2, s.shape)
    got = to_numpy(kc.confusion_matrix(y, s, multilabel=True, threshold=thresholds))
    assert np.array_equal(got, skm.multilabel_confusion_matrix(y, s >= thresholds))
    # Multiclass scores closer than a float32 step: rounded, they would tie (first wins).
    base = rng.random((50, 3))
    base[:, 2] = base[:, 1] + rng.choice([-1e-11, 1e-11], 50)
    labels = rng.integers(0, 3, 50)
    assert np.array_equal(to_numpy(kc.confusion_matrix(labels, base, num_classes=3)),
                          skm.confusion_matrix(labels, base.argmax(-1), labels=[0, 1, 2]))
    metric = kc.metrics.ConfusionMatrix(num_classes=3)
    metric.update_state(labels, base)
    assert np.array_equal(metric.counts(),
                          skm.confusion_matrix(labels, base.argmax(-1), labels=[0, 1, 2]))


def test_metric_of_one_large_weighted_batch_equals_the_same_batch_in_parts(monkeypatch):
    """Weighted metric updates are histogrammed per chunk and each chunk is added to the
    compensated pair: one batch of weights [2**24, 1, 1, 1, 1] counts 2**24 + 4, as five
    batches do (chunks of 1 sample stand for chunks of 2**20; 6 M weights of 3 were
    counted 18,407,592)."""
    from keras_confusion import counts

    monkeypatch.setattr(counts, "WEIGHTED_CHUNK", 1)
    w = np.array([2.0**24, 1, 1, 1, 1], dtype="float32")
    y = np.zeros(len(w), dtype="int32")
    s = np.full(len(w), 0.25, dtype="float32")
    for metric in (kc.metrics.ConfusionMatrix(), kc.metrics.ThresholdConfusion(thresholds=[0.5])):
        metric.update_state(y, s, sample_weight=w)
        got = metric.counts()
        assert got.reshape(-1, 2, 2)[0, 0, 0] == 2**24 + 4


def test_float64_scalar_scores_are_decided_exactly():
    for score in (0.49999999999, np.float64(0.49999999999)):
        assert np.array_equal(to_numpy(kc.confusion_matrix(0, score)), [[1, 0], [0, 0]])
        assert np.array_equal(to_numpy(kc.confusion_matrix(1, score)), [[0, 0], [1, 0]])


def test_float64_labels_off_a_class_by_1e_10_are_invalid_on_every_backend():
    # JAX without x64 rounded 1 + 1e-10 to the label 1 and counted it.
    with pytest.raises(ValueError, match=r"`y_true`.*1\.0000000001 at sample 0"):
        kc.confusion_matrix(np.array([1 + 1e-10, 0.0]), np.array([0.7, 0.2]))
    with pytest.raises(ValueError, match=r"`y_true`.*1\.9999999999"):
        kc.confusion_matrix(np.array([2 - 1e-10, 0.0]), np.eye(3)[:2], num_classes=3)
    metric = kc.metrics.ConfusionMatrix()
    with pytest.warns(UserWarning, match="2 invalid samples"):
        metric.update_state(np.array([1 + 1e-10, 0.0, 2 - 1e-12, 1.0]),
                            np.array([0.7, 0.2, 0.9, 0.8]))
        metric.result()
    assert metric.invalid == 2
    assert np.array_equal(metric.counts(), [[1, 0], [0, 1]])
    # Soft counts take label distributions: 0.1 stays 0.1 (to float32 precision).
    soft = to_numpy(kc.soft_confusion_matrix(np.array([0.1, 1.0]), np.array([0.5, 0.5])))
    np.testing.assert_allclose(soft.sum(axis=1), [0.9, 1.1], rtol=1e-6)


@pytest.mark.parametrize("bad", [1.5, -0.5, np.nan])
def test_concrete_tensor_thresholds_are_checked_like_numbers(bad):
    threshold = keras.ops.convert_to_tensor(np.float32(bad))
    with pytest.raises(ValueError, match="`threshold`"):
        kc.confusion_matrix([0, 1], [0.2, 0.7], threshold=threshold)
    with pytest.raises(ValueError, match="`threshold`"):
        kc.confusion_matrix([0, 1], [0.2, 0.7], threshold=True)


def test_concrete_tensor_threshold_decides_float64_scores_exactly():
    # The threshold's own value, float32(0.7), against float64 scores a hair either side.
    t64 = float(np.float32(0.7))
    s = np.array([t64 - 1e-12, t64, t64 + 1e-12])
    y = np.array([1, 1, 0])
    t = keras.ops.convert_to_tensor(np.float32(0.7))
    assert np.array_equal(to_numpy(kc.confusion_matrix(y, s, threshold=t)),
                          skm.confusion_matrix(y, s >= t64, labels=[0, 1]))
