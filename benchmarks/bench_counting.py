"""Counting speed: the streaming metrics against a bare kernel and their anchors.

Samples per second, each contender beside a *bare kernel* compiled the same way: what
any counter must do, with no checks, no invalid tally and no exactness past 2**31
(bucket or decide, make the cell codes, add their histogram into an int32 state). The
headline is ``ours / bare`` (1.0: ours costs what the bare kernel costs):

* `ThresholdConfusion(num_thresholds=T)`, T = 200 and 10,000, beside
  `keras.metrics.AUC(num_thresholds=T)` on the same backend, torchmetrics'
  `BinaryPrecisionRecallCurve(thresholds=T)` and a NumPy `bincount` floor;
* `ConfusionMatrix`: binary, multiclass K = 10 and 1,000 (the bare kernel takes the
  backend's own argmax), multilabel L = 10; multiclass beside a *checked bare* kernel
  (the bare one and a row-sum finiteness check: `_bare_update`), torchmetrics'
  `MulticlassConfusionMatrix`, scikit-learn's `confusion_matrix` and a NumPy floor
  (argmax and bincount, one core);
* each CPU trick of `keras_confusion._backend.kernels.TRICKS`, on against off, on the
  case it serves.

Batches of 8,192 and 65,536. Updates are compiled as Keras compiles them: `jax.jit`
of the stateless update on JAX, eager on torch, and on TensorFlow both ways Keras may
choose: a plain `tf.function` (its `jit_compile="auto"` on a CPU-only machine) and
`tf.function(jit_compile=True)`. Contenders are timed in ``--rounds`` interleaved
rounds (a slow spell of a shared machine hits every contender of a round alike): each
rate is the best round, ``ours / bare`` (and a trick's on / off) the median of the
rounds' own ratios (`Rates.paired`); only ratios measured in the same process are
meaningful.

    KERAS_BACKEND=jax uv run python benchmarks/bench_counting.py [--quick] [--markdown]
    KERAS_BACKEND=tensorflow uv run python benchmarks/bench_counting.py [--tf-mode xla]
        [--part thresholds|matrix|tricks]
"""

from __future__ import annotations

import argparse
import datetime
import functools
import itertools
import os
import statistics
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

        # A function of (y, p), as the bare kernel and as Keras' own step call it:
        # tf.function of the bound method itself binds ``sample_weight=None`` at each
        # call, about 55 us of Python (8,192 scores: 379 us against 323 us a call).
        @tf.function(jit_compile=TF_XLA)
        def step(y, p):
            metric.update_state(y, p)

        def finish():
            metric.variables[0].numpy()

        return step, finish

    def finish():
        keras.ops.convert_to_numpy(metric.variables[0].value)

    return metric.update_state, finish


