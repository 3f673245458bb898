"""ThresholdTuner and ConfusionHistory during model.fit."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn import metrics as skm

from keras_confusion import formulas
from keras_confusion.callbacks import ConfusionHistory, ThresholdTuner
from keras_confusion.decisions import tune_threshold
from keras_confusion.thresholded import Thresholded


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


def _best_f1_by_brute_force(y, scores, w=None):
    """The largest F1 over every distinct score as threshold, by scikit-learn."""
    return max(skm.f1_score(y, scores >= t, sample_weight=w) for t in np.unique(scores))


def test_callbacks_on_a_tf_data_dataset_equal_sklearn_on_the_same_batches():
    tf = pytest.importorskip("tensorflow")
    keras.utils.set_random_seed(2)
    x, y = _data(9, 120)
    w = (np.arange(120) % 4 + 1.0).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(32)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(0.0), "binary_crossentropy")
    tuner = ThresholdTuner(ds, "f1")
    confusion = ConfusionHistory(ds)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[tuner, confusion])
    scores = np.concatenate([model.predict_on_batch(x[i:i + 32])[:, 0] for i in range(0, 120, 32)])
    np.testing.assert_allclose(confusion.matrices[-1],
                               skm.confusion_matrix(y, scores >= 0.5, sample_weight=w))
    assert tuner.result.value == pytest.approx(_best_f1_by_brute_force(y, scores, w))


def test_callbacks_on_a_py_dataset_equal_sklearn_on_the_same_batches():
    x, y = _data(10, 100)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[25 * i:25 * i + 25], y[25 * i:25 * i + 25]

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(0.0), "binary_crossentropy")
    confusion = ConfusionHistory(Batches())
    model.fit(x, y, epochs=2, verbose=0, callbacks=[confusion])
    scores = model.predict(x, batch_size=25, verbose=0)[:, 0]
    assert len(confusion.matrices) == 2
    np.testing.assert_array_equal(confusion.matrices[-1], skm.confusion_matrix(y, scores >= 0.5))


@pytest.mark.parametrize("one_shot", ["generator", "iterator"])
def test_callbacks_refuse_a_one_shot_iterator_as_validation_data(one_shot):
    x, y = _data(11, 64)
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    for cls in (ConfusionHistory, ThresholdTuner):
        data = (b for b in batches) if one_shot == "generator" else iter(batches)
        with pytest.raises(ValueError, match=r"`validation_data` must be re-iterable.*"
                                             r"list of batches.*tf\.data\.Dataset.*PyDataset"):
            cls(data)


@pytest.mark.parametrize(("kwargs", "match"), [
    # x alone: its rows were taken for batches ("Invalid input shape" at an epoch end).
    ({"validation_data": "x"}, r"`validation_data` must be \(x, y\) or \(x, y, "
                               r"sample_weight\).*Received: validation_data=<array of "
                               r"shape \(64, 4\)>"),
    # 0 was read as Keras' default 32; -5 as an empty validation set; "a" accepted.
    ({"batch_size": 0}, r"`batch_size` must be an integer >= 1, or None"),
    ({"batch_size": -5}, r"`batch_size` must be an integer >= 1"),
    ({"batch_size": "a"}, r"`batch_size` must be an integer >= 1"),
    ({"batch_size": True}, r"`batch_size` must be an integer >= 1"),
])
def test_callbacks_refuse_bad_arguments_at_construction(kwargs, match):
    x, y = _data(4, 64)
    kwargs = dict(kwargs)
    data = x if kwargs.pop("validation_data", None) == "x" else (x, y)
    for cls in (ConfusionHistory, ThresholdTuner):
        with pytest.raises(ValueError, match=match):
            cls(data, **kwargs)
    assert ThresholdTuner((x, y), batch_size=np.int64(8)).batch_size == 8


@pytest.mark.parametrize("cls", [ConfusionHistory, ThresholdTuner])
def test_callbacks_refuse_a_multi_output_model_naming_its_outputs(cls):
    x, y = _data(12, 64)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, {
        "a": keras.layers.Dense(1, activation="sigmoid", name="a")(inputs),
        "b": keras.layers.Dense(1, activation="sigmoid", name="b")(inputs)})
    model.compile("sgd", "binary_crossentropy")
    labels = {"a": y, "b": y}
    with pytest.raises(ValueError, match=r"one output.*2 outputs \['a', 'b'\]"):
        model.fit(x, labels, epochs=1, verbose=0, callbacks=[cls((x, labels))])


def test_tuner_on_a_sequence_output_tunes_over_every_step_as_brute_force():
    # (B, T, 1) outputs: each step a sample, as ConfusionHistory counts them, with the
    # (B,) weights repeated over the steps.
    rng = np.random.default_rng(13)
    x = rng.normal(size=(40, 5, 3)).astype("float32")
    y = (x[..., :1] + rng.normal(size=(40, 5, 1)) > 0.3).astype("float32")
    w = np.arange(40) % 3 + 1.0
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.Dense(1, activation="sigmoid")])
    tuner = ThresholdTuner((x, y, w), "f1", batch_size=16)
    confusion = ConfusionHistory((x, y, w), threshold=tuner, batch_size=16)
    for callback in (tuner, confusion):
        callback.set_model(model)
        callback.on_epoch_end(0, {})
    scores = model.predict(x, batch_size=16, verbose=0).ravel()
    steps_w = np.repeat(w, 5)
    assert tuner.result.value == pytest.approx(
        _best_f1_by_brute_force(y.ravel(), scores, steps_w))
    np.testing.assert_allclose(confusion.matrices[-1], skm.confusion_matrix(
        y.ravel(), scores >= tuner.threshold, sample_weight=steps_w))


def _not_binary_labels():
    x, y = _data(14, 64)
    y = y.copy()
    y[3] = 2
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    return model, ThresholdTuner((x, y), "f1"), r"binary labels in \{0, 1\}"


def _multiclass_output():
    x, y = _data(15, 64, k=3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    return model, ThresholdTuner((x, y), "f1", constraint=("recall", 0.5)), r"\(batch, 1\)"


def _objective_returning_nan():
    x, y = _data(16, 64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    tuner = ThresholdTuner((x, y), lambda cm: float("nan"), constraint=("recall", 0.5))
    return model, tuner, "returns numbers"


@pytest.mark.parametrize("case", [_not_binary_labels, _multiclass_output,
                                  _objective_returning_nan])
def test_tuner_raises_set_up_errors_instead_of_warning_and_logging_nan(case):
    model, tuner, message = case()
    tuner.set_model(model)
    with pytest.raises(ValueError, match=message):
        tuner.on_epoch_end(0, {})
    assert tuner.result is None


def test_tuner_warns_and_logs_nan_on_constant_predictions():
    x, y = _data(17, 64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(
        1, activation="sigmoid", kernel_initializer="zeros")])
    tuner = ThresholdTuner((x, y), "f1")
    tuner.set_model(model)
    logs = {}
    with pytest.warns(UserWarning, match="no threshold tuned.*constant predictions"):
        tuner.on_epoch_end(0, logs)
    assert np.isnan(logs["val_threshold"]) and np.isnan(logs["val_f1_at_threshold"])


def _padded_sequences(seed, n=60, steps=6, features=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, features)).astype("float32")
    lengths = rng.integers(2, steps + 1, n)
    pad = np.arange(steps)[None, :] >= lengths[:, None]
    x[pad] = 0.0
    y = (rng.random((n, steps, 1)) < 0.4).astype("float32")
    return x, y, pad


@pytest.mark.parametrize("pad_label", [0.0, -1.0])
def test_callbacks_leave_masked_steps_out_equal_sklearn_and_evaluate(pad_label):
    from keras_confusion.metrics import ConfusionMatrix

    keras.utils.set_random_seed(3)
    x, y, pad = _padded_sequences(18)
    y_pad = y.copy()
    y_pad[pad] = pad_label
    w = np.arange(len(x)) % 3 + 1.0
    model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Masking(0.0),
                              keras.layers.Dense(1, activation="sigmoid")])
    # Squared error: torch's binary crossentropy refuses -1 targets, masked or not.
    model.compile(keras.optimizers.SGD(0.0), "mean_squared_error")
    tuner = ThresholdTuner((x, y_pad, w), "f1", batch_size=16)
    confusion = ConfusionHistory((x, y_pad), batch_size=16)
    model.fit(x, y_pad, epochs=1, batch_size=16, verbose=0, callbacks=[tuner, confusion])

    scores = model.predict(x, verbose=0)[..., 0]
    keep = ~pad
    expected = skm.confusion_matrix(y[keep].ravel(), scores[keep] >= 0.5)
    np.testing.assert_array_equal(confusion.matrices[-1], expected)
    model.compile(loss="mean_squared_error", metrics=[ConfusionMatrix()])
    evaluated = model.evaluate(x, y_pad, verbose=0, return_dict=True)["confusion_matrix"]
    np.testing.assert_array_equal(confusion.matrices[-1], evaluated)
    steps_w = np.broadcast_to(w[:, None], pad.shape)[keep]
    assert tuner.result.value == pytest.approx(
        _best_f1_by_brute_force(y[keep].ravel(), scores[keep], steps_w))


def _explorer_data(page):
    import json
    import re

    block = re.search(r'<script type="application/json" class="kc-data">(.*?)</script>', page)
    return json.loads(block.group(1))


def test_confusion_history_html_explores_the_last_epochs_validation_scores(binary_run,
                                                                            tmp_path):
    _, tuner, confusion, _, scores, y_val, _ = binary_run
    path = tmp_path / "history.html"
    page = confusion.to_html(path, class_names=["no", "yes"], bootstrap=0)
    assert path.read_text(encoding="utf-8") == page
    data = _explorer_data(page)
    s = scores[:, 0].astype("float64")
    kept = np.array([float(t) for t in data["thresholds"]])
    # Each kept candidate's counts are NumPy's count of score >= candidate.
    pos = s[None, :] >= kept[:, None]
    np.testing.assert_array_equal(data["tp"], (pos & (y_val == 1)).sum(axis=1))
    np.testing.assert_array_equal(data["fp"], (pos & (y_val == 0)).sum(axis=1))
    # It opens at the tuner's threshold, marked tuned, with the last epoch's matrix.
    chosen = data["chosen"]
    assert [data["fp"][chosen], data["tp"][chosen]] == confusion.matrices[-1][:, 1].tolist()
    tuned = {m["label"]: m for m in data["marks"]}["tuned"]
    assert tuned["threshold"] == tuner.threshold and tuned["index"] == chosen
    assert page.count("<tr><td>") >= 3 and "Validation figures per epoch" in page


def test_confusion_history_html_of_a_multiclass_model_has_the_heat_table():
    keras.utils.set_random_seed(0)
    x_val, y_val = _data(3, 150, k=3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    confusion = ConfusionHistory((x_val, y_val), num_classes=3)
    with pytest.raises(ValueError, match="no epochs to report"):
        confusion.to_html()
    confusion.set_model(model)
    confusion.on_epoch_end(0, {})
    data = _explorer_data(confusion.to_html(bootstrap=0))
    assert data["kind"] == "multiclass"
    assert data["matrix"] == confusion.matrices[-1].tolist()


def test_confusion_history_html_of_logits_opens_at_the_threshold_in_logit_units():
    keras.utils.set_random_seed(0)
    x_val, y_val = _data(6, 300)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    confusion = ConfusionHistory((x_val, y_val), threshold=0.3, from_logits=True)
    confusion.set_model(model)
    confusion.on_epoch_end(0, {})
    data = _explorer_data(confusion.to_html(bootstrap=0))
    logits = np.asarray(model.predict(x_val, verbose=0), dtype="float64")[:, 0]
    chosen = data["chosen"]
    # The decision sigmoid(logit) >= 0.3 is logit >= log(0.3 / 0.7).
    assert float(data["thresholds"][chosen]) == logits[logits >= np.log(0.3 / 0.7)].min()
    assert [data["fp"][chosen], data["tp"][chosen]] == confusion.matrices[-1][:, 1].tolist()


def test_tuner_with_confidence_applies_and_logs_the_guaranteed_threshold():
    keras.utils.set_random_seed(0)
    x, y = _data(0, 256)
    x_val, y_val = _data(2, 600)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    applied = Thresholded(model, threshold=0.5)
    tuner = ThresholdTuner((x_val, y_val), "specificity", constraint=("recall", 0.9),
                           confidence=0.9, thresholded=applied, batch_size=100)
    history = model.fit(x, y, epochs=2, batch_size=64, verbose=0, callbacks=[tuner])
    scores = model.predict(x_val, batch_size=100, verbose=0)
    expected = tune_threshold(y_val, scores, "specificity", constraint=("recall", 0.9),
                              confidence=0.9)
    assert history.history["val_threshold"][-1] == expected.threshold
    assert history.history["val_recall_bound"][-1] == expected.bound >= 0.9
    assert applied.guarantee == expected.guarantee
    assert tuner.thresholded_model().get_config()["guarantee"] == expected.guarantee
    # Guaranteed, the threshold is lower than the one met only on the data.
    assert expected.threshold <= tune_threshold(y_val, scores, "specificity",
                                                constraint=("recall", 0.9)).threshold


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"confidence": 1.5}, r"`confidence` must be a number in the open interval"),
    ({"confidence": 0.9, "constraint": None}, r"`confidence` must be None unless a constraint"),
    ({"confidence": 0.9, "constraint": ("mcc", 0.5)}, r"`constraint` must be a floor on one"),
])
def test_tuner_refuses_a_confidence_it_cannot_honour_at_construction(kwargs, match):
    x, y = _data(0, 50)
    with pytest.raises(ValueError, match=match):
        ThresholdTuner((x, y), "specificity", **{"constraint": ("recall", 0.9), **kwargs})


def test_tuner_with_confidence_refuses_weighted_validation_data():
    x, y = _data(0, 64)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    tuner = ThresholdTuner((x, y, np.ones(64)), "specificity", constraint=("recall", 0.9),
                           confidence=0.9)
    with pytest.raises(ValueError, match=r"`sample_weight` must be None when confidence"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[tuner])


def test_confusion_history_never_writes_over_a_compiled_metric_of_the_same_name():
    # Both logged 'val_specificity': the callback's value silently replaced the metric's.
    from keras_confusion import metrics as kcm
    from keras_confusion._validation import ConfusionWarning

    x, y = _data(5, 64)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  metrics=[kcm.Specificity(threshold=0.9)])
    confusion = ConfusionHistory((x, y), threshold=0.1, figures=("specificity", "f1"))
    with pytest.warns(ConfusionWarning, match="'val_specificity'.*'val_specificity_1'"):
        history = model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y),
                            callbacks=[confusion]).history
    scores = model.predict(x, verbose=0)[:, 0]
    assert history["val_specificity"][-1] == pytest.approx(
        skm.recall_score(y, (scores >= 0.9).astype(int), pos_label=0), abs=1e-6)
    assert history["val_specificity_1"] == confusion.history["specificity"]
    assert confusion.history["specificity"][-1] == pytest.approx(
        skm.recall_score(y, (scores >= 0.1).astype(int), pos_label=0))
    assert history["val_f1"] == confusion.history["f1"]
    assert confusion.logged_names == {"specificity": "val_specificity_1", "f1": "val_f1"}
