"""Losses over soft confusion counts: values, gradients, weights, edge cases, saving."""

from __future__ import annotations

import re
import warnings

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_confusion import formulas
from keras_confusion import losses as L
from keras_confusion._validation import ConfusionWarning

from conftest import BACKEND, to_numpy

COST = np.array([[0.0, 1.0], [10.0, 0.0]])


def _quiet(factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfusionWarning)
        return factory()


def named_losses(**kw):
    """One instance of every binary confusion loss, with its NumPy reference.

    A reference maps the smoothed ``[[tn, fp], [fn, tp]]`` cells to the loss value.
    """
    return [
        (_quiet(lambda: L.SpecificityLoss(sharpness=1.0, **kw)),
         lambda tn, fp, fn, tp: 1 - tn / (tn + fp)),
        (_quiet(lambda: L.SensitivityLoss(sharpness=1.0, **kw)),
         lambda tn, fp, fn, tp: 1 - tp / (tp + fn)),
        (_quiet(lambda: L.PrecisionLoss(sharpness=1.0, **kw)),
         lambda tn, fp, fn, tp: 1 - tp / (tp + fp)),
        (L.FBetaLoss(2.0, **kw), lambda tn, fp, fn, tp: 1 - 5 * tp / (5 * tp + 4 * fn + fp)),
        (L.TverskyLoss(0.3, 0.7, **kw), lambda tn, fp, fn, tp: 1 - tp / (tp + 0.3 * fp + 0.7 * fn)),
        (L.MCCLoss(**kw), lambda tn, fp, fn, tp: 1 - (tp * tn - fp * fn) / np.sqrt(
            (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))),
        (L.BalancedAccuracyLoss(**kw),
         lambda tn, fp, fn, tp: 1 - (tp / (tp + fn) + tn / (tn + fp)) / 2),
        (L.CostLoss(COST, **kw), lambda tn, fp, fn, tp: (fp + 10 * fn) / (tn + fp + fn + tp)),
        (_quiet(lambda: L.SpecificityLoss(min_sensitivity=0.9, sharpness=1.0, penalty=3.0, **kw)),
         lambda tn, fp, fn, tp: 1 - tn / (tn + fp) + 3 * max(0.0, 0.9 - tp / (tp + fn))),
    ]


def soft_cells(y, p, w=None, smoothing=1.0):
    """Reference soft counts ``tn, fp, fn, tp`` of a binary batch, smoothed."""
    w = np.ones_like(p) if w is None else w
    return tuple(np.sum(w * a * b) + smoothing for a, b in
                 [(1 - y, 1 - p), (1 - y, p), (y, 1 - p), (y, p)])


def gradient(fn, x, dtype="float32"):
    """d fn(x) / dx on the active backend, as float64 NumPy."""
    if BACKEND == "jax":
        import jax

        g = jax.grad(lambda v: fn(v))(keras.ops.convert_to_tensor(x, dtype=dtype))
        return np.asarray(g, dtype="float64")
    if BACKEND == "tensorflow":
        import tensorflow as tf

        v = tf.Variable(np.asarray(x), dtype=dtype)
        with tf.GradientTape() as tape:
            out = fn(v)
        return tape.gradient(out, v).numpy().astype("float64")
    import torch

    v = torch.tensor(np.asarray(x), dtype=getattr(torch, dtype), requires_grad=True)
    fn(v).backward()
    return v.grad.float().numpy().astype("float64")


def batch(seed, n, positives=None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype("float32") if positives is None else positives
    p = rng.uniform(0.01, 0.99, n).astype("float32")
    w = rng.uniform(0.0, 2.0, n).astype("float32")
    return y, p, w


# ------------------------------------------------------------------- values


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile (Keras' jit_compile=True)")
def test_every_binary_loss_under_torch_compile_equals_numpy_value_and_eager_gradient():
    import torch

    y, p, w = batch(3, 64)
    cells = soft_cells(y.astype("float64"), p.astype("float64"), w.astype("float64"))
    losses = named_losses()
    yt, wt = torch.from_numpy(y), torch.from_numpy(w)

    # One compiled function for all of them: each compilation takes seconds.
    @torch.compile
    def every_loss(v):
        return torch.stack([loss(yt, v, sample_weight=wt) for loss, _ in losses])

    v = torch.tensor(p, requires_grad=True)
    values = every_loss(v)
    np.testing.assert_allclose(values.detach().numpy(), [ref(*cells) for _, ref in losses],
                               rtol=2e-5, atol=2e-6)
    values.sum().backward()
    eager = sum(gradient(lambda x, loss=loss: loss(y, x, sample_weight=w), p)
                for loss, _ in losses)
    np.testing.assert_allclose(v.grad.numpy(), eager, rtol=1e-4, atol=1e-6)


@settings(max_examples=6)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 30))
def test_every_binary_loss_equals_numpy_reference_with_sample_weights(seed, n):
    y, p, w = batch(seed, n)
    cells = soft_cells(y.astype("float64"), p.astype("float64"), w.astype("float64"))
    for loss, ref in named_losses():
        got = float(to_numpy(loss(y, p, sample_weight=w)))
        np.testing.assert_allclose(got, ref(*cells), rtol=2e-5, atol=2e-6,
                                   err_msg=type(loss).__name__)


def test_from_logits_equals_sigmoid_of_logits(rng):
    x = rng.normal(0, 3, 40).astype("float32")
    y = (rng.random(40) < 0.4).astype("float32")
    p = 1 / (1 + np.exp(-x.astype("float64")))
    for loss, ref in named_losses(from_logits=True):
        np.testing.assert_allclose(float(to_numpy(loss(y, x))), ref(*soft_cells(y, p)),
                                   rtol=2e-5, atol=2e-6, err_msg=type(loss).__name__)


def test_multiclass_sparse_and_one_hot_labels_give_the_numpy_reference(rng):
    k, n = 4, 50
    logits = rng.normal(0, 2, (n, k)).astype("float32")
    labels = rng.integers(0, k, n)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    cm = np.eye(k)[labels].T @ p.astype("float64") + 0.5
    for name, kw in [("f1", {}), ("mcc", {}), ("balanced_accuracy", {}), ("precision", {}),
                     ("jaccard", {"average": "micro"})]:
        loss = L.ConfusionLoss(name, num_classes=k, from_logits=True, smoothing=0.5, **kw)
        extra = {"average": kw.get("average", "macro")} if name in formulas.PER_CLASS else {}
        ref = 1 - formulas.get(name)(cm, **extra)
        sparse = float(to_numpy(loss(labels, logits)))
        one_hot = float(to_numpy(loss(np.eye(k, dtype="float32")[labels], logits)))
        np.testing.assert_allclose([sparse, one_hot], [ref, ref], rtol=2e-5, err_msg=name)


