"""CPU kernels: the backends' own ops are slow on a CPU for these, so they are
rebuilt. Each is switched off by setting its `TRICKS` entry to False, which
``benchmarks/bench_counting.py`` does to print its gain."""

from __future__ import annotations

import keras
import numpy as np

from keras_confusion._backend import backend, has_value

#: The CPU tricks in use, each on by default; the benchmark switches them off one at a
#: time to measure its gain. Read when a step is traced (compiled steps keep theirs).
TRICKS = {
    "xla_cpu_argmax": True,  # row argmax from min/max reductions under XLA on a CPU
    "torch_cpu_argmax": True,  # NumPy's argmax (64+ classes) or torch.max, on torch's CPU
    "tf_fused_codes": True,  # cell codes as one XLA kernel inside a plain TF graph
    "torch_eager_update": True,  # eager torch on a CPU counts in torch's own ops
    "xla_cpu_small_argmax": True,  # argmax and finiteness of a few classes (XLA, CPU)
    "xla_cpu_one_thread_codes": True,  # codes of a small batch on one thread (JAX, CPU)
    "tf_cpu_blocked_argmax": True,  # argmax of many classes by blocks (plain TF, CPU)
}


def row_argmax(x):
    """``(argmax, finite)`` of each row of ``(N, K)`` scores: the first index of the
    row's maximum (int32) and whether every score of the row is finite.

    On an accelerator this is each backend's own argmax. On a CPU every backend has
    a slow argmax, measured on an ``(8192, 1000)`` float32 batch
    (benchmarks/bench_counting.py): XLA's (JAX) takes 16 ms where its max takes 0.8 ms,
    torch's 9 ms and TensorFlow's 3.7 ms where NumPy's takes 2 ms. There:

    - XLA on CPU (JAX, and TensorFlow under ``jit_compile=True``), from 28 classes:
      the argmax is rebuilt from fast reductions (`_xla_cpu_argmax`). Below, XLA's own
      argmax also tells finiteness: in the same reduction on JAX (`_xla_small_argmax`),
      through the argmax of the scores made +inf where not finite on TensorFlow, up
      to 16 classes (`_tf_xla_small_argmax`).
    - torch eager on a CPU, from 64 classes: NumPy's argmax of the same memory (no
      copy), on as many threads as torch's own ops use (`_numpy_rows`).
    - TensorFlow outside XLA on a CPU, from `_BLOCKED_MIN_CLASSES` classes (eagerly,
      from `_BLOCKED_EAGER_MIN_SCORES` scores): its own argmax twice over, first of
      the maxima of short blocks of each row, then within the block it picks
      (`_tf_blocked_argmax`). NumPy's argmax, called from the graph through
      ``tf.numpy_function``, gained 3.7 -> 3.2 ms (inside the run-to-run noise) and
      made the update impossible to export in a SavedModel.

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
        cpu = jax.default_backend() == "cpu" and len(shape) == 2 \
            and dtype in ("float16", "bfloat16", "float32")
        if TRICKS["xla_cpu_argmax"] and cpu and 28 <= shape[-1] < 2 ** 24:
            return _xla_cpu_argmax(x.astype("float32"))
        if TRICKS["xla_cpu_small_argmax"] and cpu and shape[-1] is not None \
                and shape[-1] < 28:
            return _xla_small_argmax(x.astype("float32"))
        return jnp.argmax(x, axis=-1).astype("int32"), _finite_rows(x)
    if name == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        if TRICKS["xla_cpu_argmax"] and len(shape) == 2 and _tf_cpu_only() \
                and _tf_in_xla() is True \
                and 28 <= shape[-1] < 2 ** 24 and x.dtype in (tf.float16, tf.bfloat16, tf.float32):
            return _xla_cpu_argmax(tf.cast(x, tf.float32), finite_in_min=True)
        if TRICKS["xla_cpu_small_argmax"] and len(shape) == 2 and shape[-1] is not None \
                and shape[-1] <= _TF_SMALL_MAX and x.dtype.is_floating \
                and _tf_in_xla() is True and _tf_cpu_only():
            return _tf_xla_small_argmax(x)
        block = _argmax_block(shape[-1]) if len(shape) == 2 else None
        if TRICKS["tf_cpu_blocked_argmax"] and block is not None and x.dtype == tf.float32 \
                and _tf_plain_cpu() and (not tf.executing_eagerly() or shape[0] is None
                                         or shape[0] * shape[-1] >= _BLOCKED_EAGER_MIN_SCORES):
            return _tf_blocked_argmax(x, block), _finite_rows(x)
        return tf.math.argmax(x, axis=-1, output_type=tf.int32), _finite_rows(x)
    if name == "torch":
        import torch

        if TRICKS["torch_cpu_argmax"] and has_value(x) and x.device.type == "cpu" \
                and len(shape) == 2 \
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
# From this many classes, TensorFlow's own argmax (a plain graph's) beats the argmax
# inside an XLA kernel, even rebuilt (`_xla_cpu_argmax`): ConfusionMatrix at 8,192 rows,
# fused against not, 11.05 / 6.89 M/s at 40 classes, 8.46 / 5.41 at 100, 2.50 / 2.60
# at 300, 0.95 / 1.40 at 1,000 (interleaved, load 0.5).
_FUSED_MAX_CLASSES = 256


def fused(fn, x, classes=None):
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
    anew), under XLA already (JAX, ``jit_compile=True``), on GPUs and TPUs, with a
    parameter-server strategy (the step may run on another machine), and for the
    argmax of ``classes`` >= `_FUSED_MAX_CLASSES` classes.
    """
    if classes is not None and classes >= _FUSED_MAX_CLASSES:
        return fn()
    if TRICKS["tf_fused_codes"] and backend() == "tensorflow" and _tf_fuses():
        import tensorflow as tf

        kernel = tf.function(fn, jit_compile=True, autograph=False)
        size = tf.TensorShape(x.shape).num_elements()
        if size is not None:
            return kernel() if size >= _FUSED_MIN_SIZE else fn()
        return tf.cond(tf.size(x) >= _FUSED_MIN_SIZE, kernel, fn)
    return fn()


