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


def row_argmax(x):
    """``(argmax, finite)`` of each row of ``(N, K)`` scores: the first index of the
    row's maximum (int32) and whether every score of the row is finite.

    On an accelerator this is each backend's own argmax. On a CPU every backend has
    a slow argmax, measured on an ``(8192, 1000)`` float32 batch
    (benchmarks/bench_counting.py): XLA's (JAX) takes 16 ms where its max takes 0.8 ms,
    torch's 9 ms and TensorFlow's 3.7 ms where NumPy's takes 2 ms. There:

    - XLA on CPU (JAX, and TensorFlow under ``jit_compile=True``), from 28 classes:
      the argmax is rebuilt from fast reductions (`_xla_cpu_argmax`).
    - torch eager, and TensorFlow in a plain graph or eagerly, on a machine with CPUs
      only, from 64 classes: NumPy's argmax of the same memory (no copy), on as many
      threads as the backend's own ops use (`_numpy_rows`); TensorFlow's graph calls
      it through ``tf.numpy_function`` (`_tf_numpy_argmax`).

    Finiteness comes from one sum (of the whole batch on JAX, and on torch below 64
    classes; else of each row), checked row by row, then exactly, only where it is not
    finite.

    Each backend's own argmax is called, not ``keras.ops.argmax``: on a CPU that one
    ranks -0.0 below 0.0 (and not on a GPU), where NumPy and scikit-learn see a tie
    and take the first. Rows with a NaN or an infinite score get an arbitrary index;
    callers use ``finite`` to leave them out.
    """
    name = backend()
    shape = tuple(x.shape)
    if name == "jax":
        import jax
        from jax import numpy as jnp

        dtype = keras.backend.standardize_dtype(x.dtype)
        # XLA's own argmax is the faster up to 27 classes (65,536 rows: 0.93 ms against
        # 1.26 ms at 27) and 3x slower from 28 (3.9 ms against 1.3 ms).
        if jax.default_backend() == "cpu" and len(shape) == 2 and 28 <= shape[-1] < 2 ** 24 \
                and dtype in ("float16", "bfloat16", "float32"):
            return _xla_cpu_argmax(x.astype("float32"))
        return jnp.argmax(x, axis=-1).astype("int32"), _finite_rows(x)
    if name == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        if _tf_argmax_by_numpy(x):
            return _tf_numpy_argmax(x)
        if len(shape) == 2 and _tf_cpu_only() and _tf_in_xla() is True \
                and 28 <= shape[-1] < 2 ** 24 and x.dtype in (tf.float16, tf.bfloat16, tf.float32):
            return _xla_cpu_argmax(tf.cast(x, tf.float32), finite_in_min=True)
        return tf.math.argmax(x, axis=-1, output_type=tf.int32), _finite_rows(x)
    if name == "torch":
        import torch

        if has_value(x) and x.device.type == "cpu" and len(shape) == 2 \
                and x.dtype in (torch.float32, torch.float64):
            return _torch_cpu_argmax(x)
        return torch.argmax(x, dim=-1).int(), torch.isfinite(x).all(dim=-1)
    x = keras.ops.convert_to_tensor(x)
    index = keras.ops.cast(keras.ops.argmax(x, axis=-1), "int32")
    return index, keras.ops.all(keras.ops.isfinite(x), axis=-1)


def _tf_cpu_only() -> bool:
    """Whether TensorFlow has only CPUs to run on (no GPU or TPU)."""
    import tensorflow as tf

    return all(d.device_type == "CPU" for d in tf.config.list_logical_devices())


def _tf_in_xla():
    """Whether TensorFlow is tracing for XLA (``jit_compile=True``), or None when this
    TensorFlow cannot tell (the check is a private function that may move)."""
    import tensorflow as tf

    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # TensorFlow's own argmax then: slower but exact
        return None
    return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))


def _tf_plain_cpu() -> bool:
    """Whether TensorFlow runs the step here as it is: not traced for XLA, on a machine
    with CPUs only, in this process (no parameter-server strategy)."""
    return _tf_in_xla() is False and _tf_cpu_only() and not _tf_remote_workers()


def _tf_fuses() -> bool:
    """Whether `fused` compiles on TensorFlow: while tracing a plain graph."""
    import tensorflow as tf

    return not tf.executing_eagerly() and _tf_plain_cpu()


