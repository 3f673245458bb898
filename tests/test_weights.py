"""Class weights from label counts."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight

from keras_confusion import losses as L
from keras_confusion.weights import class_weights

from conftest import to_numpy


@given(seed=st.integers(0, 2**16), k=st.integers(2, 6), n=st.integers(10, 200))
def test_balanced_equals_scikit_learn(seed, k, n):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(k), rng.integers(0, k, n)])  # every class present
    expected = compute_class_weight("balanced", classes=np.arange(k), y=y)
    got = class_weights(y)
    assert list(got) == list(range(k))
    np.testing.assert_allclose(list(got.values()), expected, rtol=1e-12)


def test_one_hot_labels_give_the_same_weights_as_integer_labels():
    y = np.array([0, 0, 1, 2, 2, 2])
    for method in ["balanced", "inverse_sqrt", "effective_number"]:
        assert class_weights(np.eye(3)[y], method) == class_weights(y, method)


def test_inverse_sqrt_hand_worked_example():
    # counts 9 and 1: w proportional to 1/3 and 1, scaled by 2.5 so that 9 w0 + w1 = 10.
    got = class_weights([0] * 9 + [1], "inverse_sqrt")
    assert got[0] == pytest.approx(2.5 / 3) and got[1] == pytest.approx(2.5)


def test_effective_number_hand_worked_example_and_limits():
    y = [0, 0, 0, 1, 2]
    # beta 0.5: effective numbers (1 - 0.5**n) / 0.5 = 1.75, 1, 1.
    w = 1 / np.array([1.75, 1.0, 1.0])
    w = w * 5 / np.sum(np.array([3, 1, 1]) * w)
    np.testing.assert_allclose(list(class_weights(y, "effective_number", beta=0.5).values()), w)
    assert set(class_weights(y, "effective_number", beta=0.0).values()) == {1.0}
    near_one = class_weights(y, "effective_number", beta=1 - 1e-9)
    np.testing.assert_allclose(list(near_one.values()), list(class_weights(y).values()),
                               rtol=1e-6)


def test_every_method_keeps_mean_sample_weight_one():
    y = np.array([0] * 50 + [1] * 7 + [2] * 3)
    for method in ["balanced", "inverse_sqrt", "effective_number"]:
        w = class_weights(y, method)
        assert np.mean([w[c] for c in y]) == pytest.approx(1.0)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"y": [0, 0, 2]}, "no sample of class 1"),
    # An ID column passed as y: refused before 3e9 cells (22 GiB) are counted.
    ({"y": [0, 1, 3_000_000_000]}, "no sample of class 2"),
    ({"y": [0, 1], "num_classes": 3}, "no sample of class 2"),
    # Past int64 the cast wrapped negative: "'list' argument must have no negative...".
    ({"y": np.array([0, 1, 1e20])},
     r"Argument `y` must be integer class labels >= 0 \(an index, not an ID\)\. "
     r"Received: y=<label 1e\+20>"),
    ({"y": [0, 1, 3], "num_classes": 3}, "Argument `y`"),
    ({"y": [0, 1.5]}, "Argument `y`"),
    ({"y": [0, 1], "method": "log"}, "Argument `method`"),
    ({"y": [0, 1], "method": "effective_number", "beta": 1.0}, "Argument `beta`"),
    ({"y": []}, "Argument `y`"),
    ({"y": ["a", "b", "a"]}, r"Argument `y`.*map class names.*\['a', 'b'\]"),
])
def test_bad_input_raises_value_error_naming_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        class_weights(**kwargs)


def test_weighted_crossentropy_with_class_weights_equals_keras_sample_weights(rng):
    y = (rng.random(100) < 0.1).astype("float32")
    p = rng.uniform(0.01, 0.99, 100).astype("float32")
    weights = class_weights(y)
    ours = L.WeightedCrossentropy(weights)(y[:, None], p[:, None])
    per_sample = np.array([weights[int(c)] for c in y], "float32")
    keras_ref = keras.losses.BinaryCrossentropy()(y[:, None], p[:, None], sample_weight=per_sample)
    assert float(to_numpy(ours)) == pytest.approx(float(to_numpy(keras_ref)), rel=1e-5)