# Up to this many scores behind a batch's codes, `one_thread_codes` keeps their pass on
# one thread.
_ONE_THREAD_MAX = 1 << 16


def one_thread_codes(codes, extra: int, scores):
    """The int32 ``codes`` as ``(n + 1, 1)`` scatter indices whose pass XLA keeps on
    one thread, the last index ``extra`` (`add_codes` counts the samples there); None
    where that does not apply: not under XLA on a CPU (JAX tracing, or TensorFlow
    tracing for ``jit_compile=True``), or ``scores``, the batch's scores the codes come
    from, of unknown size or of more than `_ONE_THREAD_MAX` values. The scores count,
    not the codes: the argmax of many classes is fused into the same pass, which on
    one thread ran at half speed (TensorFlow's XLA, ``ConfusionMatrix(1000)`` at 8,192
    rows: 10.3 ms against 5.9 ms a batch).

    XLA's CPU compiler splits an elementwise pass over the cores when its cost model
    calls it compute bound, that is when it has more operations than bytes. Exact
    threshold codes take about 28 operations per score on JAX and 17 on TensorFlow
    (a float32 score and an int32 label in, an int32 code out: 12 bytes), so the pass
    is split in two; the bare kernel (8 operations) is not. Waking the second thread
    costs more than it saves on all but large batches: ``ThresholdConfusion(200)``,
    jitted on JAX, took 14.7 us on two threads and 12.6 us on one at 8,192 scores (the
    bare kernel: 9.3 us), 32.3 and 20.1 us at 16,384, 85 and 69 us at 65,536, and 142
    and 209 us at 131,072 (where the bare kernel's own pass is split too).
    ``ThresholdConfusion(10000)``: 17.5 and 11.9 us at 8,192, 108 and 105 us at 98,304
    (interleaved, 2 cores).

    The compiler leaves on one thread a pass that may write in place into a buffer:
    one whose last operation is a dynamic-update-slice into an operand. So the codes
    are written, in the indices' own shape, into a buffer made apart (an optimisation
    barrier keeps it from being folded into the pass) whose extra cell holds ``extra``.
    """
    name = backend()
    if not TRICKS["xla_cpu_one_thread_codes"] or name not in ("jax", "tensorflow"):
        return None  # before reading shapes: torch.compile's may be symbolic
    n = codes.shape[0]
    values = int(np.prod(scores.shape)) if None not in tuple(scores.shape) else None
    if n is None or values is None or values > _ONE_THREAD_MAX:
        return None
    if name == "jax":
        import jax
        from jax import lax
        from jax import numpy as jnp

        if not isinstance(codes, jax.core.Tracer) or jax.default_backend() != "cpu":
            return None
        buffer = lax.optimization_barrier(jnp.full((n + 1, 1), extra, dtype="int32"))
        return lax.dynamic_update_slice(buffer, jnp.reshape(codes, (n, 1)), (0, 0))
    if name == "tensorflow" and _tf_in_xla() is True and _tf_cpu_only():
        import tensorflow as tf

        try:
            from tensorflow.compiler.tf2xla.python import xla
        except ImportError:  # a TensorFlow that moved them: the plain histogram
            return None
        buffer, = xla.optimization_barrier(tf.fill([n + 1, 1], tf.constant(extra, tf.int32)))
        return xla.dynamic_update_slice(buffer, tf.reshape(codes, [n, 1]), tf.constant([0, 0]))
    return None


