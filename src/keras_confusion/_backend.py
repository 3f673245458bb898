"""The only module that touches a backend directly.

Everything Keras-facing is written with ``keras.ops``; the few things ``keras.ops``
cannot express (a jittable bincount, "is this tensor symbolic?") live here, one
branch per backend, imported lazily so that importing the package never pulls in a
backend the user did not choose.
"""

from __future__ import annotations

import keras
import numpy as np


def backend() -> str:
    return keras.backend.backend()


def is_symbolic(x) -> bool:
    """True when ``x`` has no concrete value yet (traced, compiled or symbolic).

    Values can only be validated eagerly; inside ``jax.jit``, ``tf.function`` or
    ``torch.compile`` the counting code keeps a tally of invalid samples instead.
    """
    if isinstance(x, (np.ndarray, np.generic, int, float, bool, list, tuple)):
        return False
    if isinstance(x, keras.KerasTensor):
        return True
    name = backend()
    if name == "jax":
        import jax

        return isinstance(x, jax.core.Tracer)
    if name == "tensorflow":
        import tensorflow as tf

        if tf.is_tensor(x):
            return tf.is_symbolic_tensor(x)
        return not tf.executing_eagerly()
    if name == "torch":
        import torch

        return bool(torch.compiler.is_compiling())
    return False


def bincount(indices, weights, length: int):
    """Count ``indices`` in ``[0, length)``, optionally weighted; jittable.

    ``keras.ops.bincount`` is not traceable on JAX (its output length depends on
    the data), so this calls each backend's native kernel with a static length.
    Callers guarantee every index is in range. Unweighted counts are integers.
    """
    name = backend()
    if name == "jax":
        import jax.numpy as jnp

        return jnp.bincount(indices, weights=weights, length=length)
    if name == "tensorflow":
        import tensorflow as tf

        return tf.math.bincount(
            indices,
            weights=weights,
            minlength=length,
            maxlength=length,
            dtype=tf.int32 if weights is None else weights.dtype,
        )
    if name == "torch":
        import torch

        return torch.bincount(indices, weights=weights, minlength=length)
    # Any other backend: a one-hot sum, correct if slower.
    ones = keras.ops.one_hot(indices, length, dtype="float32")
    if weights is not None:
        ones = ones * keras.ops.expand_dims(weights, -1)
    return keras.ops.sum(ones, axis=0)


def scatter_add(x, indices, updates):
    """``x`` with ``updates`` added at the 1-D ``indices`` (duplicates accumulate).

    ``keras.ops.scatter`` builds a fresh zero tensor of the full shape; adding into
    an existing one keeps a streaming update O(batch) instead of O(size of x).
    """
    name = backend()
    if name == "jax":
        return x.at[indices].add(updates)
    if name == "tensorflow":
        import tensorflow as tf

        return tf.tensor_scatter_nd_add(x, tf.expand_dims(indices, -1), updates)
    if name == "torch":
        # Keras builds torch models symbolically on the "meta" device first.
        return x.index_add(0, indices.long().to(x.device), updates.to(x.device, x.dtype))
    return x + keras.ops.scatter(keras.ops.expand_dims(indices, -1), updates, x.shape)


def has_value(x) -> bool:
    """True when ``x`` holds readable values: not traced, and not on torch's "meta"
    device, where Keras builds torch models symbolically before the first step."""
    if is_symbolic(x):
        return False
    return not bool(getattr(x, "is_meta", False))
