"""ThresholdTuner and ConfusionHistory during model.fit."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn import metrics as skm

from keras_confusion import formulas
from keras_confusion.callbacks import ConfusionHistory, ThresholdTuner
from keras_confusion.thresholds import Thresholded, tune_threshold


def _data(seed, n, k=None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    if k is None:
        y = (x[:, 0] + 0.8 * rng.normal(size=n) > 0.7).astype("float32")  # imbalanced
    else:
        y = np.argmax(x[:, :k] + 0.7 * rng.normal(size=(n, k)), axis=1)
    return x, y


@pytest.fixture(scope="module")
def binary_run():
    """One short training with both callbacks; the tests read what it recorded."""
    keras.utils.set_random_seed(0)
    x, y = _data(0, 256)
    x_val, y_val = _data(1, 200)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    applied = Thresholded(model, threshold=0.5)
    tuner = ThresholdTuner((x_val, y_val), "f1", thresholded=applied, batch_size=50)
    confusion = ConfusionHistory((x_val, y_val), threshold=tuner, batch_size=50)
    history = model.fit(x, y, epochs=3, batch_size=64, verbose=0,
                        callbacks=[tuner, confusion])
    scores = model.predict(x_val, batch_size=50, verbose=0)
    return history.history, tuner, confusion, applied, scores, y_val, x_val


def test_tuner_logged_threshold_equals_tune_threshold_on_same_predictions(binary_run):
    history, tuner, _, _, scores, y_val, _ = binary_run
    expected = tune_threshold(y_val, scores, "f1")
    assert len(history["val_threshold"]) == 3
    assert history["val_threshold"][-1] == expected.threshold
    assert history["val_f1_at_threshold"][-1] == expected.value
    assert expected.value == pytest.approx(skm.f1_score(y_val, scores[:, 0] >= expected.threshold))
    assert tuner.threshold == expected.threshold


def test_tuner_sets_the_threshold_the_thresholded_model_applies(binary_run):
    _, tuner, _, applied, scores, _, x_val = binary_run
    assert applied.threshold == np.float32(tuner.threshold)
    np.testing.assert_array_equal(applied.predict(x_val, batch_size=50, verbose=0),
                                  (scores >= tuner.threshold).astype("int32"))
    fresh = tuner.thresholded_model()
    assert fresh.threshold == applied.threshold


def test_confusion_history_keeps_whole_set_matrix_and_figures_equal_sklearn(binary_run):
    history, tuner, confusion, _, scores, y_val, _ = binary_run
    pred = (scores[:, 0] >= tuner.threshold).astype(int)
    assert len(confusion.matrices) == 3
    np.testing.assert_array_equal(confusion.matrices[-1], skm.confusion_matrix(y_val, pred))
    assert history["val_f1"][-1] == pytest.approx(skm.f1_score(y_val, pred))
    assert history["val_mcc"][-1] == pytest.approx(skm.matthews_corrcoef(y_val, pred))
    assert history["val_sensitivity"][-1] == pytest.approx(skm.recall_score(y_val, pred))
    assert history["val_specificity"][-1] == pytest.approx(
        skm.recall_score(y_val, pred, pos_label=0))
    # Following the tuner, the logged F1 is the tuned value at every epoch.
    np.testing.assert_allclose(history["val_f1"], history["val_f1_at_threshold"])
    assert confusion.history["f1"] == history["val_f1"]


def test_confusion_history_multiclass_macro_figures_equal_sklearn():
    keras.utils.set_random_seed(0)
    x_val, y_val = _data(3, 150, k=3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    confusion = ConfusionHistory((x_val, y_val), num_classes=3, figures=("precision", "mcc"))
    confusion.set_model(model)  # an epoch end without training: fit is tested above
    logs = {}
    confusion.on_epoch_end(0, logs)
    # predict, as the callback: a direct call may differ in the last float32 bit.
    pred = np.argmax(model.predict(x_val, verbose=0), axis=1)
    np.testing.assert_array_equal(confusion.matrices[-1],
                                  skm.confusion_matrix(y_val, pred, labels=[0, 1, 2]))
    assert logs["val_precision"] == pytest.approx(
        skm.precision_score(y_val, pred, average="macro", labels=[0, 1, 2], zero_division=0))
    assert logs["val_mcc"] == pytest.approx(skm.matthews_corrcoef(y_val, pred))


def test_tuner_warns_and_logs_nan_when_constraint_is_unreachable():
    x, y = _data(4, 64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    tuner = ThresholdTuner((x, y), "recall", constraint=("precision", 1.01))
    with pytest.warns(UserWarning, match="no threshold tuned.*best reachable"):
        history = model.fit(x, y, epochs=1, verbose=0, callbacks=[tuner])
    assert np.isnan(history.history["val_threshold"][0])
    assert tuner.threshold is None


def test_confusion_history_plot_draws_one_line_per_figure(binary_run):
    pytest.importorskip("matplotlib")
    _, _, confusion, _, _, _, _ = binary_run
    fig = confusion.plot()
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == list(confusion.figures)
    np.testing.assert_allclose(lines[3].get_ydata(), confusion.history["f1"])


def test_multilabel_tuner_logs_one_threshold_per_label_equal_to_tune_threshold():
    x, y = _data(5, 120)
    y3 = np.stack([y, 1 - y, (x[:, 1] > 0).astype("float32")], axis=1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
    applied = Thresholded(model, threshold=[0.5, 0.5, 0.5])
    tuner = ThresholdTuner((x, y3), "mcc", multilabel=True, thresholded=applied)
    tuner.set_model(model)
    logs = {}
    tuner.on_epoch_end(0, logs)
    expected = tune_threshold(y3, model.predict(x, verbose=0), "mcc", multilabel=True)
    for label in range(3):
        assert logs[f"val_threshold_{label}"] == expected.threshold[label]
        assert logs[f"val_mcc_at_threshold_{label}"] == expected.value[label]
    # Applied exactly (float64) where the backend has float64, else as its float32 ceiling.
    stored = Thresholded._stored(expected.threshold,
                                 keras.backend.standardize_dtype(applied.threshold_variable.dtype))
    np.testing.assert_array_equal(applied.threshold, stored)


def test_tuner_on_an_iterable_of_batches_equals_tuner_on_whole_arrays():
    x, y = _data(6, 90)
    w = np.arange(90) % 3 + 1.0
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    whole = ThresholdTuner((x, y, w), "mcc")
    batches = ThresholdTuner([(x[i:i + 40], y[i:i + 40], w[i:i + 40]) for i in (0, 40, 80)],
                             "mcc")
    for tuner in (whole, batches):
        tuner.set_model(model)
        tuner.on_epoch_end(0, {})
    assert batches.threshold == whole.threshold
    assert batches.result.value == pytest.approx(whole.result.value, abs=1e-12)


def test_callbacks_reject_malformed_arguments():
    data = (np.zeros((4, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="`validation_data` must be"):
        ThresholdTuner((np.zeros(3),))
    with pytest.raises(ValueError, match="`formula` must be"):
        ThresholdTuner(data, "no_such_formula")
    with pytest.raises(ValueError, match="`constraint` must be a pair"):
        ThresholdTuner(data, constraint=("recall",))
    with pytest.raises(ValueError, match="`threshold` must be"):
        ConfusionHistory(data, threshold=1.5)
    assert formulas.get("f1") is formulas.f1


def test_confusion_history_with_tuner_on_logit_model_counts_at_the_logit_threshold():
    keras.utils.set_random_seed(1)
    x, y = _data(7, 200)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])  # logits
    model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=True))
    tuner = ThresholdTuner((x, y), "f1")
    history = ConfusionHistory((x, y), threshold=tuner)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[tuner, history])
    logits = model.predict(x, verbose=0)[:, 0]
    expected = skm.confusion_matrix(y, (logits >= tuner.threshold).astype(int))
    np.testing.assert_array_equal(history.matrices[-1], expected)


def test_tuner_refuses_a_thresholded_model_that_cannot_hold_its_thresholds():
    data = (np.zeros((4, 4)), np.zeros((4, 2)))
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="sigmoid")])
    with pytest.raises(ValueError, match=r"`thresholded`.*one threshold per label"):
        ThresholdTuner(data, multilabel=True, thresholded=Thresholded(inner, threshold=0.5))
    with pytest.raises(ValueError, match=r"`thresholded`.*one threshold"):
        ThresholdTuner(data, thresholded=Thresholded(inner, threshold=[0.5, 0.5]))
    with pytest.raises(ValueError, match="`thresholded`"):
        ThresholdTuner(data, thresholded=Thresholded(inner, cost_matrix=[[0, 1], [5, 0]]))


@pytest.mark.parametrize("multilabel", [False, True])
def test_tuner_logs_the_same_keys_when_an_epoch_tunes_nothing(multilabel):
    x, y = _data(8, 64)
    labels = np.stack([y, 1 - y], axis=1) if multilabel else y
    width = 2 if multilabel else 1
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(width, "sigmoid")])
    # Unreachable: the first epoch tunes nothing; the second, without it, does.
    tuner = ThresholdTuner((x, labels), "recall", constraint=("precision", 1.01),
                           multilabel=multilabel)
    tuner.set_model(model)
    failed, good = {}, {}
    with pytest.warns(UserWarning, match="no threshold tuned"):
        tuner.on_epoch_end(0, failed)
    tuner.constraint = None
    tuner.on_epoch_end(1, good)
    assert set(failed) == set(good)
    assert all(np.isnan(v) for v in failed.values())
