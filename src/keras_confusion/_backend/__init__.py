"""The backend layer: the only code that names jax, tensorflow or torch.

Everything Keras-facing is written with ``keras.ops``; what ``keras.ops`` cannot
express lives here, one branch per backend, each backend imported lazily so that
importing the package never pulls in a backend the user did not choose:

* this module: shims (a jittable bincount, "is this tensor symbolic?", in-place
  access to a variable's storage, the Keras mask);
* `kernels`: CPU kernels that earn their place in ``benchmarks/bench_counting.py``
  (each can be switched off there, through `kernels.TRICKS`, to measure it);
* `compensated`: exact counts in a float32 pair (TwoSum), written once;
* `distribution`: sums over the replicas of data-parallel training;
* `eager_torch`: what a metric update on eager torch on a CPU does in torch's own ops.
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

        # Keras' symbolic build of a torch model falls back to real tensors filled
        # with a constant where an op has no "meta" kernel: their values mean nothing.
        return bool(torch.compiler.is_compiling()) or _in_symbolic_scope()
    return False


def _in_symbolic_scope() -> bool:
    """Whether a ``SymbolicScope`` of Keras is active (Keras has no public test)."""
    test = _private_keras("keras.src.backend.common.symbolic_scope", "in_symbolic_scope")
    return False if test is None else bool(test())


def has_float64(x) -> bool:
    """Whether float64 arithmetic is available where ``x`` is computed.

    Not on JAX unless x64 is enabled, not on a TPU, and not on torch devices other than
    CPUs and CUDA GPUs (Apple's MPS has no float64).
    """
    name = backend()
    if name == "jax":
        import jax

        return bool(jax.config.jax_enable_x64) and jax.default_backend() != "tpu"
    if name == "tensorflow":
        import tensorflow as tf

        return not tf.config.list_logical_devices("TPU")
    if name == "torch":
        return x.device.type in ("cpu", "cuda")
    return False


def clip(x, low, high):
    """``keras.ops.clip``; in a TensorFlow graph one kernel where Keras' is two."""
    if backend() == "tensorflow":
        import tensorflow as tf

        return tf.raw_ops.ClipByValue(t=x, clip_value_min=tf.constant(low, x.dtype),
                                      clip_value_max=tf.constant(high, x.dtype))
    return keras.ops.clip(x, low, high)


def constant(array: np.ndarray, like):
    """A NumPy array as a tensor beside ``like``. On torch, ``torch.as_tensor`` on
    ``like``'s device: Keras' conversion reads the array's dtype, which torch.compile
    cannot trace (a graph break in every compiled update)."""
    if backend() == "torch":
        import torch

        # ml_dtypes' bfloat16 (beside bfloat16 scores only: reading an array's dtype
        # breaks a compiled graph): torch takes it via float32.
        if like.dtype == torch.bfloat16 and array.dtype.kind == "V":
            return torch.as_tensor(array.astype("float32"), device=like.device).to(
                torch.bfloat16)
        return torch.as_tensor(array, device=like.device)
    return keras.ops.convert_to_tensor(array)


def bitcast(x, dtype: str):
    """``x``'s bits read as ``dtype``, of the same width (``keras.ops.view``, whose
    TensorFlow version needs a shape known when the graph is built)."""
    if backend() == "tensorflow":
        import tensorflow as tf

        return tf.bitcast(x, dtype)
    return keras.ops.view(x, dtype)


def take(table, indices):
    """``table[indices]`` for a 1-D ``table`` and indices known to be in range.

    ``keras.ops.take`` first wraps negative indices, three more passes per call in a
    TensorFlow graph; TensorFlow gathers directly.
    """
    if backend() == "tensorflow":
        import tensorflow as tf

        return tf.gather(table, indices)
    return keras.ops.take(table, indices)


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

        # The raw kernel: tf.math.bincount adds range checks around it (2.5x slower
        # under XLA at 65,536 samples).
        return tf.raw_ops.DenseBincount(
            input=indices, size=length,
            weights=tf.zeros([0], tf.int32) if weights is None else weights)
    if name == "torch":
        import torch

        if torch.compiler.is_compiling() or indices.is_meta:
            # Inside torch.compile a bincount's length depends on the data: a graph
            # break. A scatter-add into a fixed length is traced whole. On the "meta"
            # device (Keras' symbolic build) bincount has no kernel at all.
            ones = torch.ones((), dtype=torch.int64 if weights is None else weights.dtype,
                              device=indices.device).expand(indices.shape[0])
            out = torch.zeros(length, dtype=ones.dtype, device=indices.device)
            return out.scatter_add(0, indices.long(), ones if weights is None else weights)
        return torch.bincount(indices, weights=weights, minlength=length)
    # Any other backend: a one-hot sum, correct if slower.
    ones = keras.ops.one_hot(indices, length, dtype="float32")
    if weights is not None:
        ones = ones * keras.ops.expand_dims(weights, -1)
    return keras.ops.sum(ones, axis=0)


def cumsum(x, axis: int):
    """``keras.ops.cumsum`` in ``x``'s own dtype: Keras' torch backend sums float64
    in float32 (16777217 came back as 16777216)."""
    if backend() == "torch":
        import torch

        return torch.cumsum(x, dim=axis)
    return keras.ops.cumsum(x, axis=axis)


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


def add_counts(x, indices, updates=None):
    """``x`` plus the histogram of the 1-D ``indices`` (weighted by ``updates``, else 1).

    The same as `scatter_add`, for a state that is updated densely anyway. TensorFlow
    histograms with its bincount kernel: its scatter-add takes 2.3 ms for 65,536
    samples in a tf.function on a CPU, its bincount 0.4 ms.
    """
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        weights = tf.zeros([0], x.dtype) if updates is None else tf.cast(updates, x.dtype)
        return x + tf.raw_ops.DenseBincount(input=indices, size=x.shape[0], weights=weights)
    if updates is None:
        updates = keras.ops.ones(keras.ops.shape(indices), dtype=x.dtype)
    return scatter_add(x, indices, updates)


def add_codes(variable, codes, *, dense: bool, scores=None):
    """Add the histogram of the 1-D int32 ``codes`` (each below ``size - 1``) to the
    int32 ``variable`` of ``size`` cells, and their number to its last cell: in place
    where its storage allows (`in_place_tensor`), else by assignment. ``dense``: one
    bincount of the whole state (small states); else a scatter-add at the codes, O(N).

    Under XLA on a CPU (`one_thread_codes`, given the batch's ``scores``) the number
    rides in the same scatter, as the update of the codes buffer's extra cell."""
    name = backend()
    size = variable.shape[0]
    state = in_place_tensor(variable)
    indices = None if scores is None else one_thread_codes(codes, size - 1, scores)
    if indices is not None:
        n = codes.shape[0]
        if name == "tensorflow" and state is not None:
            import tensorflow as tf

            state.scatter_nd_add(indices, tf.concat(
                [tf.ones([n], tf.int32), tf.constant([n], tf.int32)], 0))
            return
        if name == "jax":
            variable.assign(xla_cpu_add_codes(variable.value, indices))
            return
    n = keras.ops.cast(keras.ops.shape(codes)[0], "int32")
    if name == "tensorflow" and state is not None:
        import tensorflow as tf

        n = tf.reshape(n, [1])
        if dense:
            state.assign_add(tf.concat([tf.raw_ops.DenseBincount(
                input=codes, size=size - 1, weights=tf.zeros([0], tf.int32)), n], 0))
        else:
            ones = tf.ones(tf.shape(codes), tf.int32)
            state.scatter_add(tf.IndexedSlices(tf.concat([ones, n], 0),
                                               tf.concat([codes, [size - 1]], 0)))
        return
    if name == "torch" and state is not None:
        import torch

        codes = codes.to(state.device)
        if dense:
            state.add_(torch.bincount(codes, minlength=size))
        else:
            state.index_add_(0, codes.long(), torch.ones(
                (), dtype=state.dtype, device=state.device).expand(codes.shape[0]))
        state[-1:].add_(n.to(state.device))
        return
    value = variable.value
    if dense:
        value = value + keras.ops.cast(bincount(codes, None, size), "int32")
    else:
        value = scatter_add(value, codes, keras.ops.ones(keras.ops.shape(codes), dtype="int32"))
    variable.assign(_add_to_last(value, n))


def _add_to_last(x, n):
    """The 1-D ``x`` with the scalar ``n`` added to its last cell (in place under XLA)."""
    name = backend()
    if name == "jax":
        return x.at[-1].add(n)
    if name == "tensorflow":
        import tensorflow as tf

        return tf.tensor_scatter_nd_add(x, [[x.shape[0] - 1]], tf.reshape(n, [1]))
    return keras.ops.concatenate([x[:-1], x[-1:] + keras.ops.reshape(n, (1,))])


def _private_keras(module: str, name: str):
    """A private Keras function (Keras has no public one), looked up once; None when
    this Keras moved it. Imported at every call, these cost about 1 us each, a
    measurable part of an eager torch update of 8,192 samples (`eager_torch`)."""
    key = (module, name)
    if key not in _PRIVATE:
        try:
            _PRIVATE[key] = getattr(__import__(module, fromlist=[name]), name)
        except (ImportError, AttributeError):
            _PRIVATE[key] = None
    return _PRIVATE[key]


_PRIVATE = {}


def _in_stateless_scope() -> bool:
    """Whether a ``keras.StatelessScope`` is active (Keras has no public test for it)."""
    test = _private_keras("keras.src.backend.common.stateless_scope", "in_stateless_scope")
    return True if test is None else bool(test())  # moved: never update in place


# The backends whose variables `in_place_tensor` may return.
IN_PLACE_BACKENDS = ("tensorflow", "torch")


def in_place_tensor(variable):
    """What holds ``variable`` when it may be updated in place (a torch tensor or a
    ``tf.Variable``), else None.

    Only when ``variable.value`` is the variable's own storage: not inside a
    ``keras.StatelessScope`` (whose values belong to the caller), not an autocast copy.
    Torch: eagerly, not a tensor that requires grad, not on the "meta" device.
    TensorFlow: eagerly or in a tf.function, outside a ``tf.distribute`` strategy
    (whose replicas' variables take the functional path). A functional update of a
    million-cell state copies it several times per batch (about 1 ms each on a CPU);
    an in-place one touches only the cells of the batch.
    """
    name = backend()
    if name not in IN_PLACE_BACKENDS or _in_stateless_scope():
        return None
    value = variable.value
    if name == "tensorflow":
        import tensorflow as tf

        if tf.distribute.has_strategy() or value is not getattr(variable, "_value", None):
            return None
        return value if isinstance(value, tf.Variable) else None
    if value is not getattr(variable, "_value", None) or not has_value(value):
        return None
    if value.requires_grad:
        return None
    return value


def keras_mask(x):
    """The Keras mask attached to ``x`` (a ``Masking`` or ``Embedding(mask_zero=True)``
    upstream: True where a sample counts), or None.

    Keras keeps it with the tensor and its own losses read it there; it has no public
    accessor, so this reads the private one and falls back to the attribute.
    """
    get_keras_mask = _private_keras("keras.src.backend", "get_keras_mask")
    if get_keras_mask is None:  # a Keras that moved it
        return getattr(x, "_keras_mask", None)
    return get_keras_mask(x)


def has_value(x) -> bool:
    """True when ``x`` holds readable values: not traced, and not on torch's "meta"
    device, where Keras builds torch models symbolically before the first step."""
    if is_symbolic(x):
        return False
    return not bool(getattr(x, "is_meta", False))


# The submodules import the shims above.
from keras_confusion._backend.compensated import (  # noqa: E402
    carry_counts,
    compensated_add_,
    two_sum,
)
from keras_confusion._backend.distribution import (  # noqa: E402
    replica_loss_share,
    replica_sum,
)
from keras_confusion._backend.kernels import (  # noqa: E402
    fused,
    numpy_row_argmax,
    one_thread_codes,
    row_argmax,
    xla_cpu_add_codes,
)

__all__ = [
    "IN_PLACE_BACKENDS", "add_codes", "add_counts", "backend", "bincount", "carry_counts",
    "clip", "compensated_add_", "constant",
    "cumsum", "fused", "has_float64", "has_value", "in_place_tensor", "is_symbolic",
    "keras_mask", "numpy_row_argmax",
    "replica_loss_share", "replica_sum", "row_argmax",
    "scatter_add", "take", "two_sum",
]