def test_multiclass_cost_loss_is_expected_cost_of_soft_matrix(rng):
    k, n = 3, 30
    p = rng.dirichlet(np.ones(k), n).astype("float32")
    labels = rng.integers(0, k, n)
    cost = rng.uniform(0, 5, (k, k))
    cm = np.eye(k)[labels].T @ p.astype("float64")
    got = float(to_numpy(L.CostLoss(cost, num_classes=k, smoothing=0.0)(labels, p)))
    np.testing.assert_allclose(got, np.sum(cm * cost) / n, rtol=2e-5)


def test_multilabel_loss_is_mean_over_labels_of_binary_losses(rng):
    y = (rng.random((40, 3)) < 0.3).astype("float32")
    p = rng.uniform(0.01, 0.99, (40, 3)).astype("float32")
    loss = L.FBetaLoss(1.0, multilabel=True)
    per_label = [float(to_numpy(L.FBetaLoss(1.0)(y[:, j], p[:, j]))) for j in range(3)]
    np.testing.assert_allclose(float(to_numpy(loss(y, p))), np.mean(per_label), rtol=1e-5)


def test_segmentation_map_pixels_count_as_samples(rng):
    y = (rng.random((2, 5, 6, 1)) < 0.3).astype("float32")
    p = rng.uniform(0.01, 0.99, (2, 5, 6, 1)).astype("float32")
    loss = L.TverskyLoss(0.3, 0.7)
    np.testing.assert_allclose(float(to_numpy(loss(y, p))),
                               float(to_numpy(loss(y.ravel(), p.ravel()))), rtol=1e-6)


def test_user_formula_callable_is_used_and_cost_direction_respected(rng):
    def false_alarms(cm):
        return cm[..., 0, 1]

    false_alarms.greater_is_better = False
    y, p, _ = batch(1, 20)
    loss = L.ConfusionLoss(false_alarms, smoothing=0.0)
    np.testing.assert_allclose(float(to_numpy(loss(y, p))), np.sum((1 - y) * p), rtol=1e-5)


def test_sharpness_counts_sigmoid_of_scaled_logits(rng):
    x = rng.normal(0, 2, 30).astype("float32")
    y = (rng.random(30) < 0.5).astype("float32")
    loss = L.ConfusionLoss("recall", from_logits=True, sharpness=3.0, smoothing=0.0)
    q = 1 / (1 + np.exp(-3.0 * x.astype("float64")))
    np.testing.assert_allclose(float(to_numpy(loss(y, x))), 1 - np.sum(y * q) / y.sum(),
                               rtol=1e-5)
    # The same rule on probabilities: p -> sigmoid(3 logit(p)).
    p = 1 / (1 + np.exp(-x.astype("float64")))
    prob_loss = L.ConfusionLoss("recall", sharpness=3.0, smoothing=0.0)
    np.testing.assert_allclose(float(to_numpy(prob_loss(y, p.astype("float32")))),
                               1 - np.sum(y * q) / y.sum(), rtol=1e-4)


def test_constraint_penalty_is_zero_when_met_and_grows_with_shortfall():
    y = np.array([0, 0, 1, 1], "float32")
    good = np.array([-9, -9, 9, 9], "float32")  # sensitivity 1: constraint met
    bad = np.array([-9, -9, -9, 9], "float32")  # sensitivity 0.5
    kw = {"from_logits": True, "smoothing": 0.0}
    con = L.SpecificityLoss(min_sensitivity=0.9, penalty=2.0, **kw)
    plain = _quiet(lambda: L.SpecificityLoss(**kw))
    assert float(to_numpy(con(y, good))) == pytest.approx(float(to_numpy(plain(y, good))), abs=1e-6)
    assert float(to_numpy(con(y, bad))) == pytest.approx(
        float(to_numpy(plain(y, bad))) + 2.0 * (0.9 - 0.5), abs=1e-4)


# ------------------------------------------------------------------- sample weights


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_sample_weight_two_equals_duplicated_row_and_zero_equals_dropped_row(task, rng):
    n = 12
    if task == "binary":
        y, p = (rng.random(n) < 0.4).astype("float32"), rng.random(n).astype("float32")
        loss = L.MCCLoss()
    elif task == "multiclass":
        y, p = rng.integers(0, 3, n), rng.dirichlet(np.ones(3), n).astype("float32")
        loss = L.FBetaLoss(1.0, num_classes=3)
    else:
        y = (rng.random((n, 2)) < 0.4).astype("float32")
        p = rng.random((n, 2)).astype("float32")
        loss = L.BalancedAccuracyLoss(multilabel=True)
    w = np.ones(n, "float32")
    w[3], w[5] = 2.0, 0.0
    weighted = float(to_numpy(loss(y, p, sample_weight=w)))
    rows = [i for i in range(n) if i != 5] + [3]
    duplicated = float(to_numpy(loss(y[rows], p[rows])))
    assert weighted == pytest.approx(duplicated, rel=1e-5)


def test_sharpened_constraint_weight_two_equals_duplicated_row(rng):
    # The constraint's counts are sharpened (sharpness=4, the default) and weighted as
    # the objective's: a weight of 2 is a duplicated row there too.
    n = 12
    y, p = (rng.random(n) < 0.4).astype("float32"), rng.random(n).astype("float32")
    y[:2] = 1.0
    loss = L.SpecificityLoss(min_sensitivity=0.99, penalty=5.0)
    w = np.ones(n, "float32")
    w[0], w[5] = 3.0, 0.0
    rows = [i for i in range(n) if i != 5] + [0, 0]
    weighted = float(to_numpy(loss(y, p, sample_weight=w)))
    assert weighted == pytest.approx(float(to_numpy(loss(y[rows], p[rows]))), rel=1e-5)
    # The penalty is active here, so the constraint's counts enter the value.
    assert weighted > float(to_numpy(L.SpecificityLoss(min_sensitivity=0.0)(
        y, p, sample_weight=w)))


def test_per_sample_weights_broadcast_over_pixels(rng):
    y = (rng.random((3, 4, 4)) < 0.3).astype("float32")
    p = rng.random((3, 4, 4)).astype("float32")
    w = np.array([1.0, 0.0, 2.0], "float32")
    loss = L.FBetaLoss(1.0)
    expected = float(to_numpy(loss(y[[0, 2, 2]], p[[0, 2, 2]])))
    assert float(to_numpy(loss(y, p, sample_weight=w))) == pytest.approx(expected, rel=1e-5)


# ------------------------------------------------------------------- gradients


@settings(max_examples=3)
@given(seed=st.integers(0, 2**16))
def test_gradients_agree_with_finite_differences_of_numpy_reference(seed):
    y, p, w = batch(seed, 8, positives=np.array([0, 1, 0, 0, 1, 0, 1, 0], "float32"))
    x = np.log(p / (1 - p)).astype("float64")
    for loss, ref in named_losses(from_logits=True):
        def ref_of_logits(v, ref=ref):
            return ref(*soft_cells(y, 1 / (1 + np.exp(-v)), w))

        h = 1e-5
        numeric = np.array([(ref_of_logits(x + h * e) - ref_of_logits(x - h * e)) / (2 * h)
                            for e in np.eye(len(x))])
        got = gradient(lambda v, loss=loss: loss(y, v, sample_weight=w), x.astype("float32"))
        np.testing.assert_allclose(got, numeric, rtol=2e-3, atol=2e-5,
                                   err_msg=type(loss).__name__)


