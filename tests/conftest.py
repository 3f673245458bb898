"""Shared test set-up: one backend per run (KERAS_BACKEND), seeded data, helpers."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.load_profile("default")

BACKEND = keras.backend.backend()

# Test files of the Keras-free core (files, command line, report, figures): CI runs them
# once (`-m keras_free`), not once per backend. A test in them that needs the backend
# says so with ``@pytest.mark.backend``.
KERAS_FREE_FILES = {"test_cli.py", "test_report.py", "test_plot.py", "test_io.py",
                    "test_files.py", "test_guarantee.py", "test_quality_smoke.py",
                    "test_bench_counting.py"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in KERAS_FREE_FILES and not item.get_closest_marker("backend"):
            item.add_marker(pytest.mark.keras_free)


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def gradient(fn, x):
    """d sum(fn(x)) / dx on the active backend, as NumPy."""
    import keras.ops as ops

    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: ops.sum(fn(v)))(ops.convert_to_tensor(x)))
    if BACKEND == "tensorflow":
        import tensorflow as tf

        v = tf.Variable(np.asarray(x, dtype="float32"))
        with tf.GradientTape() as tape:
            out = tf.reduce_sum(fn(v))
        return tape.gradient(out, v).numpy()
    import torch

    v = torch.tensor(np.asarray(x, dtype="float32"), requires_grad=True)
    fn(v).sum().backward()
    return v.grad.numpy()


def compiled(fn):
    """``fn`` compiled the way Keras compiles a train step on this backend."""
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    return fn  # torch: Keras runs eagerly unless jit_compile=True asks torch.compile