# Below this many values, a batch's TensorFlow ops cost less than an XLA kernel's launch.
_FUSED_MIN_SIZE = 1 << 14


def fused(fn, x):
    """``fn()``, a function of the tensors it closes over (elementwise work and
    reductions: no state, no Python callbacks), as one XLA kernel where that pays;
    ``x`` is the batch tensor whose size measures the work.

    That is TensorFlow in a plain graph (Keras' ``jit_compile="auto"`` on a machine
    with CPUs only): every TensorFlow op on a batch is a kernel launch and a pass over
    memory, and the ~20 ops that turn a batch into cell codes cost more than the
    counting. Compiled with XLA they are one pass, while the counting itself stays
    TensorFlow's own ``DenseBincount``, faster there than XLA's scatter. Measured at
    65,536 scores and 10,000 thresholds (2 cores): codes 0.14 ms against 0.63 ms, the
    whole update 0.64 ms against 1.13 ms. XLA compiles the kernel once per batch shape.
    Launching it costs about 0.1 ms, so batches of fewer than `_FUSED_MIN_SIZE` values
    run as TensorFlow ops (decided when tracing where the size is known, by a
    ``tf.cond`` where it is not).

    Elsewhere ``fn()`` runs as it is: eagerly (a kernel per call would be compiled
    anew), under XLA already (JAX, ``jit_compile=True``), on GPUs and TPUs, and
    with a parameter-server strategy (the step may run on another machine).
    """
    if backend() == "tensorflow" and _tf_fuses():
        import tensorflow as tf

        kernel = tf.function(fn, jit_compile=True, autograph=False)
        size = tf.TensorShape(x.shape).num_elements()
        if size is not None:
            return kernel() if size >= _FUSED_MIN_SIZE else fn()
        return tf.cond(tf.size(x) >= _FUSED_MIN_SIZE, kernel, fn)
    return fn()


def argmax_by_numpy(x) -> bool:
    """Whether `row_argmax` of ``x`` calls NumPy (TensorFlow in a plain graph, 64
    classes and up): such an argmax cannot be part of a `fused` kernel."""
    return backend() == "tensorflow" and _tf_argmax_by_numpy(x)


def _tf_argmax_by_numpy(x) -> bool:
    return (len(x.shape) == 2 and x.shape[-1] is not None and x.shape[-1] >= 64
            and keras.backend.standardize_dtype(x.dtype) in ("float32", "float64")
            and _tf_plain_cpu())