def _bare_update(case, param, checked=False):
    """The bare kernel compiled as ours is: cell codes, their histogram added into an
    int32 state; no checks, no invalid tally, no carry. ``case``: "thresholds" (T =
    ``param``), "binary", "multiclass" (K = ``param``) or "multilabel" (L = ``param``).

    ``checked`` (multiclass): the *checked bare* kernel, the bare one plus the cheapest
    finiteness check of class scores there is, a row sum (finite exactly when every
    score of the row is, barring overflow), a row whose sum is not finite counted in
    one extra cell. A threshold's check is elementwise and rides in the bucketing
    pass; a row's is a reduction, a second read of the scores wherever it cannot share
    the argmax's own (TensorFlow's plain graph): the floor of any counter that checks.
    """
    if case in ("thresholds", "thresholds_exact"):
        t = param
        cells = 2 * (t + 1)
        # The float32 thresholds of ThresholdConfusion(num_thresholds=t) (the smallest
        # float32 at or above each of linspace(0, 1, t)), for the exact rule.
        grid = np.linspace(0.0, 1.0, t)
        edges = grid.astype("float32")
        edges = np.where(edges < grid, np.nextafter(edges, np.float32(2)), edges)
    else:
        cells = {"binary": 4, "multiclass": param * param, "multilabel": 4 * param}[case]
    dense = cells <= 1 << 17  # as ours: a scatter at the codes into a large state
    invalid = cells  # the checked kernel's extra cell
    if checked:
        cells += 1

    offsets = np.arange(param, dtype="int32") * 4 if case == "multilabel" else 0

    def codes_of(xp, y, p, argmax, floor, cast, gather=None, finite_sum=None):
        if case == "thresholds":
            return y * (t + 1) + cast(floor(p * (t - 1))) + 1
        if case == "thresholds_exact":
            # The thresholds at or below each score: the nearest grid index, then one
            # comparison with its threshold (what ours does, without the checks).
            clip = xp.clip_by_value if hasattr(xp, "clip_by_value") else xp.clip
            r = clip(cast(xp.round(p * (t - 1))), 0, t - 1)
            return y * (t + 1) + r + cast(gather(r) <= p)
        if case == "multiclass":
            codes = y * param + cast(argmax(p))
            if checked:
                codes = xp.where(finite_sum(p), codes, invalid)
            return codes
        return xp.reshape(y * 2 + cast(p >= 0.5) + offsets, (-1,))

    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        table = jnp.asarray(edges) if case == "thresholds_exact" else None

        @functools.partial(jax.jit, donate_argnums=0)
        def step(state, y, p):
            codes = codes_of(jnp, y, p, lambda x: jnp.argmax(x, axis=-1), jnp.floor,
                             lambda x: x.astype("int32"), lambda r: table[r],
                             lambda x: jnp.isfinite(jnp.sum(x, axis=-1)))
            if dense:
                return state + jnp.bincount(codes, length=cells)
            return state.at[codes].add(1)

        state = jnp.zeros(cells, "int32")

        def update(y, p):
            nonlocal state
            state = step(state, y, p)

        return update, lambda: jax.block_until_ready(state)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        state = tf.Variable(tf.zeros(cells, tf.int32))
        table = tf.constant(edges) if case == "thresholds_exact" else None

        @tf.function(jit_compile=TF_XLA)
        def update(y, p):
            codes = codes_of(tf, y, p, lambda x: tf.argmax(x, axis=-1, output_type=tf.int32),
                             tf.floor, lambda x: tf.cast(x, tf.int32),
                             lambda r: tf.gather(table, r),
                             lambda x: tf.math.is_finite(tf.reduce_sum(x, axis=-1)))
            if dense:
                state.assign_add(tf.raw_ops.DenseBincount(
                    input=codes, size=cells, weights=tf.zeros([0], tf.int32)))
            else:
                state.scatter_add(tf.IndexedSlices(tf.ones(tf.shape(codes), tf.int32), codes))

        return update, state.numpy
    import torch

    state = torch.zeros(cells, dtype=torch.int32)
    one = torch.ones((), dtype=torch.int32)
    table = torch.as_tensor(edges) if case == "thresholds_exact" else None
    if case == "multilabel":
        offsets = torch.from_numpy(offsets)

    def update(y, p):
        codes = codes_of(torch, y, p, lambda x: torch.argmax(x, dim=-1), torch.floor,
                         lambda x: x.to(torch.int32), lambda r: table.index_select(0, r),
                         lambda x: torch.isfinite(x.sum(-1)))
        if dense:
            state.add_(torch.bincount(codes, minlength=cells))
        else:
            state.index_add_(0, codes.long(), one.expand(codes.shape[0]))

    return update, lambda: None


