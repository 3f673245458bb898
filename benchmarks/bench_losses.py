"""Train-step time of each confusion loss as a ratio to binary cross-entropy.

Every loss trains the same small model on the same data in this one process (the
anchor, Keras' BinaryCrossentropy, included), so the ratios hold on a loaded machine
even when the absolute times do not. jit_compile is on for JAX and TensorFlow; torch
runs eagerly, as Keras does by default. Target: every ratio within 1.05.

    KERAS_BACKEND=jax uv run python benchmarks/bench_losses.py [--steps 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
import warnings

import keras
import numpy as np

from keras_confusion import losses as L


def candidates():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "BinaryCrossentropy": keras.losses.BinaryCrossentropy(from_logits=True),
            "SpecificityLoss(min_sensitivity=0.9)": L.SpecificityLoss(
                min_sensitivity=0.9, from_logits=True),
            "SensitivityLoss()": L.SensitivityLoss(from_logits=True),
            "PrecisionLoss(min_recall=0.8)": L.PrecisionLoss(min_recall=0.8, from_logits=True),
            "FBetaLoss(1)": L.FBetaLoss(1.0, from_logits=True),
            "TverskyLoss(0.3, 0.7)": L.TverskyLoss(0.3, 0.7, from_logits=True),
            "MCCLoss": L.MCCLoss(from_logits=True),
            "BalancedAccuracyLoss": L.BalancedAccuracyLoss(from_logits=True),
            "CostLoss": L.CostLoss([[0, 1], [10, 0]], from_logits=True),
            "WeightedCrossentropy": L.WeightedCrossentropy({0: 1.0, 1: 10.0}, from_logits=True),
        }


def compiled_model(loss, x, y, batch_size):
    """The benchmark model compiled with ``loss``, its train step already built."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((x.shape[1],)),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-3), loss=loss,
                  jit_compile=keras.backend.backend() != "torch")
    model.fit(x[:2 * batch_size], y[:2 * batch_size], batch_size=batch_size, epochs=1,
              verbose=0)  # compile outside the timing
    return model


def step_times(models, x, y, steps, repeats, batch_size):
    """Best seconds per train step of each model over ``repeats`` rounds.

    The models take turns within each round, so a burst of load on a shared machine
    slows one round of every model rather than all the rounds of one.
    """
    best = dict.fromkeys(models, np.inf)
    for _ in range(repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
            best[name] = min(best[name], (time.perf_counter() - start) / steps)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    x = rng.normal(size=(n, 32)).astype("float32")
    y = (rng.random((n, 1)) < 0.08).astype("float32")
    models = {name: compiled_model(loss, x, y, args.batch_size)
              for name, loss in candidates().items()}
    times = step_times(models, x, y, args.steps, args.repeats, args.batch_size)
    anchor = times["BinaryCrossentropy"]
    print(f"backend={keras.backend.backend()} batch_size={args.batch_size} "
          f"steps={args.steps} repeats={args.repeats} (best of repeats)")
    print(f"{'loss':40s} {'ms/step':>9s} {'ratio to BCE':>13s}")
    for name, t in times.items():
        print(f"{name:40s} {1e3 * t:9.3f} {t / anchor:13.3f}")


if __name__ == "__main__":
    main()