DEGENERATE = {
    "no_positives": (np.zeros(6), np.linspace(0.1, 0.9, 6), False),
    "no_negatives": (np.ones(6), np.linspace(0.1, 0.9, 6), False),
    "one_sample": (np.ones(1), np.array([0.3]), False),
    "exact_zero_and_one": (np.array([0, 1, 0, 1]), np.array([0.0, 1.0, 1.0, 0.0]), False),
    "exact_perfect": (np.array([0, 1, 0, 1]), np.array([0.0, 1.0, 0.0, 1.0]), False),
    "huge_logits": (np.array([0, 1, 0, 1]), np.array([-1e4, 1e4, 1e4, -1e4]), True),
    "huge_logits_no_positives": (np.zeros(3), np.array([-1e4, 1e4, 0.0]), True),
}


@pytest.mark.parametrize("case", sorted(DEGENERATE))
def test_loss_and_gradient_are_finite_on_degenerate_batches(case):
    y, scores, from_logits = DEGENERATE[case]
    y = y.astype("float32")
    extra = [(L.SpecificityLoss(min_sensitivity=0.9, from_logits=from_logits), None),
             (L.ConfusionLoss("cohen_kappa", from_logits=from_logits), None)]
    for loss, _ in [*named_losses(from_logits=from_logits), *extra]:
        value = to_numpy(loss(y, scores.astype("float32")))
        grad = gradient(lambda v, loss=loss: loss(y, v), scores)
        assert np.isfinite(value) and np.all(np.isfinite(grad)), type(loss).__name__


@pytest.mark.parametrize("logit", [-12.0, -45.0, -70.0, 12.0, 45.0, 70.0])
def test_loss_and_gradient_are_finite_on_saturated_scores_without_smoothing(logit):
    # Every score predicts the same class: the other predicted class's soft mass is
    # tiny but not 0 (~1e-31 at 70), and JAX's gradient of a ratio squares it.
    y = np.array([0, 1, 0, 1], "float32")
    x = np.full(4, logit, "float32")
    extra = [(_quiet(lambda: L.PrecisionLoss(min_recall=0.5, smoothing=0.0,
                                             from_logits=True)), None),
             (_quiet(lambda: L.SpecificityLoss(min_sensitivity=0.5, smoothing=0.0,
                                               from_logits=True)), None),
             (L.ConfusionLoss("npv", smoothing=0.0, from_logits=True), None)]
    for loss, _ in [*named_losses(from_logits=True, smoothing=0.0), *extra]:
        value = to_numpy(loss(y, x))
        grad = gradient(lambda v, loss=loss: loss(y, v), x)
        assert np.isfinite(value) and np.all(np.isfinite(grad)), type(loss).__name__


def test_precision_gradient_on_small_predicted_mass_equals_closed_form():
    # precision = sum(y p) / sum(p); d/dx_i = p_i (1 - p_i) (y_i - precision) / sum(p)
    y = np.array([0, 1, 0, 1], "float32")
    x = np.full(4, -30.0, "float32")  # sum(p) ~ 4e-13: small, but a ratio to keep
    p = 1 / (1 + np.exp(30.0))
    expected = -(1 - p) * (y - 0.5) / 4  # the loss is 1 - precision
    got = gradient(lambda v: L.ConfusionLoss("precision", smoothing=0.0, from_logits=True)(y, v), x)
    np.testing.assert_allclose(got, expected, rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_loss_and_gradient_are_finite_on_half_precision_scores(dtype):
    y = np.array([0, 0, 1, 0, 1, 0], "float32")
    x = np.array([-1e4, 3.0, 1e4, -2.0, -1e4, 0.0], "float32")
    for loss, _ in named_losses(from_logits=True):
        value = to_numpy(loss(y, keras.ops.convert_to_tensor(x, dtype=dtype)))
        grad = gradient(lambda v, loss=loss: loss(y, v), x, dtype=dtype)
        assert np.isfinite(value) and np.all(np.isfinite(grad)), type(loss).__name__


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_train_step_under_mixed_precision_policy_gives_finite_loss_and_weights(policy, rng):
    x = rng.normal(0, 1, (64, 4)).astype("float32")
    y = np.zeros((64, 1), "float32")  # no positives: the hardest batch for sensitivity
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile("adam", loss=L.SpecificityLoss(min_sensitivity=0.9, from_logits=True))
        loss = model.train_on_batch(x * 1e3, y)
    finally:
        keras.config.set_dtype_policy(previous)
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(to_numpy(v))) for v in model.trainable_weights)


# ------------------------------------------------------------------- warnings, errors


def test_unconstrained_rate_losses_warn_once_naming_the_constrained_form(monkeypatch):
    monkeypatch.setattr(L, "_WARNED", set())
    for cls, arg in [(L.SpecificityLoss, "min_sensitivity"), (L.SensitivityLoss, "min_specificity"),
                     (L.PrecisionLoss, "min_recall")]:
        with pytest.warns(ConfusionWarning, match=arg) as record:
            cls()
            cls()
        assert len([r for r in record if r.category is ConfusionWarning]) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConfusionWarning)
            cls(**{arg: 0.8})


@pytest.mark.parametrize(("name", "named"), [
    ("specificity", "SpecificityLoss"), ("recall", "SensitivityLoss"),
    ("precision", "PrecisionLoss"), ("npv", "constraint=")])
def test_confusion_loss_of_a_rate_alone_warns_once_like_the_named_losses(
        monkeypatch, name, named):
    monkeypatch.setattr(L, "_WARNED", set())
    with pytest.warns(ConfusionWarning, match=f"alone is minimised.*{named}") as record:
        L.ConfusionLoss(name)
        L.ConfusionLoss(name)
    assert len([r for r in record if r.category is ConfusionWarning]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfusionWarning)
        L.ConfusionLoss(name, constraint=("f1", 0.5))
        L.ConfusionLoss("f1")