def xla_cpu_add_codes(state, indices):
    """JAX: ``state`` plus the histogram of `one_thread_codes`' ``indices``, whose last
    (extra) cell counts as many as the others together: the last cell of ``state``
    holds the number of samples added. Every index is in range, so the scatter needs
    no clip (``jnp.bincount`` clips at 0)."""
    from jax import lax
    from jax import numpy as jnp

    n = indices.shape[0] - 1
    numbers = lax.ScatterDimensionNumbers(
        update_window_dims=(), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,))
    updates = jnp.concatenate([jnp.ones((n,), state.dtype), jnp.full((1,), n, state.dtype)])
    return lax.scatter_add(state, indices, updates, numbers,
                           mode=lax.GatherScatterMode.PROMISE_IN_BOUNDS)


def _tf_remote_workers() -> bool:
    """Whether steps may run in other processes (a parameter-server strategy), where a
    graph cannot call back into this process's Python."""
    import tensorflow as tf

    strategy = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
    return strategy is not None and "ParameterServer" in type(strategy).__name__


def _xla_small_argmax(x):
    """Row argmax and finiteness of float32 ``(N, K)`` in one reduction (JAX on a CPU,
    under 28 classes, where XLA's own argmax is the faster).

    XLA's argmax is a reduction of (value, index) pairs; a third member, the row's
    minimum, costs little in the same loop, and with the maximum it tells whether the
    row is finite: XLA's minimum propagates NaN, -inf is the minimum and +inf the
    maximum. `_finite_rows` took a pass of its own, and a conditional (`ConfusionMatrix
    (10)` jitted at 8,192 rows: argmax and check 46 us alone, 35 us in one reduction).
    The first of equal maxima is taken (-0.0 and 0.0 tie), as in NumPy; a row that is
    not finite gets an arbitrary index.
    """
    from jax import lax
    from jax import numpy as jnp

    column = lax.broadcasted_iota(jnp.int32, x.shape, 1)

    def pick(a, b):
        (high_a, index_a, low_a), (high_b, index_b, low_b) = a, b
        first = (high_a > high_b) | ((high_a == high_b) & (index_a < index_b))
        return (lax.select(first, high_a, high_b), lax.select(first, index_a, index_b),
                lax.min(low_a, low_b))

    high, index, low = lax.reduce(
        (x, column, x), (np.float32(-np.inf), np.int32(0), np.float32(np.inf)), pick, (1,))
    return index, jnp.isfinite(high) & jnp.isfinite(low)


# Up to this many classes `_tf_xla_small_argmax` is the faster (see there).
_TF_SMALL_MAX = 16