class Rates(dict):
    """Each contender's best samples per second (the dict), and ``rounds``: its rate in
    each round, in round order (one entry for a contender timed in the first only)."""

    def __init__(self, best, rounds):
        super().__init__(best)
        self.rounds = rounds

    def paired(self, a, b):
        """The median over rounds of ``a``'s rate over ``b``'s in the same round.

        Two contenders timed back to back share a spell of this shared machine, slow or
        fast; the best of each may come from different spells. Measured on the same
        code in fresh processes (``ThresholdConfusion(10000)``, 8,192 scores),
        ``ours / bare`` read 0.79-0.90 (TensorFlow, 30 rounds of 0.2 s) and 0.77-0.84
        (JAX, 40 rounds of 0.15 s) as the ratio of the two bests, 0.84-0.87 and
        0.85-0.88 as this median.
        """
        ratios = [x / y for x, y in zip(self.rounds[a], self.rounds[b], strict=False)]
        return statistics.median(ratios)


def _rates(contenders, budget_s, rounds=5):
    """Samples per second of each contender over ``rounds`` interleaved rounds
    (`Rates`: the best of each, and every round's).

    ``contenders`` maps a name to ``(update, finish, batches)``. Each round times every
    contender in turn, each for about ``budget_s / rounds`` seconds, so that a slow
    spell of this shared machine hits all of them rather than one, in the reverse
    order every other round (whoever runs first after the pause is not always the
    same). A contender whose single batch outlasts a round (torchmetrics' curve at
    10,000 thresholds) is timed in the first round only.
    """
    slow = set()
    for name, (update, finish, batches) in contenders.items():
        update(*batches[0])  # compile / warm up
        finish()
        # Timed after the warm-up: a first call that traces and compiles (a second or
        # more for a Keras metric) made ours "slow", timed in one round of five.
        start = time.perf_counter()
        update(*batches[0])
        finish()
        if time.perf_counter() - start > budget_s / rounds:
            slow.add(name)
    per_round = {name: [] for name in contenders}
    for round_ in range(rounds):
        names = list(contenders) if round_ % 2 == 0 else list(contenders)[::-1]
        for name in names:
            update, finish, batches = contenders[name]
            if round_ and name in slow:
                continue
            # A pause first: torch's worker threads keep spinning for a while after its
            # update, and on 2 cores they slowed whichever contender ran next (ours at
            # T=200, batch 8,192 read 0.7x Keras' AUC instead of 1.0x).
            time.sleep(0.2)
            done, start = 0, time.perf_counter()
            # The batches in turn until the round's time is spent: a round of a few
            # updates measured mostly the wake-up of torch's threads after the pause
            # (the first eager update took 1 ms more, 200,000 samples are 3 batches
            # of 65,536).
            for y, p in itertools.cycle(batches):
                update(y, p)
                done += len(y)
                if time.perf_counter() - start > budget_s / rounds:
                    break
            finish()
            per_round[name].append(done / (time.perf_counter() - start))
    return Rates({name: max(r) for name, r in per_round.items()}, per_round)


def _batches(y, p, batch, convert):
    # Whole batches only: a last, shorter batch would be compiled inside the timing.
    return [(convert(y[i:i + batch]), convert(p[i:i + batch]))
            for i in range(0, len(y) - batch + 1, batch)]


def _fmt(rate):
    return f"{rate / 1e6:9.2f} M/s"


# (case, batch, ours / bare paired, ours / bare of the bests, ours, bare, anchors)
ROWS = []


def _report(case, batch, rates, anchors):
    """Print one line: ours, bare (best rates), ``ours / bare`` (`Rates.paired`; the
    ratio of the bests beside it), then ours against each anchor (the ratio of the
    bests: some anchors are timed once)."""
    ours, bare = rates["ours"], rates["bare"]
    ratio = rates.paired("ours", "bare")
    parts = [f"{n} {_fmt(rates[k])} (ours x{ours / rates[k]:.2f})" for k, n in anchors.items()]
    print(f"{case:26s} batch={batch:6d}  ours {_fmt(ours)}  bare {_fmt(bare)}  "
          f"ours/bare {ratio:5.2f} (bests {ours / bare:4.2f})  " + "  ".join(parts),
          flush=True)
    ROWS.append((case, batch, ratio, ours / bare, ours, bare,
                 {n: ours / rates[k] for k, n in anchors.items()}))