@pytest.mark.parametrize(("factory", "match"), [
    (lambda: L.ConfusionLoss("nope"), "Argument `formula`"),
    (lambda: L.ConfusionLoss("mcc", average="macro"), "Argument `average`"),
    (lambda: L.ConfusionLoss("f1", average=None), "Argument `average`"),
    (lambda: L.ConfusionLoss("f1", num_classes=3, average="binary"), "Argument `average`"),
    (lambda: L.ConfusionLoss("f1", smoothing=-1), "Argument `smoothing`"),
    (lambda: L.ConfusionLoss("f1", constraint="recall"), "Argument `constraint`"),
    (lambda: L.SpecificityLoss(min_sensitivity=1.5), "Argument `min_sensitivity`"),
    (lambda: L.FBetaLoss(0.0), "Argument `beta`"),
    (lambda: L.TverskyLoss(alpha=-1), "Argument `alpha`"),
    (lambda: L.CostLoss([[0, 1], [1, 0]], num_classes=3), "Argument `cost_matrix`"),
    (lambda: L.CostLoss([[0, -1], [1, 0]]), "Argument `cost_matrix`"),
    (lambda: L.WeightedCrossentropy({0: 1.0, 5: 2.0}), "Argument `class_weight`"),
    (lambda: L.WeightedCrossentropy([1.0, -2.0]), "Argument `class_weight`"),
    # "could not convert string to float: 'x'", naming nothing; "0.9" was taken.
    (lambda: L.WeightedCrossentropy({0: "x"}), "Argument `class_weight`"),
    (lambda: L.SpecificityLoss(min_sensitivity="0.9"), "Argument `min_sensitivity`"),
    (lambda: L.FBetaLoss("2"), "Argument `beta`"),
    (lambda: L.CostLoss(1 - np.eye(3)), r"`cost_matrix` must be of shape \(2, 2\) \(binary, "
                                        r"num_classes not given: pass num_classes=3"),
])
def test_bad_arguments_raise_value_error_naming_the_argument(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


@pytest.mark.parametrize(("factory", "match"), [
    (lambda: L.FBetaLoss(reduction="sum"), r"`reduction`.*one value per batch"),
    (lambda: L.MCCLoss(reduction=None), r"`reduction`.*one value per batch"),
    (lambda: L.ConfusionLoss("f1", bta=2), r"`bta`.*formula 'f1' \(which takes zero_division"),
    (lambda: L.SpecificityLoss(min_sensitivity=0.9, constraint=("recall", 0.5)),
     r"`constraint`.*pass min_sensitivity="),
])
def test_unknown_keyword_arguments_raise_value_error_naming_them(factory, match):
    # They reached the formula and failed there with Python's TypeError.
    with pytest.raises(ValueError, match=match):
        factory()


def test_bad_values_raise_eagerly_instead_of_miscounting():
    loss = L.FBetaLoss(1.0)
    with pytest.raises(ValueError, match=r"Argument `y_pred`.*Received: y_pred=<1.5"):
        loss(np.array([0.0, 1.0]), np.array([0.2, 1.5]))
    with pytest.raises(ValueError, match="Argument `y_true`"):
        loss(np.array([0.0, 2.0]), np.array([0.2, 0.5]))
    with pytest.raises(ValueError, match="Argument `sample_weight`"):
        loss(np.array([0.0, 1.0]), np.array([0.2, 0.5]), sample_weight=np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="Argument `y_true`"):
        loss(np.zeros((4, 3)), np.zeros((4, 2)))


# ------------------------------------------------------------------- weighted CE


def _np_log(p):
    return np.log(np.clip(p, 1e-7, 1 - 1e-7))


def test_weighted_crossentropy_binary_equals_numpy_reference_and_keras_at_unit_weights(rng):
    y = (rng.random((20, 1)) < 0.3).astype("float32")
    x = rng.normal(0, 2, (20, 1)).astype("float32")
    p = 1 / (1 + np.exp(-x.astype("float64")))
    ref = np.mean(-(10 * y * np.log(p) + 1 * (1 - y) * np.log(1 - p)))
    got = L.WeightedCrossentropy({0: 1, 1: 10}, from_logits=True)(y, x)
    np.testing.assert_allclose(float(to_numpy(got)), ref, rtol=1e-5)
    unit = L.WeightedCrossentropy([1, 1], from_logits=True)(y, x)
    keras_bce = keras.losses.BinaryCrossentropy(from_logits=True)(y, x)
    np.testing.assert_allclose(float(to_numpy(unit)), float(to_numpy(keras_bce)), rtol=1e-5)


def test_weighted_crossentropy_binary_batch_of_two_samples_equals_numpy_reference():
    # A 1-D batch of two scores was read as the two class scores of one sample.
    y = np.array([1.0, 0.0], "float32")
    p = np.array([0.3, 0.6], "float32")
    ref = np.mean(-(10 * y * np.log(p) + (1 - y) * np.log(1 - p)))
    for loss in (L.WeightedCrossentropy({0: 1, 1: 10}),
                 L.WeightedCrossentropy({0: 1, 1: 10}, num_classes=2)):
        np.testing.assert_allclose(float(to_numpy(loss(y, p))), ref, rtol=1e-5)
        np.testing.assert_allclose(float(to_numpy(loss(y[:, None], p[:, None]))), ref,
                                   rtol=1e-5)


@pytest.mark.parametrize("shape", [(3, 4, 5), (3, 3, 3)])
def test_weighted_crossentropy_per_image_weights_weigh_every_pixel_of_their_image(rng, shape):
    # Keras lines a (B,) weight up with the loss's last axis: an error for (3, 4, 5)
    # maps, and silently per column for (3, 3, 3).
    y = (rng.random((*shape, 1)) < 0.3).astype("float32")
    p = rng.uniform(0.05, 0.95, (*shape, 1)).astype("float32")
    sw = np.array([1.0, 0.0, 2.0], "float32")
    per_pixel = -(3 * y * np.log(p) + (1 - y) * np.log(1 - p))[..., 0]
    ref = np.mean(per_pixel * sw[:, None, None])
    got = L.WeightedCrossentropy([1.0, 3.0])(y, p, sample_weight=sw)
    np.testing.assert_allclose(float(to_numpy(got)), ref, rtol=1e-5)
    labels = rng.integers(0, 3, shape)
    probs = rng.dirichlet(np.ones(3), shape).astype("float32")
    w = np.array([1.0, 2.0, 5.0])
    per_pixel = -np.log(np.take_along_axis(probs, labels[..., None], -1)[..., 0]) * w[labels]
    got = L.WeightedCrossentropy(w, num_classes=3)(labels, probs, sample_weight=sw)
    np.testing.assert_allclose(float(to_numpy(got)), np.mean(per_pixel * sw[:, None, None]),
                               rtol=1e-5)


def test_tversky_loss_equals_keras_tversky_with_alpha_and_beta_swapped(rng):
    # Keras documents alpha as the weight of false positives but multiplies it with the
    # false negatives; ours follows Salehi et al.: TP / (TP + alpha FP + beta FN).
    y = (rng.random(40) < 0.3).astype("float32")
    p = rng.random(40).astype("float32")
    tp, fp, fn = (y * p).sum(), ((1 - y) * p).sum(), (y * (1 - p)).sum()
    ours = float(to_numpy(L.TverskyLoss(0.3, 0.7, smoothing=0.0)(y, p)))
    np.testing.assert_allclose(ours, 1 - tp / (tp + 0.3 * fp + 0.7 * fn), rtol=1e-5)
    keras_swapped = float(to_numpy(keras.losses.Tversky(alpha=0.7, beta=0.3)(y, p)))
    np.testing.assert_allclose(ours, keras_swapped, rtol=1e-5)


def test_weighted_crossentropy_multiclass_per_pixel_sparse_equals_one_hot_and_reference(rng):
    k = 3
    y = rng.integers(0, k, (2, 4, 5))
    p = rng.dirichlet(np.ones(k), (2, 4, 5)).astype("float32")
    w = np.array([0.5, 1.0, 4.0])
    loss = L.WeightedCrossentropy(w, num_classes=k)
    ref = np.mean(-w[y] * _np_log(np.take_along_axis(p, y[..., None], -1)[..., 0]))
    sparse = float(to_numpy(loss(y, p)))
    one_hot = float(to_numpy(loss(np.eye(k, dtype="float32")[y], p)))
    np.testing.assert_allclose([sparse, one_hot], [ref, ref], rtol=1e-5)
    # Keras' own sparse cross-entropy with the class weights as per-pixel weights.
    keras_ref = keras.losses.SparseCategoricalCrossentropy()(y, p, sample_weight=w[y])
    np.testing.assert_allclose(sparse, float(to_numpy(keras_ref)), rtol=1e-4)


def test_weighted_crossentropy_multilabel_per_label_weights(rng):
    y = (rng.random((10, 3)) < 0.3).astype("float32")
    p = rng.uniform(0.01, 0.99, (10, 3)).astype("float32")
    w = np.array([[1.0, 2.0], [1.0, 5.0], [0.5, 1.0]])
    ref = np.mean(-(w[:, 1] * y * np.log(p) + w[:, 0] * (1 - y) * np.log(1 - p)))
    got = L.WeightedCrossentropy(w, multilabel=True)(y, p)
    np.testing.assert_allclose(float(to_numpy(got)), ref, rtol=1e-5)


def test_weighted_crossentropy_gradient_is_finite_at_exact_zero_and_one():
    y = np.array([0, 1, 0, 1], "float32")
    p = np.array([0.0, 1.0, 1.0, 0.0], "float32")
    grad = gradient(lambda v: L.WeightedCrossentropy([1, 3])(y, v), p)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_weighted_crossentropy_in_half_precision_equals_float32_on_saturated_inputs(dtype):
    """In float16, 1 - epsilon rounds to 1: the clipped log of a saturated probability
    was log(0). Computed in float32, the loss is the float32 one, rounded to dtype."""
    y = np.array([0, 1, 0, 1, 1], "float32")
    p = np.array([0.0, 1.0, 1.0, 0.0, 0.5], "float32")
    expected = float(to_numpy(L.WeightedCrossentropy([1, 3])(y, p)))
    for loss in [L.WeightedCrossentropy([1, 3], dtype=dtype),
                 L.WeightedCrossentropy([1, 3], dtype=f"mixed_{dtype}")]:
        got = float(to_numpy(keras.ops.cast(loss(y, p), "float32")))
        assert np.isfinite(got)
        np.testing.assert_allclose(got, expected, rtol=1e-2)


# ------------------------------------------------------------------- serialization


def all_losses():
    return [loss for loss, _ in named_losses(num_classes=None)] + [
        L.ConfusionLoss("jaccard", num_classes=3, average="micro", smoothing=0.5),
        L.ConfusionLoss("fbeta", beta=0.5, constraint=("recall", 0.7), penalty=5.0),
        L.WeightedCrossentropy({0: 1.0, 1: 3.0}, from_logits=True),
        L.WeightedCrossentropy([1.0, 2.0, 3.0], num_classes=3),
    ]


# Formula arguments and constraints of the losses whose class fixes the formula, and a
# batch on which each changes the value (all-zero weights: every denominator is 0).
FORMULA_ARGUMENTS = [
    (lambda: L.BalancedAccuracyLoss(adjusted=True), "adjusted", False),
    (lambda: L.MCCLoss(smoothing=0.0, zero_division=1.0), "zero_division", True),
    (lambda: L.FBetaLoss(2.0, smoothing=0.0, zero_division=1.0), "zero_division", True),
    (lambda: L.FBetaLoss(2.0, constraint=("recall", 0.99), penalty=3.0), "constraint", False),
    (lambda: L.TverskyLoss(0.3, 0.7, smoothing=0.0, zero_division=1.0), "zero_division", True),
    (lambda: L.CostLoss(COST, smoothing=0.0, zero_division=3.0), "zero_division", True),
    (lambda: L.CostLoss(COST, constraint=("specificity", 0.99), penalty=2.0), "constraint",
     False),
]


@pytest.mark.parametrize(("factory", "key", "zero_weights"), FORMULA_ARGUMENTS)
def test_round_trip_keeps_formula_arguments_and_constraint_of_fixed_formula_losses(
        factory, key, zero_weights, rng):
    loss = factory()
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert key in clone.get_config()
    assert clone.get_config() == loss.get_config()
    y, p = (rng.random(10) < 0.5).astype("float32"), rng.random(10).astype("float32")
    w = np.zeros(10, "float32") if zero_weights else None
    value = float(to_numpy(loss(y, p, sample_weight=w)))
    # The argument matters on this batch, so dropping it would change the value ...
    default = type(loss)(**{k: v for k, v in loss.get_config().items()
                            if k not in (key, "penalty")})
    assert float(to_numpy(default(y, p, sample_weight=w))) != pytest.approx(value)
    # ... and the clone keeps it.
    assert float(to_numpy(clone(y, p, sample_weight=w))) == pytest.approx(value)


def test_get_config_round_trip_gives_equal_config_and_value(rng):
    for loss in all_losses():
        clone = _quiet(lambda loss=loss: keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(loss)))
        assert type(clone) is type(loss)
        assert clone.get_config() == loss.get_config()
        if getattr(loss, "num_classes", None) == 3:
            y, p = rng.integers(0, 3, 10), rng.dirichlet(np.ones(3), 10).astype("float32")
        else:
            y, p = (rng.random(10) < 0.5).astype("float32"), rng.random(10).astype("float32")
        assert float(to_numpy(clone(y, p))) == pytest.approx(float(to_numpy(loss(y, p))))