def _tf_xla_small_argmax(x):
    """Row argmax and finiteness of float ``(N, K)`` under TensorFlow's XLA on a CPU,
    ``K <= _TF_SMALL_MAX``, without a pass of its own for finiteness.

    A score that is not finite becomes +inf inside the argmax's own loop (XLA fuses the
    select into the reduction), so a row that has one picks the first such score, and
    the score at the picked index, read back by a gather of one value per row, is finite
    exactly when the whole row is. A finite row's argmax is unchanged. `_finite_rows`
    took a reduction of its own: at 65,536 rows of 10 classes, argmax and check 391-504
    us against 404-417 us here (the argmax alone: 315-330 us); a jit-compiled
    `ConfusionMatrix(10)` update 553 against 502 us at 65,536 rows, 327 against 276 us
    at 8,192 (the bare kernel: 438 and 265 us). Somewhere between 20 classes (still at
    the argmax's speed) and 27, XLA stops vectorising the select's reduction: 1.5 ms
    against 0.45 ms for the argmax alone at 27 classes. The same pair from a custom XLA
    reduction (``variadic_reduce``, as on JAX) ran slower than both: 429 us at 10
    classes.
    """
    import tensorflow as tf

    inf = tf.constant(np.inf, x.dtype)
    index = tf.math.argmax(tf.where(tf.math.is_finite(x), x, inf), axis=-1,
                           output_type=tf.int32)
    return index, tf.math.is_finite(tf.gather(x, index, axis=1, batch_dims=1))


# From this many classes `_tf_blocked_argmax` is the faster (8,192 rows, argmax and row
# sum, its speed over TensorFlow's own argmax's: 256 classes 0.99x, 320 1.11x, 480
# 1.33x, 1,000 1.26x, 2,000 1.30x).
_BLOCKED_MIN_CLASSES = 320
# Eagerly, each of its seven ops costs Python time, about 200 us in all: it takes over
# from this many scores (argmax alone, x 1,000 classes, best of 10 interleaved rounds:
# 1 row 216 us against 15 us, 4,096 rows 1.17 ms against 1.09 ms, 8,192 rows 1.96 ms
# against 2.24 ms). In a graph it costs no more than TensorFlow's own argmax at 1 row.
_BLOCKED_EAGER_MIN_SCORES = 6_000_000
# Its block widths, the first that divides the classes taken: multiples of 8, nearest
# 40 first. TensorFlow's maximum over short rows was slow at other widths (1,000
# classes, argmax and row sum: blocks of 20 took 1.26x the time with TensorFlow's own
# argmax, 25 0.84x, 40 0.79x; 600 classes: 30 1.14x, 40 0.79x).
_ARGMAX_BLOCKS = (40, 32, 48, 56, 64, 24, 72, 80, 88, 96, 104, 112, 120, 128)


def _argmax_block(classes):
    """The block width `_tf_blocked_argmax` takes for ``classes`` classes, or None."""
    if classes is None or classes < _BLOCKED_MIN_CLASSES:
        return None
    return next((b for b in _ARGMAX_BLOCKS if classes % b == 0), None)


def _tf_blocked_argmax(x, block: int):
    """Row argmax (the first index of the maximum, int32) of float32 ``(N, K)`` for
    TensorFlow outside XLA on a CPU, ``K`` a multiple of ``block``, from short argmaxes.

    TensorFlow's argmax of long rows reads about 3 G scores/s here (2 cores) where its
    maximum over rows of 40 reads about 7 G/s. So: the maximum of each block of
    ``block`` scores, the first block holding the largest (an argmax over ``K / block``
    maxima), then the first maximum inside that block (an argmax over ``block``).

    Every score equal to the row's maximum makes its block's maximum equal to it, so
    the first such block holds the row's first maximum, the same index as
    ``tf.math.argmax`` and NumPy (-0.0 and 0.0 tie). A row with a NaN gets some index in
    range; `_finite_rows` leaves it out. 8,192 x 1,000, with the row sum of the check:
    2.50-2.83 ms against 3.16-3.48 ms; a ConfusionMatrix(1000) update 0.73-0.79 ->
    0.90-1.02 of the bare kernel's speed (interleaved, 2 cores). The block is taken by
    a gather along the batch, not by a flat row index: that needs the row count at run
    time and seven ops more (eagerly 609 us in all at 1 row, against 216 us).
    """
    import tensorflow as tf

    x = tf.reshape(x, (-1, x.shape[-1] // block, block))
    first = tf.math.argmax(tf.reduce_max(x, axis=-1), axis=-1, output_type=tf.int32)
    inner = tf.math.argmax(tf.gather(x, first, axis=1, batch_dims=1), axis=-1,
                           output_type=tf.int32)
    return first * block + inner


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


