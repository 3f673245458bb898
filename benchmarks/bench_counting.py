"""Counting speed: the streaming metrics against their anchors, in one process.

Samples per second of

* `ThresholdConfusion(num_thresholds=T)` against `keras.metrics.AUC(num_thresholds=T)`
  on the same backend, torchmetrics' `BinaryPrecisionRecallCurve(thresholds=T)` and a
  NumPy `bincount` floor (bucket, histogram, reverse cumulative sum; no checks), and a
  bare kernel: that bucketing and histogram compiled as ours is, with no checks and no
  exactness. The bare kernel's own ratio to Keras' AUC bounds the ratio any threshold
  counter can reach with that compiler on this machine;
* `ConfusionMatrix(num_classes=K)` against torchmetrics' `MulticlassConfusionMatrix`,
  scikit-learn's `confusion_matrix` and a NumPy floor (argmax and bincount on one core,
  no checks), all given the same scores, so every contender pays for the argmax.

Updates are compiled as Keras compiles them: `jax.jit` of the stateless update on JAX,
eager on torch, and on TensorFlow both ways Keras may choose, one after the other: a
plain `tf.function` (its `jit_compile="auto"` on a CPU-only machine) and
`tf.function(jit_compile=True)` (its choice where a GPU is visible, or on request).
Ratios are printed against the anchors; only ratios measured in the same process are
meaningful.

    KERAS_BACKEND=jax uv run python benchmarks/bench_counting.py [--quick]
    KERAS_BACKEND=tensorflow uv run python benchmarks/bench_counting.py [--tf-mode xla]
        [--part thresholds|multiclass]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np

from keras_confusion import metrics as kcm

BACKEND = keras.backend.backend()
# TensorFlow: whether updates are compiled with XLA (set per pass by `main`).
TF_XLA = False


def _compiled_update(metric):
    """``update(batch_y, batch_p)`` advancing the metric as a compiled Keras step would."""
    if BACKEND == "jax":
        import jax

        step = jax.jit(metric.stateless_update_state, donate_argnums=0)
        state = [v.value for v in metric.variables]

        def update(y, p):
            nonlocal state
            state = step(state, y, p)

        def finish():
            jax.block_until_ready(state)

        return update, finish
    if BACKEND == "tensorflow":
        import tensorflow as tf

        step = tf.function(metric.update_state, jit_compile=TF_XLA)

        def finish():
            metric.variables[0].numpy()

        return step, finish

    def finish():
        keras.ops.convert_to_numpy(metric.variables[0].value)

    return metric.update_state, finish


def _bare_update(t):
    """The bare bucketing kernel compiled as ours is: bucket, histogram into a state,
    no checks, no exactness. It bounds what any threshold counter can reach here."""
    cells = 2 * (t + 1)
    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        @jax.jit
        def step(state, y, p):
            bucket = jnp.floor(p * (t - 1)).astype("int32") + 1
            return state + jnp.bincount(y * (t + 1) + bucket, length=cells)

        state = jnp.zeros(cells, "int32")

        def update(y, p):
            nonlocal state
            state = step(state, y, p)

        return update, lambda: jax.block_until_ready(state)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        state = tf.Variable(tf.zeros(cells, tf.int32))

        @tf.function(jit_compile=TF_XLA)
        def update(y, p):
            bucket = tf.cast(tf.floor(p * (t - 1)), tf.int32) + 1
            state.assign_add(tf.raw_ops.DenseBincount(
                input=y * (t + 1) + bucket, size=cells, weights=tf.zeros([0], tf.int32)))

        return update, state.numpy
    import torch

    state = torch.zeros(cells, dtype=torch.int64)

    def update(y, p):
        bucket = torch.floor(p * (t - 1)).to(torch.int64) + 1
        state.add_(torch.bincount(y * (t + 1) + bucket, minlength=cells))

    return update, lambda: None


def _rates(contenders, budget_s, rounds=5):
    """Best samples per second of each contender over ``rounds`` interleaved rounds.

    ``contenders`` maps a name to ``(update, finish, batches)``. Each round times every
    contender in turn, each for about ``budget_s / rounds`` seconds, so that a slow
    spell of this shared machine hits all of them rather than one; the best round of
    each is kept. A contender whose single batch outlasts a round (torchmetrics' curve
    at 10,000 thresholds) is timed in the first round only.
    """
    slow = set()
    for name, (update, finish, batches) in contenders.items():
        start = time.perf_counter()
        update(*batches[0])  # compile / warm up
        finish()
        if time.perf_counter() - start > budget_s / rounds:
            slow.add(name)
    best = dict.fromkeys(contenders, 0.0)
    for round_ in range(rounds):
        for name, (update, finish, batches) in contenders.items():
            if round_ and name in slow:
                continue
            # A pause first: torch's worker threads keep spinning for a while after its
            # update, and on 2 cores they slowed whichever contender ran next (ours at
            # T=200, batch 8,192 read 0.7x Keras' AUC instead of 1.0x).
            time.sleep(0.2)
            done, start = 0, time.perf_counter()
            for y, p in batches:
                update(y, p)
                done += len(y)
                if time.perf_counter() - start > budget_s / rounds:
                    break
            finish()
            best[name] = max(best[name], done / (time.perf_counter() - start))
    return best


def _batches(y, p, batch, convert):
    # Whole batches only: a last, shorter batch would be compiled inside the timing.
    return [(convert(y[i:i + batch]), convert(p[i:i + batch]))
            for i in range(0, len(y) - batch + 1, batch)]


def _fmt(rate):
    return f"{rate / 1e6:9.2f} M/s"


def bench_thresholds(n, thresholds, batch_sizes, budget):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n).astype("int32")
    p = rng.uniform(0, 1, n).astype("float32")
    import torch
    from torchmetrics.classification import BinaryPrecisionRecallCurve

    for t in thresholds:
        for batch in batch_sizes:
            to_backend = keras.ops.convert_to_tensor
            kb = _batches(y, p, batch, to_backend)
            tm_metric = BinaryPrecisionRecallCurve(thresholds=t)
            state = np.zeros(2 * (t + 1), np.int64)

            def floor(a, b, t=t, state=state):
                bucket = np.floor(b * (t - 1)).astype(np.int64) + 1
                state += np.bincount(a * (t + 1) + bucket, minlength=2 * (t + 1))
                np.cumsum(state[::-1])

            rates = _rates({
                "ours": (*_compiled_update(kcm.ThresholdConfusion(num_thresholds=t)), kb),
                "auc": (*_compiled_update(keras.metrics.AUC(num_thresholds=t)), kb),
                "tm": (lambda a, b, m=tm_metric: m.update(b, a), lambda: None,
                       _batches(y, p, batch, torch.from_numpy)),
                "floor": (floor, lambda: None, _batches(y, p, batch, np.asarray)),
                "bare": (*_bare_update(t), kb),
            }, budget)
            ours, auc, tm, npf, bare = (
                rates[k] for k in ("ours", "auc", "tm", "floor", "bare"))
            print(f"T={t:6d} batch={batch:6d}  ThresholdConfusion {_fmt(ours)}  "
                  f"keras AUC {_fmt(auc)} (x{ours / auc:6.1f})  "
                  f"torchmetrics PRCurve {_fmt(tm)} (x{ours / tm:8.1f})  "
                  f"NumPy floor {_fmt(npf)} (x{ours / npf:5.2f})  "
                  f"bare kernel {_fmt(bare)} (x{ours / bare:5.2f}; "
                  f"itself x{bare / auc:4.1f} Keras)", flush=True)


def bench_multiclass(n, classes, budget):
    import torch
    from sklearn.metrics import confusion_matrix
    from torchmetrics.classification import MulticlassConfusionMatrix

    rng = np.random.default_rng(1)
    for k in classes:
        batch = 65_536 if k <= 100 else 8_192
        # Scores for a few batches, cycled: a (2 M, 1000) array would not fit.
        distinct = 4
        y = rng.integers(0, k, batch * distinct).astype("int32")
        p = rng.normal(size=(batch * distinct, k)).astype("float32")
        reps = max(1, n // (batch * distinct))

        def cycle(convert, y=y, p=p, batch=batch, reps=reps):
            return _batches(y, p, batch, convert) * reps

        tm_metric = MulticlassConfusionMatrix(num_classes=k)
        rates = _rates({
            "ours": (*_compiled_update(kcm.ConfusionMatrix(num_classes=k)),
                     cycle(keras.ops.convert_to_tensor)),
            "tm": (lambda a, b, m=tm_metric: m.update(b, a), lambda: None,
                   cycle(torch.from_numpy)),
            "sk": (lambda a, b, k=k: confusion_matrix(a, b.argmax(-1), labels=range(k)),
                   lambda: None, cycle(np.asarray)),
            "floor": (lambda a, b, k=k: np.bincount(a * k + b.argmax(-1), minlength=k * k),
                      lambda: None, cycle(np.asarray)),
        }, budget)
        ours, tm, sk, npf = (rates[c] for c in ("ours", "tm", "sk", "floor"))
        print(f"K={k:5d} batch={batch:6d}  ConfusionMatrix {_fmt(ours)}  "
              f"torchmetrics {_fmt(tm)} (x{ours / tm:5.2f})  "
              f"scikit-learn {_fmt(sk)} (x{ours / sk:5.2f})  "
              f"NumPy floor {_fmt(npf)} (x{ours / npf:5.2f}; "
              f"itself x{npf / tm:4.2f} torchmetrics)", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer samples and a shorter time budget per measurement")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds per contender and measurement, over 5 interleaved "
                             "rounds (default 5, 1 with --quick)")
    parser.add_argument("--tf-mode", choices=["both", "plain", "xla"], default="both",
                        help="TensorFlow: a plain tf.function, jit_compile=True, or both "
                             "(default)")
    parser.add_argument("--xla", action="store_true", help="the same as --tf-mode xla")
    parser.add_argument("--part", choices=["all", "thresholds", "multiclass"], default="all",
                        help="ThresholdConfusion, ConfusionMatrix, or both (default)")
    args = parser.parse_args(argv)
    global TF_XLA
    n = 200_000 if args.quick else 2_000_000
    budget = args.budget or (1.0 if args.quick else 5.0)
    tf_mode = "xla" if args.xla else args.tf_mode
    passes = [False] if BACKEND != "tensorflow" or tf_mode == "plain" else (
        [True] if tf_mode == "xla" else [False, True])
    for TF_XLA in passes:
        mode = {"jax": "jax.jit", "torch": "eager"}.get(
            BACKEND, "tf.function(jit_compile=True)" if TF_XLA else "tf.function")
        print(f"backend={BACKEND} update={mode} samples={n} cpu_count={os.cpu_count()} "
              f"load={os.getloadavg()[0]:.1f}", flush=True)
        if args.part != "multiclass":
            bench_thresholds(n, [200, 10_000], [8_192, 65_536], budget)
        if args.part != "thresholds":
            bench_multiclass(n, [10, 1_000], budget)


if __name__ == "__main__":
    main()