def bench_thresholds(n, thresholds, batch_sizes, budget, rounds):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n).astype("int32")
    p = rng.uniform(0, 1, n).astype("float32")
    import torch
    from torchmetrics.classification import BinaryPrecisionRecallCurve

    for t in thresholds:
        for batch in batch_sizes:
            kb = _batches(y, p, batch, keras.ops.convert_to_tensor)
            tm_metric = BinaryPrecisionRecallCurve(thresholds=t)
            state = np.zeros(2 * (t + 1), np.int64)

            def floor(a, b, t=t, state=state):
                bucket = np.floor(b * (t - 1)).astype(np.int64) + 1
                state += np.bincount(a * (t + 1) + bucket, minlength=2 * (t + 1))
                np.cumsum(state[::-1])

            rates = _rates({
                "ours": (*_compiled_update(kcm.ThresholdConfusion(num_thresholds=t)), kb),
                "bare": (*_bare_update("thresholds", t), kb),
                "exact": (*_bare_update("thresholds_exact", t), kb),
                "auc": (*_compiled_update(keras.metrics.AUC(num_thresholds=t)), kb),
                "tm": (lambda a, b, m=tm_metric: m.update(b, a), lambda: None,
                       _batches(y, p, batch, torch.from_numpy)),
                "floor": (floor, lambda: None, _batches(y, p, batch, np.asarray)),
            }, budget, rounds)
            _report(f"ThresholdConfusion T={t}", batch, rates,
                    {"exact": "exact bare", "auc": "Keras AUC", "tm": "torchmetrics PR curve",
                     "floor": "NumPy floor"})


def _matrix_data(case, param, batch, rng):
    """A few batches of labels and scores, cycled (a (2 M, 1000) array would not fit)."""
    rows = batch * 4
    if case == "multiclass":
        return (rng.integers(0, param, rows).astype("int32"),
                rng.normal(size=(rows, param)).astype("float32"))
    shape = (rows,) if case == "binary" else (rows, param)
    return rng.integers(0, 2, shape).astype("int32"), rng.random(shape).astype("float32")


def _matrix_metric(case, param):
    if case == "multiclass":
        return kcm.ConfusionMatrix(num_classes=param)
    if case == "multilabel":
        return kcm.ConfusionMatrix(multilabel=True, num_labels=param)
    return kcm.ConfusionMatrix()