@pytest.mark.parametrize("factory", [
    lambda: L.SpecificityLoss(min_sensitivity=0.9, from_logits=True),
    lambda: L.CostLoss([[0, 1], [5, 0]], from_logits=True),
    lambda: L.WeightedCrossentropy({0: 1.0, 1: 4.0}, from_logits=True),
    lambda: L.FBetaLoss(2.0, constraint=("recall", 0.99), penalty=3.0, from_logits=True),
    lambda: L.BalancedAccuracyLoss(adjusted=True, from_logits=True),
])
def test_model_compiled_with_loss_survives_save_and_load(factory, tmp_path, rng):
    loss = factory()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", loss=loss)
    x = rng.normal(0, 1, (16, 3)).astype("float32")
    y = (rng.random((16, 1)) < 0.5).astype("float32")
    before = model.evaluate(x, y, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.loss) is type(loss)
    assert loaded.loss.get_config() == loss.get_config()
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(before, rel=1e-5)


def test_loss_checks_values_on_its_first_eager_call_only():
    y = np.array([0.0, 1.0, 1.0], "float32")
    loss = L.FBetaLoss(1.0)
    with pytest.raises(ValueError, match=r"Argument `y_pred`.*from_logits=True"):
        loss(y, np.array([-2.0, 3.0, 0.5], "float32"))  # logits without from_logits
    good = L.FBetaLoss(1.0)
    expected = 1.0 - 2 * (0.8 + 0.9 + 1) / (2 * (0.8 + 0.9 + 1) + (0.1 + 0.2 + 1) + (0.3 + 1))
    np.testing.assert_allclose(
        float(good(y, np.array([0.3, 0.8, 0.9], "float32"))), expected, rtol=1e-5)
    # Checked once: later steps pay no host copy (compiled steps never check values).
    assert good._values_checked