def _tf_remote_workers() -> bool:
    """Whether steps may run in other processes (a parameter-server strategy), where a
    graph cannot call back into this process's Python."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
    return strategy is not None and "ParameterServer" in type(strategy).__name__


def _tf_numpy_argmax(x):
    """Row argmax and finiteness of a float TensorFlow ``(N, K)`` batch on the CPU, by
    NumPy (`_numpy_argmax`) from inside the graph.

    TensorFlow's CPU argmax and row sum take 3.7 ms and 1.5 ms on an (8,192, 1,000)
    float32 batch (2 cores); this takes 3.2 ms, the call into Python included. It is
    used only in a plain graph or eagerly on a machine with CPUs only: XLA cannot call
    Python, and a GPU's scores would be copied to the host.
    """
    import tensorflow as tf

    if tf.executing_eagerly():
        index, finite = _numpy_argmax(x.numpy(), _cpu_threads())
        return tf.convert_to_tensor(index), tf.convert_to_tensor(finite)
    index, finite = tf.numpy_function(lambda a: _numpy_argmax(a, _cpu_threads()), [x],
                                      [tf.int32, tf.bool], stateful=False,
                                      name="keras_confusion_row_argmax")
    index.set_shape(x.shape[:1])
    finite.set_shape(x.shape[:1])
    return index, finite


def _cpu_threads() -> int:
    """The cores this process may run on (TensorFlow sizes its CPU thread pool so)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _xla_cpu_argmax(x, finite_in_min: bool = False):
    """Row argmax and finiteness of float32 ``(N, K)`` from min- and max-reductions
    only (XLA on CPU).

    XLA vectorises a max over a fused elementwise expression but not its argmax (a
    reduction of (value, index) pairs). With ``m`` the row maximum, the first maximum
    is ``min_j((m - a_j) * 2**108 + j)``: the term is exactly ``j`` where ``a_j == m``
    and at least ``2**24 > K`` everywhere else.

    Exactness: every float32 is a multiple of 2**-149. When ``|m| >= 2**-60``, a score
    different from ``m`` differs from it by at least 2**-84, so ``(m - a) * 2**108 >=
    2**24`` (an overflow to inf only makes it larger). Rows with a smaller maximum
    (all-zero rows included) are first scaled by 2**64 (exact), after which any two
    distinct scores differ by at least 2**-85; that costs an extra multiply per
    score, so it runs only for batches that have such a row. No difference is
    subnormal, so flushing subnormal results to zero (as XLA on CPU does) cannot
    create a false tie; ``j`` is exact in float32 for ``K < 2**24``. Subnormal scores
    themselves read as zero on XLA's CPU, as they do for its own argmax. -0.0 and 0.0
    tie, and the first is taken, as in NumPy. Written with ``keras.ops`` for JAX and
    TensorFlow's XLA alike.

    Finiteness: ``finite_in_min`` (TensorFlow) makes every score that is not finite
    (``|a| < inf`` is false for NaN and +-inf) a term of -1, so a row's minimum is
    negative exactly when it has such a score: two passes over the scores instead of
    three (`_finite_rows` is a third). TensorFlow's XLA gains by it: at 8,192 x 1,000,
    a ``jit_compile`` update of `ConfusionMatrix` over four batches in turn took 6.6
    ms against 8.3 ms (2 cores). JAX's loses: the select stops its XLA from
    vectorising the minimum (argmax 7.2 ms against 2.9 ms), so JAX uses `_finite_rows`.
    """
    k = x.shape[-1]
    top = keras.ops.max(x, axis=-1, keepdims=True)
    column = keras.ops.arange(k, dtype="float32")
    big = 2.0 ** 108

    def first_max(gap):
        term = gap * big + column
        if finite_in_min:
            term = keras.ops.where(keras.ops.abs(x) < np.inf, term, -1.0)
        return keras.ops.min(term, axis=-1)

    def scaled():
        scale = keras.ops.cast(keras.ops.where(keras.ops.abs(top) < 2.0 ** -60, 2.0 ** 64, 1.0),
                               "float32")
        return first_max(top * scale - x * scale)

    tiny = keras.ops.any(keras.ops.abs(top) < 2.0 ** -60)
    first = keras.ops.cond(tiny, scaled, lambda: first_max(top - x))
    # Rows with a NaN or an inf get an arbitrary index in range; ``finite`` marks them.
    if finite_in_min:
        # NaN when XLA's minimum propagates a NaN (its vectorised one drops them).
        finite = first >= 0
        return keras.ops.cast(keras.ops.where(finite & (first < k), first, 0.0), "int32"), finite
    index = keras.ops.cast(keras.ops.where(first < k, first, 0.0), "int32")
    # XLA's vectorised max and min drop NaNs, so finiteness is not read from them.
    return index, _finite_rows(x)


def _finite_rows(x):
    """Whether every score of each row of ``x`` is finite, compiled (JAX, TensorFlow).

    A row sum is finite iff every score is, except when large finite scores overflow:
    only a batch with a non-finite sum pays for the exact check (TensorFlow at 8,192 x
    1,000: 1.7 ms against 2.7 ms). On JAX the sum of the whole batch comes first, and
    only a batch whose sum is not finite sums its rows: XLA vectorises that sum where
    it does not a sum per row of a few classes (65,536 x 10: 0.11 ms against 0.29 ms;
    x 27: 0.23 ms against 0.55 ms for ``all(isfinite)``; a jitted ConfusionMatrix
    update at 10 and 40 classes: 0.52 and 1.85 ms against 0.75 and 2.15 ms). From 64
    classes the row sums are as fast (1,000: 4.77 against 4.68 ms per update), and
    TensorFlow's XLA is slower with the batch's sum from 40 classes (1.6 ms against
    1.2 ms): both keep the row sums.
    """
    def by_rows():
        sums_finite = keras.ops.isfinite(keras.ops.sum(x, axis=-1))
        return keras.ops.cond(keras.ops.all(sums_finite), lambda: sums_finite,
                              lambda: keras.ops.all(keras.ops.isfinite(x), axis=-1))

    if backend() != "jax" or x.shape[-1] is None or x.shape[-1] >= 64:
        return by_rows()
    return keras.ops.cond(keras.ops.isfinite(keras.ops.sum(x)),
                          lambda: keras.ops.ones(keras.ops.shape(x)[:1], dtype="bool"), by_rows)


