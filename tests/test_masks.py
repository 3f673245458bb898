"""Keras masks (``Masking``, ``Embedding(mask_zero=True)``): masked samples are left out
of losses and metrics, as Keras' own losses leave them out.

The reference is always the same object given only the kept samples, or scikit-learn on
them. Padded positions carry labels that are not labels (-1): counted, they would be
tallied as invalid or raise.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from keras import ops
from sklearn import metrics as skm

from keras_confusion import ConfusionWarning
from keras_confusion import losses as kl
from keras_confusion import metrics as kcm

from conftest import BACKEND, gradient, to_numpy

PAD = -9.0


def _padded(rng, batch=7, steps=6, width=1, classes=None):
    """Sequences of random lengths (one of them empty) padded with PAD scores and -1
    labels; ``keep`` marks the real steps."""
    lengths = rng.integers(0, steps + 1, batch)
    lengths[0] = 0
    lengths[1] = steps
    keep = np.arange(steps)[None, :] < lengths[:, None]
    scores = rng.random((batch, steps, width)).astype("float32")
    if classes is None:
        labels = rng.integers(0, 2, (batch, steps, width)).astype("float32")
        labels[~keep] = -1.0
    else:
        labels = rng.integers(0, classes, (batch, steps)).astype("int32")
        labels[~keep] = -1
    scores[~keep] = PAD
    return labels, scores, keep


def _masked(scores):
    return keras.layers.Masking(mask_value=PAD)(ops.convert_to_tensor(scores))


def _cases():
    # (metric factory, data kwargs, scikit-learn reference from kept labels and scores)
    def binary(y, p):
        return skm.confusion_matrix(y.ravel(), (p.ravel() >= 0.5).astype(int), labels=[0, 1])

    def multiclass(y, p):
        return skm.confusion_matrix(y, p.argmax(-1), labels=range(4))

    def multilabel(y, p):
        return skm.multilabel_confusion_matrix(y, (p >= 0.5).astype(int))

    def mcc(y, p):
        return skm.matthews_corrcoef(y, p.argmax(-1))

    def thresholds(y, p):
        y, p = y.ravel(), p.ravel()
        return np.array([skm.confusion_matrix(y, (p >= t).astype(int), labels=[0, 1])
                         for t in (0.25, 0.5, 0.75)])

    return {
        "binary": (lambda: kcm.ConfusionMatrix(), {}, binary),
        "multiclass": (lambda: kcm.ConfusionMatrix(num_classes=4), {"width": 4, "classes": 4},
                       multiclass),
        "multiclass_one_hot": (lambda: kcm.ConfusionMatrix(num_classes=4),
                               {"width": 4, "classes": 4, "one_hot": True}, multiclass),
        "multilabel": (lambda: kcm.ConfusionMatrix(multilabel=True, num_labels=3),
                       {"width": 3}, multilabel),
        "mcc": (lambda: kcm.MCC(num_classes=4), {"width": 4, "classes": 4}, mcc),
        "thresholds": (lambda: kcm.ThresholdConfusion(thresholds=[0.25, 0.5, 0.75]), {},
                       thresholds),
    }


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", list(_cases()))
def test_masked_steps_are_left_out_of_metrics_like_sklearn_on_kept_steps_batched_and_one_shot(
        rng, case, weighted):
    make, kwargs, reference = _cases()[case]
    kwargs = dict(kwargs)
    one_hot = kwargs.pop("one_hot", False)
    y, p, keep = _padded(rng, **kwargs)
    w = rng.integers(0, 3, len(y)).astype("float32") if weighted else None  # per sequence
    fed = y
    if one_hot:
        fed = np.eye(4, dtype="float32")[np.where(keep, y, 0)]
        fed[~keep] = 0.0  # padding is no label
    kept_y = y[keep] if "classes" in kwargs else y[keep].astype(int)
    kept_w = None if w is None else np.broadcast_to(w[:, None], keep.shape)[keep]
    whole, parts = make(), make()
    whole.update_state(fed, _masked(p), sample_weight=w)
    for rows in (slice(0, 3), slice(3, None)):
        parts.update_state(fed[rows], _masked(p[rows]),
                           sample_weight=None if w is None else w[rows])
    if case == "mcc":
        expected = skm.matthews_corrcoef(kept_y, p[keep].argmax(-1), sample_weight=kept_w)
    elif w is None:
        expected = reference(kept_y, p[keep])
    else:  # the same reference on repeated samples: integer weights
        reps = kept_w.astype(int)
        expected = reference(np.repeat(kept_y, reps, axis=0), np.repeat(p[keep], reps, axis=0))
    for m in (whole, parts):
        np.testing.assert_allclose(to_numpy(m.result()), expected, rtol=1e-5, atol=1e-6)
        assert m.invalid == 0  # padding is not tallied as invalid


def test_unmasked_invalid_steps_are_still_tallied_next_to_masked_ones(rng):
    y, p, keep = _padded(rng)
    y[1, 0, 0] = 7.0  # a real step (sequence 1 is full) with a label that is not one
    m = kcm.ConfusionMatrix()
    m.update_state(y, _masked(p))
    assert m.invalid == 1
    ok = keep.copy()
    ok[1, 0] = False
    expected = skm.confusion_matrix(y[ok].ravel(), (p[ok].ravel() >= 0.5).astype(int))
    np.testing.assert_array_equal(m.counts(), expected)


@pytest.mark.parametrize("multiclass", [False, True])
def test_masked_loss_value_and_gradient_equal_the_loss_of_the_kept_steps(rng, multiclass):
    k = 3 if multiclass else None
    y, p, keep = _padded(rng, width=3 if multiclass else 1, classes=k)
    if multiclass:
        p = np.where(keep[..., None], rng.normal(size=p.shape), PAD).astype("float32")
        loss = kl.FBetaLoss(num_classes=3, from_logits=True, average="macro")
    else:
        loss = kl.FBetaLoss()
    got = to_numpy(loss(y, _masked(p)))
    kept = p[keep]
    expected = to_numpy(loss(y[keep], kept))
    np.testing.assert_allclose(got, expected, rtol=1e-6)

    grad = gradient(lambda v: loss(y, keras.layers.Masking(mask_value=PAD)(v)), p)
    grad_kept = gradient(lambda v: loss(y[keep], v), kept)
    np.testing.assert_allclose(grad[keep], grad_kept, rtol=1e-5, atol=1e-7)
    assert not grad[~keep].any()


def _sequence_model(steps, features, outputs):
    model = keras.Sequential([
        keras.Input((steps, features)),
        keras.layers.Masking(mask_value=0.0),
        keras.layers.Dense(outputs, activation="sigmoid" if outputs == 1 else None),
    ])
    return model


def test_a_masked_sequence_model_trains_and_evaluates_on_real_steps_only_like_sklearn(rng):
    # Keras hands the model's output mask to compiled losses (train and test steps) and
    # metrics (test steps) on every backend: padded steps count nowhere.
    steps, features = 6, 4
    x = rng.normal(size=(40, steps, features)).astype("float32")
    lengths = rng.integers(1, steps + 1, 40)
    keep = np.arange(steps)[None, :] < lengths[:, None]
    x[~keep] = 0.0
    y = rng.integers(0, 2, (40, steps, 1)).astype("float32")
    y[~keep] = -1.0
    model = _sequence_model(steps, features, 1)
    p = model.predict(x, batch_size=40, verbose=0)
    reference = to_numpy(kl.FBetaLoss()(y[keep], p[keep]))

    # A training step's loss, with a learning rate of 0 (the weights stay those of p).
    during_fit = kcm.ConfusionMatrix(name="cm")
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=kl.FBetaLoss(),
                  metrics=[during_fit])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfusionWarning)
        trained = model.train_on_batch(x, y, return_dict=True)
    np.testing.assert_allclose(trained["loss"], reference, rtol=1e-4)
    # Keras' JAX train step hands the metrics its output without the mask (its own
    # metrics miss it too: the README says so); TensorFlow's and torch's keep it.
    assert during_fit.invalid == (np.sum(~keep) if BACKEND == "jax" else 0)

    cm = kcm.ConfusionMatrix(name="cm")
    model.compile(loss=kl.FBetaLoss(),
                  metrics=[cm, kcm.ThresholdConfusion(thresholds=[0.5], name="tc")])
    values = model.evaluate(x, y, batch_size=40, return_dict=True, verbose=0)
    expected = skm.confusion_matrix(y[keep].ravel().astype(int),
                                    (p[keep].ravel() >= 0.5).astype(int), labels=[0, 1])
    np.testing.assert_array_equal(cm.counts(), expected)
    np.testing.assert_array_equal(values["tc"][0], expected)
    assert cm.invalid == 0
    np.testing.assert_allclose(values["loss"], reference, rtol=1e-4)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a plain tf.function (TensorFlow)")
def test_masked_update_in_a_plain_tf_function_equals_eager(rng):
    import tensorflow as tf

    y, p, keep = _padded(rng, batch=4096, steps=8)  # 32,768 values: the fused kernel
    eager, graph = kcm.ThresholdConfusion(num_thresholds=11), kcm.ThresholdConfusion(
        num_thresholds=11)
    eager.update_state(y, _masked(p))

    @tf.function
    def step(y, p):
        graph.update_state(y, keras.layers.Masking(mask_value=PAD)(p))

    step(tf.constant(y), tf.constant(p))
    kept_y, kept_p = y[keep].ravel().astype(int), p[keep].ravel()
    expected = np.array([skm.confusion_matrix(kept_y, (kept_p >= t).astype(int), labels=[0, 1])
                         for t in eager.thresholds.astype("float32")])
    np.testing.assert_array_equal(eager.counts(), expected)
    np.testing.assert_array_equal(graph.counts(), expected)
    assert graph.invalid == eager.invalid == 0