# ------------------------------------------------------------------- NaN shows


def _nan_losses():
    return [loss for loss, _ in named_losses()] + [L.WeightedCrossentropy({0: 1.0, 1: 5.0})]


def test_nan_score_gives_nan_loss_on_the_first_eager_call_as_keras_losses_do():
    # Keras' own losses return NaN for a NaN score; ours returned 1.0 (FBeta, MCC) or
    # 0.0 (Cost, its best value), or raised on the first eager call only.
    y = np.array([0.0, 1.0, 1.0, 0.0], "float32")
    p = np.array([0.2, np.nan, 0.7, 0.4], "float32")
    # (from logits: torch's own binary_cross_entropy raises on a NaN probability)
    assert np.isnan(float(keras.losses.BinaryCrossentropy(from_logits=True)(y, p)))
    for loss in _nan_losses():
        assert np.isnan(float(to_numpy(loss(y, p)))), type(loss).__name__


def test_nan_score_gives_nan_loss_in_a_compiled_step():
    from conftest import compiled

    y = keras.ops.convert_to_tensor(np.array([0.0, 1.0, 1.0, 0.0], "float32"))
    p = keras.ops.convert_to_tensor(np.array([0.2, np.nan, 0.7, 0.4], "float32"))
    for loss in _nan_losses():
        loss(y, keras.ops.convert_to_tensor(np.array([0.2, 0.1, 0.7, 0.4], "float32")))
        assert np.isnan(float(to_numpy(compiled(loss)(y, p)))), type(loss).__name__


@pytest.mark.parametrize("bad", [np.inf, -np.inf, 1.5, -0.5])
def test_score_that_is_no_probability_gives_nan_loss_in_a_compiled_step(bad):
    # An eager call raises; compiled, the constrained losses clipped inf and 1.5 to
    # 1 - eps (SpecificityLoss(min_sensitivity=0.9) read 0.5257 with an inf score,
    # unseen by TerminateOnNaN), and the others took 1.5 as a soft count of 1.5.
    from conftest import compiled

    y = keras.ops.convert_to_tensor(np.array([0.0, 1.0, 1.0, 0.0], "float32"))
    good = keras.ops.convert_to_tensor(np.array([0.2, 0.1, 0.7, 0.4], "float32"))
    p = keras.ops.convert_to_tensor(np.array([0.2, bad, 0.7, 0.4], "float32"))
    constrained = [_quiet(lambda: L.SpecificityLoss(min_sensitivity=0.9)),
                   _quiet(lambda: L.SensitivityLoss(min_specificity=0.8)),
                   _quiet(lambda: L.PrecisionLoss(min_recall=0.8))]  # default sharpness
    weighted = [L.WeightedCrossentropy({0: 1.0, 1: 5.0}),
                L.WeightedCrossentropy({0: 1.0, 1: 5.0}, num_classes=2)]
    for loss in [loss for loss, _ in named_losses()] + constrained + weighted:
        assert np.isfinite(float(to_numpy(loss(y, good)))), type(loss).__name__
        assert np.isfinite(float(to_numpy(compiled(loss)(y, good)))), type(loss).__name__
        assert np.isnan(float(to_numpy(compiled(loss)(y, p)))), type(loss).__name__
    if np.isinf(bad):  # a logit of inf is no logit either
        for loss in (L.FBetaLoss(2.0, from_logits=True),
                     _quiet(lambda: L.SpecificityLoss(min_sensitivity=0.9, from_logits=True)),
                     L.WeightedCrossentropy({0: 1.0, 1: 5.0}, from_logits=True)):
            loss(y, good)  # the eager check of the first call (torch runs eagerly)
            assert np.isnan(float(to_numpy(compiled(loss)(y, p)))), type(loss).__name__


@pytest.mark.parametrize("bad", [5, -1, 1.5])
def test_label_that_is_no_class_gives_nan_loss_in_a_compiled_step(bad):
    # Label 5 of 3 classes was a row of zeros on JAX and TensorFlow (a finite loss) and
    # a RuntimeError on torch ("Class values must be smaller than num_classes").
    from conftest import compiled

    p = keras.ops.convert_to_tensor(np.array([[0.2, 0.5, 0.3], [0.7, 0.2, 0.1],
                                              [0.1, 0.1, 0.8]], "float32"))
    good = keras.ops.convert_to_tensor(np.array([0, 1, 2], "int32"))
    labels = keras.ops.convert_to_tensor(np.array([0, bad, 2], "float32"))
    for loss in (L.FBetaLoss(num_classes=3, average="macro"), L.MCCLoss(num_classes=3),
                 L.WeightedCrossentropy([1.0, 2.0, 3.0], num_classes=3),
                 L.WeightedCrossentropy([1.0, 2.0, 3.0], num_classes=3, from_logits=True)):
        expected = float(to_numpy(loss(good, p)))  # the first call's eager check
        assert float(to_numpy(compiled(loss)(good, p))) == pytest.approx(expected, rel=1e-6)
        assert np.isnan(float(to_numpy(compiled(loss)(labels, p)))), type(loss).__name__
    # Binary: a label of 2 (or -1) is no label; soft labels in [0, 1] are.
    y = keras.ops.convert_to_tensor(np.array([0, 1, 2 if bad == 5 else bad, 0], "float32"))
    s = keras.ops.convert_to_tensor(np.array([0.1, 0.6, 0.7, 0.2], "float32"))
    for loss in (L.FBetaLoss(), L.WeightedCrossentropy({0: 1.0, 1: 5.0}),
                 L.WeightedCrossentropy([[1.0, 5.0]], multilabel=True)):
        loss(keras.ops.convert_to_tensor(np.array([0, 1, 0.5, 0], "float32")), s)
        assert np.isnan(float(to_numpy(compiled(loss)(y, s)))), type(loss).__name__


@pytest.mark.parametrize("bad", [-1.0, np.inf])
def test_weight_that_is_negative_or_infinite_gives_nan_loss_after_the_first_call(bad):
    # The first eager call raises; after it, and in compiled steps, a weight of -1 was a
    # negative mass: 1 - F1 read 2.2 (it lies in [0, 1]) and WeightedCrossentropy
    # -0.466 (it never checked weights at all), finite and unseen by TerminateOnNaN.
    from conftest import compiled

    y = keras.ops.convert_to_tensor(np.array([0.0, 1.0, 1.0, 0.0], "float32"))
    p = keras.ops.convert_to_tensor(np.array([0.2, 0.7, 0.4, 0.6], "float32"))
    w = keras.ops.convert_to_tensor(np.array([1.0, bad, 1.0, 1.0], "float32"))
    zero = keras.ops.convert_to_tensor(np.array([1.0, 0.0, 1.0, 1.0], "float32"))
    for loss in [*_nan_losses(), L.FBetaLoss(smoothing=0.0)]:
        with pytest.raises(ValueError, match=r"Argument `sample_weight` must be finite and "
                                             r">= 0"):
            loss(y, p, sample_weight=w)
        assert np.isfinite(float(to_numpy(loss(y, p, sample_weight=zero))))
        assert np.isnan(float(to_numpy(loss(y, p, sample_weight=w)))), type(loss).__name__
        step = compiled(lambda a, b, c, loss=loss: loss(a, b, sample_weight=c))
        assert np.isnan(float(to_numpy(step(y, p, w)))), type(loss).__name__
        assert float(to_numpy(step(y, p, zero))) == pytest.approx(
            float(to_numpy(loss(y, p, sample_weight=zero))), rel=1e-6)