def _torch_cpu_argmax(x):
    """Row argmax and finiteness of an eager CPU torch tensor."""
    import torch

    x = x.detach()
    # NumPy's argmax against torch.max at 65,536 rows: slower at 10 and 40 classes,
    # faster at 64 and 100.
    if x.shape[-1] >= 64:
        # In NumPy throughout: a torch op on this many values would start torch's
        # OpenMP threads, which then spin on the cores the next batch's argmax needs.
        index, finite = _numpy_argmax(x.numpy(), torch.get_num_threads())
        return torch.from_numpy(index), torch.from_numpy(finite)
    # torch.max returns the first maximum's index, as argmax does, in 0.7x its time
    # (65,536 x 10: 1.3 ms against 1.8 ms).
    index = torch.max(x, dim=-1).indices.int()
    # The batch's sum is finite when every score is: one vectorised pass (65,536 x 10:
    # 0.08 ms, where row sums take 0.63 ms). In a batch whose sum is not, a row sum is
    # finite when every score of the row is, and the rare rows whose sum is not (a NaN,
    # an inf, or an overflow of large finite scores) are checked exactly.
    if bool(torch.isfinite(x.sum())):
        return index, torch.ones(x.shape[:1], dtype=torch.bool)
    finite = torch.isfinite(x.sum(dim=-1))
    if not bool(finite.all()):
        rows = torch.nonzero(~finite)[:, 0]
        finite[rows] = torch.isfinite(x[rows]).all(dim=-1)
    return index, finite


def numpy_row_argmax(a):
    """`row_argmax` of a 2-D NumPy array, in NumPy (its own dtype, one thread)."""
    return _numpy_argmax(np.asarray(a), 1)


def _numpy_argmax(a, threads: int):
    """Row argmax (int32) and finiteness (bool) of a 2-D NumPy array (`_numpy_rows`).

    A row sum is finite when every score is; the rare rows whose sum is not (a NaN,
    an inf, or an overflow of large finite scores) are checked exactly.
    """
    index, sums = _numpy_rows(a, threads)
    finite = np.isfinite(sums)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        finite[rows] = np.isfinite(a[rows]).all(axis=-1)
    return index, finite


_POOL = None  # (process id, workers, thread pool) for `_numpy_rows`


