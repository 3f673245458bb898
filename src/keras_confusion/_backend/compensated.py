"""Exact counts in a compensated float32 pair ``hi + lo`` (TwoSum), written once.

float32 is the one float every backend and device has, and a float32 count stops
growing at 2**24; the pair is exact for integer counts: ``lo`` holds what ``hi`` cannot.
Unweighted counts are kept in int32 (`carry_counts` moves them into the pair before a
cell could overflow); weighted ones are added to the pair batch by batch.
"""

from __future__ import annotations

import keras

from keras_confusion._backend import add_counts, backend, in_place_tensor


def two_sum(a, b):
    """``a + b`` as ``(s, err)`` with ``s + err`` exact (Knuth's TwoSum, no branch)."""
    s = a + b
    b_virtual = s - a
    err = (a - (s - b_virtual)) + (b - b_virtual)
    return s, err


def carried(hi, lo, counts):
    """``(hi, lo)`` with the int32 ``counts`` (>= 0) added exactly.

    ``counts`` is split into a multiple of 256 (at most 23 significant bits) and the
    rest, each a float32 exactly. While a cell stays below 2**47, ``lo`` and the
    rounding error of ``hi + top`` are integers of at most 2**22, so ``lo + err + rest``
    is exact too, and a last TwoSum renormalises the pair.
    """
    top = (counts // 256) * 256  # the tensors' own operators keep torch's device
    rest = keras.ops.cast(counts - top, "float32")
    s, err = two_sum(hi, keras.ops.cast(top, "float32"))
    return two_sum(s, lo + err + rest)


def carry_counts(counts, pair, *, full):
    """Where the scalar ``full`` is true: ``pair[0] + pair[1] += counts[:-1]`` (the
    cells and the invalid tally), then ``counts`` zeroed, its last cell (the samples
    added since the last carry) too. Keras variables.

    Rare (once per 2**31 samples), so conditional: in place on a ``tf.Variable`` (in a
    loop run at most once) and on an eager torch tensor on a CPU; a loop run at most
    once on JAX; a conditional over the values in ``tf.distribute`` replicas; a select
    on torch elsewhere (another device, compiled)."""
    name = backend()
    states = [in_place_tensor(v) for v in (counts, pair)]
    if name == "tensorflow" and all(s is not None for s in states):
        import tensorflow as tf

        c, p = states

        def carry():
            s, err = carried(p[0], p[1], c[:-1])
            p.assign(tf.stack([s, err]))
            c.assign(tf.zeros_like(c))
            return tf.constant(True)

        # A loop run zero times or once, not a cond, as on JAX: under XLA
        # (``jit_compile=True``) the conditional copied the state at every step
        # (ThresholdConfusion(10000), 20,003 cells, at 8,192 scores: ours / bare 0.50
        # with the cond, 0.62 with the loop; a plain graph reads the same either way).
        tf.while_loop(lambda go: go, lambda go: (tf.logical_not(carry()),),
                      (tf.convert_to_tensor(full),))
        return
    if name == "torch" and all(s is not None for s in states) and states[0].device.type == "cpu":
        if bool(full):
            c, p = states
            s, err = carried(p[0], p[1], c[:-1])
            p[0].copy_(s)
            p[1].copy_(err)
            c.zero_()
        return
    ops = keras.ops
    c, p = counts.value, pair.value
    if name == "torch":
        # No value to branch on (Keras' symbolic build on the "meta" device, or inside
        # torch.compile), or a device to wait for: a select over the state instead.
        new = (ops.where(full, 0, c), ops.where(full, ops.stack(carried(p[0], p[1], c[:-1])), p))
    elif name == "jax":
        import jax

        # A loop run zero times or once, not a cond: XLA's conditional copied the whole
        # state at every step (a 1,000-class matrix, a million cells: 42 M samples/s
        # against 462 M/s for the loop, which updates its state in place).
        def carry(state):
            c, p, _ = state
            return ops.zeros_like(c), ops.stack(carried(p[0], p[1], c[:-1])), \
                jax.numpy.zeros((), "bool")

        new = jax.lax.while_loop(lambda state: state[2], carry, (c, p, full))[:2]
    else:
        new = ops.cond(full, lambda: (ops.zeros_like(c), ops.stack(carried(p[0], p[1], c[:-1]))),
                       lambda: (c, p))
    counts.assign(new[0])
    pair.assign(new[1])


def compensated_add_(pair, indices, updates, *, dense: bool):
    """In place: add ``updates`` at ``indices`` into the pair ``pair[0] + pair[1]``
    (from `in_place_tensor`), then renormalise with `two_sum`: every cell when
    ``dense``, else only the touched ones. Used on TensorFlow and on torch for weighted
    batches."""
    if backend() == "tensorflow":
        import tensorflow as tf

        if dense:
            s, err = two_sum(pair[0], add_counts(pair[1], indices, updates))
            pair.assign(tf.stack([s, err]))
            return
        at_hi = tf.stack([tf.zeros_like(indices), indices], axis=1)
        at_lo = tf.stack([tf.ones_like(indices), indices], axis=1)
        pair.scatter_nd_add(at_lo, tf.cast(updates, pair.dtype))
        # The duplicates of an index all compute the same pair: writing it back is safe.
        now = tf.convert_to_tensor(pair)  # read after the add (XLA gathers no variable)
        s, err = two_sum(tf.gather_nd(now, at_hi), tf.gather_nd(now, at_lo))
        pair.scatter_nd_update(at_hi, s)
        pair.scatter_nd_update(at_lo, err)
        return
    hi, lo = pair[0], pair[1]  # views of the pair's storage
    indices = indices.long().to(lo.device)
    lo.index_add_(0, indices, updates.to(lo.device, lo.dtype))
    if dense:
        s, err = two_sum(hi, lo)
        hi.copy_(s)
        lo.copy_(err)
    else:
        # The duplicates of an index all compute the same pair: writing it back is safe.
        # index_select / index_copy_ rather than indexing: on a CPU, torch runs
        # ``hi[indices]`` on its OpenMP threads, which then spin for milliseconds on
        # the cores that the next batch's NumPy argmax needs (`_numpy_rows`).
        s, err = two_sum(hi.index_select(0, indices), lo.index_select(0, indices))
        hi.index_copy_(0, indices, s)
        lo.index_copy_(0, indices, err)