def test_weighted_crossentropy_nan_only_where_invalid_other_samples_as_before():
    # Per sample: the invalid sample's loss is NaN, the others' as computed by hand;
    # before, a label of -1 gave a negative loss (-0.4678 with a score of 0.7).
    from conftest import compiled

    loss = L.WeightedCrossentropy({0: 1.0, 1: 5.0}, reduction=None)
    y = keras.ops.convert_to_tensor(np.array([1.0, -1.0, 0.0, 1.0], "float32"))
    s = keras.ops.convert_to_tensor(np.array([0.7, 0.7, 0.2, 1.5], "float32"))
    loss(keras.ops.convert_to_tensor(np.array([1.0, 0.0, 0.0, 1.0], "float32")),
         keras.ops.convert_to_tensor(np.array([0.7, 0.7, 0.2, 0.9], "float32")))
    got = to_numpy(compiled(loss)(y, s))
    assert got[0] == pytest.approx(-5 * np.log(0.7), rel=1e-5)
    assert got[2] == pytest.approx(-np.log(0.8), rel=1e-5)
    assert np.isnan(got[1]) and np.isnan(got[3])


@pytest.mark.parametrize("call, named", [
    (lambda: L.WeightedCrossentropy({0: 1.0, 1: 5.0})(np.array([1.0, 0.0]),
                                                      np.array([1.5, 0.2])), "y_pred"),
    (lambda: L.WeightedCrossentropy({0: 1.0, 1: 5.0})(np.array([1.0, 0.0]),
                                                      np.array([np.inf, 0.2])), "y_pred"),
    (lambda: L.WeightedCrossentropy({0: 1.0, 1: 5.0})(np.array([-1.0, 0.0]),
                                                      np.array([0.7, 0.2])), "y_true"),
    (lambda: L.WeightedCrossentropy([1.0, 2.0, 3.0], num_classes=3)(
        np.array([5, 1]), np.array([[0.2, 0.3, 0.5], [0.1, 0.8, 0.1]])), "y_true"),
])
def test_weighted_crossentropy_first_eager_call_refuses_invalid_values_as_other_losses(
        call, named):
    with pytest.raises(ValueError, match=f"Argument `{named}`"):
        call()


@pytest.mark.parametrize("make", [lambda: L.FBetaLoss(1.0), L.MCCLoss,
                                  lambda: L.CostLoss(COST)])
def test_nan_input_feature_stops_compiled_fit_through_terminate_on_nan(make):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (64, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    x[5, 1] = np.nan  # one NaN feature: every weight becomes NaN after the first step
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", loss=make())
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                        callbacks=[keras.callbacks.TerminateOnNaN()])
    assert model.stop_training
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])


# ------------------------------------------------------------- batch of one sample


def test_weighted_crossentropy_takes_a_batch_of_one_sample_as_keras_does():
    loss = L.WeightedCrossentropy({0: 1.0, 1: 5.0})
    keras_value = float(keras.losses.BinaryCrossentropy()(np.array([1.0]), np.array([[0.5]])))
    assert keras_value == pytest.approx(np.log(2), rel=1e-5)
    got = float(to_numpy(loss(np.array([1.0]), np.array([[0.5]]))))
    assert got == pytest.approx(5 * np.log(2), rel=1e-5)
    got = float(to_numpy(loss(np.array([[0.0]]), np.array([0.5]))))
    assert got == pytest.approx(np.log(2), rel=1e-5)