def bench_matrix(n, cases, batch_sizes, budget, rounds):
    import torch
    from sklearn.metrics import confusion_matrix
    from torchmetrics.classification import MulticlassConfusionMatrix

    rng = np.random.default_rng(1)
    for case, param in cases:
        for batch in batch_sizes:
            if case == "multiclass" and param >= 1000 and batch > 8_192:
                continue  # (65,536, 1000) float32 scores: 256 MB a batch
            y, p = _matrix_data(case, param, batch, rng)
            reps = max(1, n // len(y))

            def cycle(convert, y=y, p=p, batch=batch, reps=reps):
                return _batches(y, p, batch, convert) * reps

            contenders = {
                "ours": (*_compiled_update(_matrix_metric(case, param)),
                         cycle(keras.ops.convert_to_tensor)),
                "bare": (*_bare_update(case, param), cycle(keras.ops.convert_to_tensor)),
            }
            anchors = {}
            if case == "multiclass":
                tm_metric = MulticlassConfusionMatrix(num_classes=param)
                contenders.update({
                    "checked": (*_bare_update(case, param, checked=True),
                                cycle(keras.ops.convert_to_tensor)),
                    "tm": (lambda a, b, m=tm_metric: m.update(b, a), lambda: None,
                           cycle(torch.from_numpy)),
                    "sk": (lambda a, b, k=param: confusion_matrix(a, b.argmax(-1),
                                                                  labels=range(k)),
                           lambda: None, cycle(np.asarray)),
                    "floor": (lambda a, b, k=param: np.bincount(a * k + b.argmax(-1),
                                                                minlength=k * k),
                              lambda: None, cycle(np.asarray)),
                })
                anchors = {"checked": "checked bare", "tm": "torchmetrics",
                           "sk": "scikit-learn", "floor": "NumPy floor"}
            name = {"binary": "ConfusionMatrix binary", "multiclass": f"ConfusionMatrix K={param}",
                    "multilabel": f"ConfusionMatrix L={param}"}[case]
            _report(name, batch, _rates(contenders, budget, rounds), anchors)


# The case each trick serves (a trick whose gain stays inside the noise is dropped).
TRICK_CASES = {
    "xla_cpu_argmax": ("multiclass", 1000, 8_192),
    "torch_cpu_argmax": ("multiclass", 1000, 8_192),
    "tf_fused_codes": ("thresholds", 10_000, 65_536),
    "torch_eager_update": ("thresholds", 200, 8_192),
    "xla_cpu_small_argmax": ("multiclass", 10, 8_192),
    "xla_cpu_one_thread_codes": ("thresholds", 200, 8_192),
    "tf_cpu_blocked_argmax": ("multiclass", 1000, 8_192),
}
TRICK_ROWS = []  # (trick, case, batch, on / off)


def bench_tricks(budget, rounds):
    """Each trick of `kernels.TRICKS` on against off (a fresh metric and compiled step
    each: compiled steps read the switches when traced, eager torch at each call),
    interleaved."""
    from keras_confusion._backend import kernels

    rng = np.random.default_rng(2)
    for trick, (case, param, batch) in TRICK_CASES.items():
        applies = {"xla_cpu_argmax": BACKEND == "jax" or (BACKEND == "tensorflow" and TF_XLA),
                   "torch_cpu_argmax": BACKEND == "torch",
                   "tf_fused_codes": BACKEND == "tensorflow" and not TF_XLA,
                   "torch_eager_update": BACKEND == "torch",
                   "xla_cpu_small_argmax": BACKEND == "jax"
                   or (BACKEND == "tensorflow" and TF_XLA),
                   "xla_cpu_one_thread_codes": BACKEND == "jax"
                   or (BACKEND == "tensorflow" and TF_XLA),
                   "tf_cpu_blocked_argmax": BACKEND == "tensorflow" and not TF_XLA}[trick]
        if not applies:
            continue
        if case == "thresholds":
            y = rng.integers(0, 2, batch * 8).astype("int32")
            p = rng.random(batch * 8).astype("float32")
        else:
            y, p = _matrix_data(case, param, batch, rng)
        kb = _batches(y, p, batch, keras.ops.convert_to_tensor) * 4
        contenders = {}
        for state in (True, False):
            kernels.TRICKS[trick] = state
            metric = (kcm.ThresholdConfusion(num_thresholds=param) if case == "thresholds"
                      else _matrix_metric(case, param))
            update, finish = _compiled_update(metric)
            update(*kb[0])  # traced now, with the switch as set
            finish()
            if BACKEND == "torch":
                # Eager: the switch is read at every call, so each contender sets its
                # own (without this, both ran with the trick on: "gains" of 0.98-1.03).
                def update(y, p, state=state, inner=update, trick=trick):
                    kernels.TRICKS[trick] = state
                    inner(y, p)

            contenders["on" if state else "off"] = (update, finish, kb)
        kernels.TRICKS[trick] = True
        rates = _rates(contenders, budget, rounds)
        gain = rates.paired("on", "off")
        print(f"trick {trick:18s} {case} {param} batch={batch}: on {_fmt(rates['on'])}  "
              f"off {_fmt(rates['off'])}  gain x{gain:.2f}", flush=True)
        TRICK_ROWS.append((trick, f"{case} {param}", batch, gain))


def print_markdown(mode, rounds):
    from _stamp import commit, machine, stamp  # benchmarks/ is on the path of a script run

    # The stamp tests/test_readme_figures.py reads: paste it right above the table.
    print("\n" + stamp("benchmarks/bench_counting.py"))
    print(f"`benchmarks/bench_counting.py --markdown`, {BACKEND} ({mode}), "
          f"{datetime.date.today()}, commit {commit()}, {machine()}, "
          f"load {os.getloadavg()[0]:.1f}; {rounds} interleaved rounds: `ours / bare` "
          f"(and a trick's on / off) the median of the rounds' own ratios, `bests` the "
          f"ratio of the best rounds, rates the best rounds.\n")
    print("| case | batch | ours / bare | bests | ours | bare | ours against anchors |")
    print("|---|---|---|---|---|---|---|")
    for case, batch, ratio, bests, ours, bare, anchors in ROWS:
        against = ", ".join(f"{x:.2f}x {n}" for n, x in anchors.items())
        print(f"| {case} | {batch:,} | {ratio:.2f} | {bests:.2f} | {ours / 1e6:.1f} M/s | "
              f"{bare / 1e6:.1f} M/s | {against} |")
    if TRICK_ROWS:
        print("\n| trick | case | batch | on / off |")
        print("|---|---|---|---|")
        for trick, case, batch, gain in TRICK_ROWS:
            print(f"| `{trick}` | {case} | {batch:,} | {gain:.2f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer samples and a shorter time budget per measurement")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds per contender and measurement, over the interleaved "
                             "rounds (default 5, 1 with --quick)")
    parser.add_argument("--rounds", type=int, default=10,
                        help="interleaved rounds: each rate is the best, each ratio of ours "
                             "to the bare kernel the median of the rounds' (default 10)")
    parser.add_argument("--tf-mode", choices=["both", "plain", "xla"], default="both",
                        help="TensorFlow: a plain tf.function, jit_compile=True, or both "
                             "(default)")
    parser.add_argument("--xla", action="store_true", help="the same as --tf-mode xla")
    parser.add_argument("--part", choices=["all", "thresholds", "matrix", "tricks"],
                        default="all", help="which cases to time (default all)")
    parser.add_argument("--markdown", action="store_true",
                        help="also print the results as a Markdown table, stamped with the "
                             "date, commit and machine")
    args = parser.parse_args(argv)
    global TF_XLA
    n = 200_000 if args.quick else 2_000_000
    budget = args.budget or (1.0 if args.quick else 5.0)
    tf_mode = "xla" if args.xla else args.tf_mode
    passes = [False] if BACKEND != "tensorflow" or tf_mode == "plain" else (
        [True] if tf_mode == "xla" else [False, True])
    for TF_XLA in passes:
        ROWS.clear()
        TRICK_ROWS.clear()
        mode = {"jax": "jax.jit", "torch": "eager"}.get(
            BACKEND, "tf.function(jit_compile=True)" if TF_XLA else "tf.function")
        print(f"backend={BACKEND} update={mode} samples={n} cpu_count={os.cpu_count()} "
              f"load={os.getloadavg()[0]:.1f}", flush=True)
        batches = [8_192, 65_536]
        if args.part in ("all", "thresholds"):
            bench_thresholds(n, [200, 10_000], batches, budget, args.rounds)
        if args.part in ("all", "matrix"):
            bench_matrix(n, [("binary", 2), ("multiclass", 10), ("multiclass", 1000),
                             ("multilabel", 10)], batches, budget, args.rounds)
        if args.part in ("all", "tricks"):
            bench_tricks(budget, args.rounds)
        if args.markdown:
            print_markdown(mode, args.rounds)


if __name__ == "__main__":
    main()
