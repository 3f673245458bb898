"""End to end: model.fit with the confusion losses on a seeded imbalanced task.

One small model (10 features, one hidden layer of 16) is trained with each loss on the
same 8,000 samples (6 % positives) and judged on 4,000 held-out samples at the 0.5
threshold, against binary cross-entropy trained the same way. Batches are large
(512) because these losses are over the counts of a batch. jit_compile is on for JAX
and TensorFlow; torch runs eagerly (torch.compile would take most of the CI budget).
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.metrics import f1_score

from keras_confusion import losses as L

from conftest import BACKEND

COST = np.array([[0.0, 1.0], [10.0, 0.0]])


@pytest.fixture(scope="module")
def data():
    x, y = make_classification(n_samples=12000, n_features=10, n_informative=5, n_redundant=0,
                               n_clusters_per_class=2, weights=[0.94], flip_y=0.0,
                               class_sep=1.0, random_state=0)
    x, y = x.astype("float32"), y.astype("float32")
    return x[:8000], y[:8000], x[8000:], y[8000:]


def fit_scores(loss, data):
    """Held-out logits of the model trained with ``loss``."""
    x_train, y_train, x_test, _ = data
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.003), loss=loss, jit_compile=BACKEND != "torch")
    model.fit(x_train, y_train, batch_size=512, epochs=20, verbose=0)
    return model.predict(x_test, batch_size=4000, verbose=0)[:, 0]


def rates(y, decisions):
    return decisions[y == 1].mean(), (~decisions[y == 0]).mean()


@pytest.fixture(scope="module")
def crossentropy_scores(data):
    return fit_scores(keras.losses.BinaryCrossentropy(from_logits=True), data)


def test_data_set_is_imbalanced_with_5_to_10_percent_positives(data):
    assert 0.05 <= data[1].mean() <= 0.10 and 0.05 <= data[3].mean() <= 0.10


def test_specificity_loss_at_min_sensitivity_0_9_keeps_0_85_held_out_and_rivals_tuned_crossentropy(
        data, crossentropy_scores):
    y_test = data[3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the constrained form must not warn
        loss = L.SpecificityLoss(min_sensitivity=0.9, from_logits=True)
    sensitivity, specificity = rates(y_test, fit_scores(loss, data) >= 0.0)
    # Cross-entropy with its threshold set for sensitivity 0.9 on the held-out data.
    positives = np.sort(crossentropy_scores[y_test == 1])[::-1]
    threshold = positives[int(np.ceil(0.9 * len(positives))) - 1]
    ce_sensitivity, ce_specificity = rates(y_test, crossentropy_scores >= threshold)
    assert ce_sensitivity >= 0.9
    # The floor holds on the training batches; held out it reached 0.87-0.88 (the
    # SpecificityLoss docstring), so the test asks for 0.85, as its name says.
    assert sensitivity >= 0.85
    assert specificity >= ce_specificity - 0.05


def test_fbeta_loss_gives_higher_f1_at_half_than_crossentropy(data, crossentropy_scores):
    y_test = data[3]
    scores = fit_scores(L.FBetaLoss(1.0, from_logits=True), data)
    assert f1_score(y_test, scores >= 0.0) > f1_score(y_test, crossentropy_scores >= 0.0)


def test_cost_loss_gives_lower_expected_cost_at_half_than_crossentropy(
        data, crossentropy_scores):
    y_test = data[3].astype(int)

    def cost(scores):
        return COST[y_test, (scores >= 0.0).astype(int)].mean()

    scores = fit_scores(L.CostLoss(COST, from_logits=True), data)
    assert cost(scores) < cost(crossentropy_scores)


def test_constrained_loss_holds_its_floor_on_overlapping_classes_with_a_large_penalty():
    # One feature, 5 % positives from N(1, 1) against negatives from N(0, 1): the
    # specificity given up per unit of sensitivity is about 2.2 at sensitivity 0.9, more
    # than the default penalty of 2 (which trained to 0.85); a penalty of 10 exceeds it.
    rng = np.random.default_rng(0)
    y = (rng.random(20000) < 0.05).astype("float32")
    x = (rng.normal(0, 1, 20000) + y).astype("float32")[:, None]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.05),
                  loss=L.SpecificityLoss(min_sensitivity=0.9, penalty=10.0, from_logits=True),
                  jit_compile=BACKEND != "torch")
    model.fit(x, y, batch_size=2000, epochs=60, verbose=0)
    logits = model.predict(x, batch_size=20000, verbose=0)[:, 0]
    assert (logits[y == 1] >= 0).mean() >= 0.9