def test_fit_with_a_last_batch_of_one_sample_trains_with_weighted_crossentropy():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (33, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")  # (33,) labels, (33, 1) outputs
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", loss=L.WeightedCrossentropy({0: 1.0, 1: 5.0}))
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_confusion_loss_function_and_call_equal_the_class_on_the_same_batch(rng):
    """`confusion_loss` binds nothing: it equals the class called on the batch, weights
    folded into the counts (a weight of 2 equals a duplicated row), and `call` (Keras'
    unweighted entry point) computes the loss itself, equal to the unweighted call."""
    from keras_confusion.losses import ConfusionLoss, confusion_loss

    y = rng.integers(0, 2, 40).astype("float32")
    p = rng.random(40).astype("float32")
    w = np.where(np.arange(40) < 5, 2.0, 1.0).astype("float32")
    loss = ConfusionLoss("fbeta", beta=2.0, smoothing=0.5)
    expected = float(to_numpy(loss(y, p, sample_weight=w)))
    got = float(to_numpy(confusion_loss(y, p, "fbeta", beta=2.0, smoothing=0.5,
                                        sample_weight=w)))
    assert got == pytest.approx(expected, rel=1e-6)
    duplicated = float(to_numpy(loss(np.r_[y, y[:5]], np.r_[p, p[:5]])))
    assert expected == pytest.approx(duplicated, rel=1e-6)
    tp, fp = float(np.sum(y * p)), float(np.sum((1 - y) * p))
    fn = float(np.sum(y * (1 - p)))
    s = 0.5
    f2 = 5 * (tp + s) / (5 * (tp + s) + 4 * (fn + s) + (fp + s))
    assert float(to_numpy(loss.call(keras.ops.convert_to_tensor(y),
                                    keras.ops.convert_to_tensor(p)))) == pytest.approx(
        1 - f2, rel=1e-5)


# Every formula of the library as a binary loss: keyword arguments, and a NumPy reference
# written from the smoothed soft cells (the loss value: 1 - score, or the cost itself).
FORMULA_REFERENCES = {
    "accuracy": ({}, lambda tn, fp, fn, tp: 1 - (tp + tn) / (tn + fp + fn + tp)),
    "balanced_accuracy": ({}, lambda tn, fp, fn, tp: 1 - (tp / (tp + fn) + tn / (tn + fp)) / 2),
    "cohen_kappa": ({}, lambda tn, fp, fn, tp: 1 - _kappa(tn, fp, fn, tp)),
    "expected_cost": ({"cost_matrix": COST},
                      lambda tn, fp, fn, tp: (fp + 10 * fn) / (tn + fp + fn + tp)),
    "f1": ({}, lambda tn, fp, fn, tp: 1 - 2 * tp / (2 * tp + fp + fn)),
    "fbeta": ({"beta": 2.0}, lambda tn, fp, fn, tp: 1 - 5 * tp / (5 * tp + 4 * fn + fp)),
    "jaccard": ({}, lambda tn, fp, fn, tp: 1 - tp / (tp + fp + fn)),
    "mcc": ({}, lambda tn, fp, fn, tp: 1 - (tp * tn - fp * fn) / np.sqrt(
        (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))),
    "npv": ({}, lambda tn, fp, fn, tp: 1 - tn / (tn + fn)),
    "precision": ({}, lambda tn, fp, fn, tp: 1 - tp / (tp + fp)),
    "recall": ({}, lambda tn, fp, fn, tp: 1 - tp / (tp + fn)),
    "sensitivity": ({}, lambda tn, fp, fn, tp: 1 - tp / (tp + fn)),
    "specificity": ({}, lambda tn, fp, fn, tp: 1 - tn / (tn + fp)),
    "tversky": ({"alpha": 0.3, "beta": 0.7},
                lambda tn, fp, fn, tp: 1 - tp / (tp + 0.3 * fp + 0.7 * fn)),
    "youden_j": ({}, lambda tn, fp, fn, tp: 1 - (tp / (tp + fn) + tn / (tn + fp) - 1)),
}


def _kappa(tn, fp, fn, tp):
    n = tn + fp + fn + tp
    observed = (tp + tn) / n
    chance = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / n**2
    return (observed - chance) / (1 - chance)


def test_formula_references_cover_every_formula_of_the_library():
    assert set(FORMULA_REFERENCES) == set(formulas.BY_NAME)


@pytest.mark.parametrize("name", sorted(FORMULA_REFERENCES))
def test_confusion_loss_function_equals_the_class_and_numpy_reference_for_every_formula(
        name):
    kwargs, ref = FORMULA_REFERENCES[name]
    y, p, w = batch(7, 40)
    cells = soft_cells(y.astype("float64"), p.astype("float64"), w.astype("float64"), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfusionWarning)  # a rate alone warns
        got = L.confusion_loss(y, p, name, sample_weight=w, smoothing=0.5, **kwargs)
        expected = L.ConfusionLoss(name, smoothing=0.5, **kwargs)(y, p, sample_weight=w)
    assert keras.backend.standardize_dtype(got.dtype) == \
        keras.backend.standardize_dtype(expected.dtype)
    assert float(to_numpy(got)) == pytest.approx(float(to_numpy(expected)), rel=1e-6)
    assert float(to_numpy(got)) == pytest.approx(ref(*cells), rel=2e-5, abs=2e-6)


@pytest.mark.parametrize(("args", "kwargs"), [
    ("multiclass", {"formula": "f1", "num_classes": 3, "average": "macro", "smoothing": 0.5}),
    ("multiclass", {"formula": "expected_cost", "num_classes": 3,
                    "cost_matrix": [[0, 1, 2], [3, 0, 1], [5, 1, 0]], "from_logits": True}),
    ("multilabel", {"formula": "jaccard", "multilabel": True, "average": "micro"}),
    ("binary", {"formula": "fbeta", "beta": 0.5, "constraint": ("recall", 0.9),
                "penalty": 3.0, "sharpness": 4.0, "from_logits": True}),
])
def test_confusion_loss_function_equals_the_class_on_every_task_and_constraint(args, kwargs,
                                                                              rng):
    n = 30
    if args == "multiclass":
        y, p = rng.integers(0, 3, n), rng.dirichlet(np.ones(3), n).astype("float32")
        if kwargs.get("from_logits"):
            p = np.log(p)
    elif args == "multilabel":
        y = (rng.random((n, 3)) < 0.4).astype("float32")
        p = rng.random((n, 3)).astype("float32")
    else:
        y, p = (rng.random(n) < 0.4).astype("float32"), rng.normal(0, 2, n).astype("float32")
    w = rng.uniform(0.0, 2.0, n).astype("float32")
    got = L.confusion_loss(y, p, sample_weight=w, **kwargs)
    expected = L.ConfusionLoss(**kwargs)(y, p, sample_weight=w)
    assert float(to_numpy(got)) == pytest.approx(float(to_numpy(expected)), rel=1e-6)
    if kwargs["formula"] == "f1":  # macro F1 by hand, from the smoothed soft counts
        cm = (np.eye(3)[y] * w[:, None]).T @ p.astype("float64") + 0.5
        tp = np.diag(cm)
        f1 = 2 * tp / (2 * tp + (cm.sum(0) - tp) + (cm.sum(1) - tp))
        assert float(to_numpy(got)) == pytest.approx(1 - f1.mean(), rel=1e-5)


def test_confusion_loss_checks_arguments_as_the_class_does_without_building_a_loss(
        monkeypatch):
    y, p = np.array([0.0, 1.0, 1.0], "float32"), np.array([0.2, 0.7, 0.6], "float32")

    def no_loss_object(*args, **kwargs):
        raise AssertionError("confusion_loss built a keras.losses.Loss")

    monkeypatch.setattr(keras.losses.Loss, "__init__", no_loss_object)
    assert np.isfinite(float(to_numpy(L.confusion_loss(y, p, "mcc"))))
    for kwargs, match in [({"smoothing": -1}, "Argument `smoothing`"),
                          ({"average": "macro", "formula": "mcc"}, "Argument `average`"),
                          ({"constraint": "recall"}, "Argument `constraint`"),
                          ({"reduction": "sum"}, r"`reduction`.*one value per batch"),
                          ({"num_classes": 3, "multilabel": True}, "Argument `num_classes`"),
                          ({"bta": 2}, r"`bta`.*neither an argument of confusion_loss")]:
        kwargs = {"formula": "f1", **kwargs}
        with pytest.raises(ValueError, match=match):
            L.confusion_loss(y, p, **kwargs)
    # Values are checked at every eager call of the function (the class: the first).
    for _ in range(2):
        with pytest.raises(ValueError, match=r"Argument `y_pred`.*from_logits=True"):
            L.confusion_loss(y, np.array([-2.0, 3.0, 0.5], "float32"), "f1")


def test_confusion_loss_of_a_rate_alone_warns_once_at_the_callers_line(monkeypatch):
    y, p = np.array([0.0, 1.0, 1.0], "float32"), np.array([0.2, 0.7, 0.6], "float32")
    monkeypatch.setattr(L, "_WARNED", set())
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always", ConfusionWarning)
        L.confusion_loss(y, p, "specificity")
        L.confusion_loss(y, p, "specificity")
        L.ConfusionLoss("specificity")  # once per process, function and class alike
        L.ConfusionLoss("precision")
    warned = [r for r in record if r.category is ConfusionWarning]
    assert len(warned) == 2
    assert re.match(r"confusion_loss\(.*'specificity'\) alone is minimised.*SpecificityLoss",
                    str(warned[0].message))
    assert str(warned[1].message).startswith("ConfusionLoss('precision') alone is minimised")
    assert [r.filename for r in warned] == [__file__, __file__]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfusionWarning)
        L.confusion_loss(y, p, "npv", constraint=("f1", 0.5))