def _numpy_rows(a, threads: int):
    """Row argmax (int32) and row sums of a 2-D NumPy array, on up to ``threads`` threads.

    One read of the scores: they are taken in blocks of about 2 MB, and each block's
    sums are computed while it is still in cache. NumPy's argmax and einsum run on one
    core and release the GIL, so large batches are split between threads, as many as
    the calling backend runs its own ops on. Measured on an
    (8,192, 1,000) float32 batch on 2 cores: 2.0 ms, where NumPy's argmax and torch's
    sum take 1.9 ms + 0.9 ms run apart and 4.9 ms one after the other (torch's idle
    OpenMP threads spin on the core the argmax needs).
    """
    global _POOL
    n, k = a.shape
    index = np.empty(n, np.intp)
    sums = np.empty(n, a.dtype)
    rows = max(1, (1 << 19) // max(k, 1))

    def part(lo, hi):
        for i in range(lo, hi, rows):
            j = min(i + rows, hi)
            np.argmax(a[i:j], axis=-1, out=index[i:j])
            np.einsum("ij->i", a[i:j], out=sums[i:j])

    threads = min(threads, -(-n // rows))
    if threads < 2:
        part(0, n)
    else:
        import os
        from concurrent.futures import ThreadPoolExecutor

        # A pool made before a fork has no threads in the child: make a fresh one there.
        if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] < threads - 1:
            _POOL = (os.getpid(), threads - 1,
                     ThreadPoolExecutor(threads - 1, "keras_confusion_rows"))
        bounds = [n * t // threads for t in range(threads + 1)]
        pending = [_POOL[2].submit(part, bounds[t], bounds[t + 1]) for t in range(1, threads)]
        part(0, bounds[1])
        for done in pending:
            done.result()
    return index.astype("int32"), sums


def _in_stateless_scope() -> bool:
    """Whether a ``keras.StatelessScope`` is active (Keras has no public test for it)."""
    try:
        from keras.src.backend.common.stateless_scope import in_stateless_scope
    except ImportError:  # a Keras that moved it: never update in place
        return True
    return bool(in_stateless_scope())


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


def compensated_add_(hi, lo, indices, updates, two_sum, *, dense: bool, pending=None,
                     renorm_at: float = 0.0):
    """In place: add ``updates`` (None: ones) at ``indices`` into the pair ``hi + lo``
    (from `in_place_tensor`), then renormalise with ``two_sum``: every cell when
    ``dense``, else only the touched ones.

    ``pending`` (a scalar from `in_place_tensor`, with a sparse state): the number of
    samples added to ``lo`` since every cell was last renormalised, or -1 once a
    weighted batch has come. Then an unweighted batch is only added to ``lo`` (its
    cells stay exact integers below 2**24 while fewer than ``renorm_at`` samples are
    pending) and every cell is renormalised once ``renorm_at`` are: that saves two
    gathers and two scatters per batch on a large state. A weighted batch renormalises
    its own cells, as without ``pending``, after renormalising every cell once if any
    samples were pending (a fraction added to a large ``lo`` would round); an
    unweighted batch after a weighted one renormalises every cell (slower, and rare:
    Keras passes weights with every batch of a data set or with none).
    Used on TensorFlow outside XLA and on torch's CPU. Elsewhere ``pending`` is left
    as it is: under XLA, the conditional whole-state renormalisation would copy the
    state every batch (1,000 classes, TensorFlow jit_compile: 1.4x torchmetrics instead
    of 1.8x), and on a GPU, reading ``pending`` would wait for the device.
    """
    if backend() == "tensorflow":
        import tensorflow as tf

        if dense:
            s, err = two_sum(tf.convert_to_tensor(hi), add_counts(lo, indices, updates))
            hi.assign(s)
            lo.assign(err)
            return

        def renormalise_all():
            s, err = two_sum(tf.convert_to_tensor(hi), tf.convert_to_tensor(lo))
            hi.assign(s)
            lo.assign(err)
            return tf.constant(True)

        def unchanged():
            return tf.constant(False)

        if pending is not None and _tf_in_xla() is False:
            waiting = tf.convert_to_tensor(pending)
            if updates is None:
                lo.scatter_add(tf.IndexedSlices(tf.ones(tf.shape(indices), lo.dtype), indices))
                n = tf.cast(tf.shape(indices)[0], pending.dtype)
                full = (waiting < 0) | (waiting + n >= renorm_at)
                pending.assign(tf.where(waiting < 0, waiting,
                                        tf.where(full, tf.zeros_like(n), waiting + n)))
                tf.cond(full, renormalise_all, unchanged)
                return
            tf.cond(waiting > 0, renormalise_all, unchanged)
            pending.assign(-tf.ones_like(waiting))
        if updates is None:
            updates = tf.ones(tf.shape(indices), lo.dtype)
        lo.scatter_add(tf.IndexedSlices(tf.cast(updates, lo.dtype), indices))
        # The duplicates of an index all compute the same pair: writing it back is safe.
        s, err = two_sum(tf.gather(hi, indices), tf.gather(lo, indices))
        hi.scatter_update(tf.IndexedSlices(s, indices))
        lo.scatter_update(tf.IndexedSlices(err, indices))
        return
    import torch

    def renormalise_all_():
        s, err = two_sum(hi, lo)
        hi.copy_(s)
        lo.copy_(err)

    indices = indices.long().to(lo.device)
    waiting = None
    if not dense and pending is not None and lo.device.type == "cpu":
        waiting = float(pending)
        if updates is not None:
            if waiting > 0:
                renormalise_all_()
            pending.fill_(-1.0)
            waiting = None  # this batch: every touched cell, as below
    if updates is None:
        updates = torch.ones((), dtype=lo.dtype, device=lo.device).expand(indices.shape[0])
    lo.index_add_(0, indices, updates.to(lo.device, lo.dtype))
    if waiting is not None:
        n = indices.shape[0]
        if waiting < 0 or waiting + n >= renorm_at:
            renormalise_all_()
            pending.fill_(waiting if waiting < 0 else 0.0)
        else:
            pending.fill_(waiting + n)
    elif dense:
        renormalise_all_()
    else:
        # The duplicates of an index all compute the same pair: writing it back is safe.
        # index_select / index_copy_ rather than indexing: on a CPU, torch runs
        # ``hi[indices]`` on its OpenMP threads, which then spin for milliseconds on
        # the cores that the next batch's NumPy argmax needs (`_numpy_rows`).
        s, err = two_sum(hi.index_select(0, indices), lo.index_select(0, indices))
        hi.index_copy_(0, indices, s)
        lo.index_copy_(0, indices, err)


def keras_mask(x):
    """The Keras mask attached to ``x`` (a ``Masking`` or ``Embedding(mask_zero=True)``
    upstream: True where a sample counts), or None.

    Keras keeps it with the tensor and its own losses read it there; it has no public
    accessor, so this reads the private one and falls back to the attribute.
    """
    try:
        from keras.src.backend import get_keras_mask
    except ImportError:  # a Keras that moved it
        return getattr(x, "_keras_mask", None)
    return get_keras_mask(x)


def has_value(x) -> bool:
    """True when ``x`` holds readable values: not traced, and not on torch's "meta"
    device, where Keras builds torch models symbolically before the first step."""
    if is_symbolic(x):
        return False
    return not bool(getattr(x, "is_meta", False))


# ------------------------------------------------------------ data-parallel training
#
# A loss over confusion counts is not a mean of per-sample losses: F-beta of a global
# batch is not the mean of the replicas' F-betas. Counts are therefore summed over the
# replicas before the formula, and each replica returns the share of the global loss
# that makes the framework's gradient aggregation give the global gradient.


def _tf_replica_context():
    """The replica context of a data-parallel TensorFlow step, or None outside one."""
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    # None in a cross-replica context (e.g. Keras' symbolic build inside
    # `strategy.scope()`), where each tensor already holds the whole batch.
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None
    return ctx


def _torch_world_size(x) -> int:
    """Processes of the initialised default torch.distributed group (1 if none)."""
    import torch.distributed as dist

    if getattr(x, "is_meta", False):  # Keras' symbolic build: no data to exchange
        return 1
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size()


def replica_sum(x, *, processes: bool = True):
    """``x`` summed over the replicas of a data-parallel step; differentiable.

    - TensorFlow: inside ``strategy.run`` of a ``tf.distribute`` strategy with more
      than one replica (as in ``model.fit`` under ``MirroredStrategy``), an all-reduce
      whose gradient is itself an all-reduce. Elsewhere ``x`` is returned unchanged.
    - JAX: ``x`` unchanged. Under ``keras.distribution.DataParallel`` the jitted step
      is written for the global batch and XLA inserts the cross-device sums.
    - PyTorch, when ``processes`` is true: with an initialised ``torch.distributed``
      group of more than one process (DDP), ``torch.distributed.nn.all_reduce``, whose
      gradient is also an all-reduce. Every process must then make the same call.

    Args:
        x: a tensor, the same shape on every replica.
        processes: whether to sum over torch.distributed processes. Defaults to `True`.

    Returns:
        The sum of ``x`` over the replicas, on every replica.
    """
    name = backend()
    if name == "tensorflow":
        ctx = _tf_replica_context()
        if ctx is not None:
            import tensorflow as tf

            return ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)
    elif name == "torch" and processes and _torch_world_size(x) > 1:
        import torch.distributed.nn

        return torch.distributed.nn.all_reduce(x)
    return x


def replica_loss_share(loss):
    """The part of a global ``loss`` that one replica returns, for correct gradients.

    When every replica computes the same global ``loss`` from counts summed with
    `replica_sum`, the gradient each replica gets for its own counts is the sum over
    replicas of their upstream gradients (the gradient of an all-reduce), i.e.
    ``R`` times the global one. TensorFlow then sums the replicas' gradients, so each
    replica returns ``loss / R`` (Keras scales its own mean losses the same way).
    DDP averages the processes' gradients instead, which cancels the factor ``R``,
    so on torch the loss is returned whole. JAX has one global step: no scaling.

    Args:
        loss: the global loss, computed identically on every replica.

    Returns:
        ``loss / R`` inside a TensorFlow replica context of ``R > 1`` replicas,
        ``loss`` otherwise.
    """
    if backend() == "tensorflow":
        ctx = _tf_replica_context()
        if ctx is not None:
            return loss / ctx.num_replicas_in_sync
    return loss
