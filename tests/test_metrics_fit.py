"""The streaming metrics inside model.compile / fit / evaluate, and saving."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from sklearn import metrics as skm

from keras_confusion import ConfusionWarning
from keras_confusion import metrics as kcm
from keras_confusion.losses import FBetaLoss

from conftest import BACKEND, to_numpy

JIT = [False, True]  # torch: jit_compile=True is torch.compile


def _identity_model(width: int = 1) -> keras.Model:
    """A model whose prediction is its input: the scores are known exactly."""
    inputs = keras.Input((width,))
    outputs = keras.layers.Activation("linear")(inputs)
    return keras.Model(inputs, outputs)


def _dataset_with_positives_only_in_some_batches(rng):
    # 8 batches of 32; all positives sit in the last batch, so 7 batches have none.
    n = 256
    y = np.zeros((n, 1), "float32")
    y[-20:] = 1
    scores = rng.uniform(0, 1, (n, 1)).astype("float32")
    scores[-20:] = rng.uniform(0.3, 1, (20, 1))
    return y, scores


@pytest.mark.parametrize("jit_compile", JIT)
def test_evaluate_over_batches_without_positives_gives_whole_dataset_values(rng, jit_compile):
    # The keras#5794 pitfall: averaging per-batch values over batches without
    # positives; the accumulated counts must give the whole-data-set figures.
    y, scores = _dataset_with_positives_only_in_some_batches(rng)
    model = _identity_model()
    model.compile(loss="mse", jit_compile=jit_compile, metrics=[
        kcm.Sensitivity(), kcm.Precision(), kcm.FBeta(2.0), kcm.MCC(), kcm.Specificity(),
        kcm.BalancedAccuracy(), kcm.CohenKappa(), kcm.ExpectedCost([[0, 1], [5, 0]]),
    ])
    logs = model.evaluate(scores, y, batch_size=32, verbose=0, return_dict=True)
    yt, yp = y.ravel(), (scores.ravel() >= 0.5).astype(int)
    cm = skm.confusion_matrix(yt, yp)
    expected = {
        "sensitivity": skm.recall_score(yt, yp),
        "precision": skm.precision_score(yt, yp),
        "fbeta": skm.fbeta_score(yt, yp, beta=2.0),
        "mcc": skm.matthews_corrcoef(yt, yp),
        "specificity": skm.recall_score(yt, yp, pos_label=0),
        "balanced_accuracy": skm.balanced_accuracy_score(yt, yp),
        "cohen_kappa": skm.cohen_kappa_score(yt, yp),
        "expected_cost": (cm * np.array([[0, 1], [5, 0]])).sum() / cm.sum(),
    }
    for name, value in expected.items():
        assert logs[name] == pytest.approx(value, abs=1e-5), name


@pytest.mark.parametrize("jit_compile", JIT)
def test_fit_accumulates_confusion_matrix_over_epoch_and_resets_between_epochs(rng,
                                                                               jit_compile):
    x = rng.normal(size=(96, 3)).astype("float32")
    y = rng.integers(0, 3, 96)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    cm_metric = kcm.ConfusionMatrix(num_classes=3)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=[cm_metric, kcm.MCC(num_classes=3)], jit_compile=jit_compile)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    # After fit the state holds the last epoch only, computed with weights that moved
    # during the epoch: check the total and that evaluate alone matches scikit-learn.
    assert to_numpy(cm_metric.result()).sum() == 96
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    pred = to_numpy(model.predict(x, batch_size=16, verbose=0)).argmax(-1)
    np.testing.assert_array_equal(to_numpy(cm_metric.result()),
                                  skm.confusion_matrix(y, pred, labels=[0, 1, 2]))
    assert logs["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred), abs=1e-5)


@pytest.mark.parametrize("jit_compile", JIT)
def test_wide_confusion_matrix_in_fit_and_evaluate_equals_sklearn(rng, jit_compile):
    # 80 classes: the argmax every backend runs on a CPU from 64 classes (NumPy's for
    # torch and a plain TensorFlow graph, min/max reductions under XLA).
    k = 80
    x = rng.normal(size=(600, k)).astype("float32")
    y = rng.integers(0, k, 600)
    inputs = keras.Input((k,))
    model = keras.Model(inputs, keras.layers.Dense(k)(inputs))
    metric = kcm.ConfusionMatrix(num_classes=k)
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=[metric], jit_compile=jit_compile)
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)
    assert to_numpy(metric.result()).sum() == 600
    model.evaluate(x, y, batch_size=128, verbose=0)
    pred = to_numpy(model.predict(x, batch_size=128, verbose=0)).argmax(-1)
    np.testing.assert_array_equal(to_numpy(metric.result()),
                                  skm.confusion_matrix(y, pred, labels=range(k)))


def test_metrics_compiled_after_fit_warn_of_no_invalid_samples_and_equal_sklearn(rng):
    # Compiling metrics into a model already fitted makes Keras build their state
    # symbolically. On torch that ran on real tensors of garbage where an op had no
    # "meta" kernel (bincount), and the metrics warned of up to ~1e29 invalid samples.
    x = rng.normal(size=(96, 3)).astype("float32")
    y = (rng.random((96, 1)) < 0.4).astype("float32")
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.compile("sgd", "mse", metrics=[kcm.ConfusionMatrix(),
                                          kcm.ThresholdConfusion(num_thresholds=5)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfusionWarning)
        logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    scores = to_numpy(model.predict(x, verbose=0)).ravel()
    np.testing.assert_array_equal(logs["confusion_matrix"],
                                  skm.confusion_matrix(y.ravel(), scores >= 0.5))


@pytest.mark.skipif(BACKEND != "torch", reason="Keras builds on real tensors on torch only")
def test_values_inside_keras_symbolic_scope_are_neither_validated_nor_warned_of():
    # Keras' fallback when the "meta" device fails: tensors filled with 83, in a
    # StatelessScope and a SymbolicScope; 83 is neither a label nor a probability.
    import torch
    from keras.src.backend.common.stateless_scope import StatelessScope
    from keras.src.backend.common.symbolic_scope import SymbolicScope

    metric = kcm.ConfusionMatrix()
    loss = FBetaLoss()
    filled = torch.full((16, 1), 83.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfusionWarning)
        with StatelessScope(), SymbolicScope():
            metric.update_state(filled, filled)
            metric.result()
            loss(filled, filled)
    np.testing.assert_array_equal(to_numpy(metric.counts_int.value), 0)  # state untouched


@pytest.mark.skipif(BACKEND != "torch", reason="the meta device is torch's")
def test_bincount_on_the_meta_device_gives_the_histograms_shape():
    import torch

    from keras_confusion._backend import bincount

    out = bincount(torch.zeros(5, dtype=torch.int32, device="meta"), None, 7)
    assert out.is_meta and tuple(out.shape) == (7,)


@pytest.mark.parametrize("jit_compile", JIT)
def test_threshold_confusion_in_evaluate_matches_numpy_with_sample_weights(rng, jit_compile):
    y, scores = _dataset_with_positives_only_in_some_batches(rng)
    w = rng.integers(0, 3, len(y)).astype("float32")
    metric = kcm.ThresholdConfusion(num_thresholds=11)
    model = _identity_model()
    # Keras passes sample weights to `weighted_metrics` only.
    model.compile(loss="mse", weighted_metrics=[metric], jit_compile=jit_compile)
    model.evaluate(scores, y, sample_weight=w, batch_size=32, verbose=0)
    thr = np.linspace(0, 1, 11).astype("float32")
    pos = scores.ravel()[:, None] >= thr[None, :]
    yt = y.ravel()[:, None] == 1
    tp = (w[:, None] * (pos & yt)).sum(0)
    fp = (w[:, None] * (pos & ~yt)).sum(0)
    np.testing.assert_allclose(to_numpy(metric.result())[:, 1, 1], tp)
    np.testing.assert_allclose(to_numpy(metric.result())[:, 0, 1], fp)


def test_model_with_metrics_survives_save_and_load(tmp_path, rng):
    y, scores = _dataset_with_positives_only_in_some_batches(rng)
    model = _identity_model()
    model.compile(loss="mse", metrics=[
        kcm.FBeta(0.5, threshold=0.3), kcm.ExpectedCost([[0, 1], [4, 0]]),
        kcm.ThresholdConfusion(num_thresholds=5, spacing="logit"),
        kcm.ConfusionMetric("youden_j")])
    before = model.evaluate(scores, y, batch_size=64, verbose=0, return_dict=True)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    after = loaded.evaluate(scores, y, batch_size=64, verbose=0, return_dict=True)
    for name in ("fbeta", "expected_cost", "youden_j"):
        assert after[name] == pytest.approx(before[name]), name
    np.testing.assert_array_equal(np.asarray(after["threshold_confusion"]),
                                  np.asarray(before["threshold_confusion"]))
