"""Data-parallel runs for tests/test_distributed.py, one backend per process.

Run as ``python tests/_distributed_worker.py BACKEND [RANK WORLD_SIZE INIT_FILE]``.
Devices must be configured before the backend initialises, which the pytest process
has already done; so each run happens here, in a fresh process, and prints one JSON
line (prefixed ``RESULT``) holding the data-parallel values next to the single-device
values on the same global batch. The tests compare them.

- jax: two host CPU devices (the parent sets
  ``XLA_FLAGS=--xla_force_host_platform_device_count=2``), ``keras.distribution``.
- tensorflow: two logical CPU devices and ``tf.distribute.MirroredStrategy``.
- torch: one of two processes of a gloo ``torch.distributed`` group, the model wrapped
  in ``DistributedDataParallel``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")

COST = [[0.0, 1.0], [5.0, 0.0]]
# An uneven split of the 8-sample global batch over two replicas.
SPLIT = (5, 3)


def data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype("float32")
    y3 = rng.integers(0, 3, n).astype("int32")
    w = rng.uniform(0.5, 2.0, n).astype("float32")
    return x, y, y3, w


# Losses over counts; WeightedCrossentropy is per sample and follows Keras' convention.
LOSS_NAMES = ("specificity_min_sensitivity", "sensitivity_min_specificity",
              "precision_min_recall", "fbeta", "tversky", "mcc_multiclass",
              "balanced_accuracy_multiclass", "cost", "confusion_jaccard",
              "weighted_crossentropy")


def loss_cases():
    """(name, loss, multiclass): every loss class, binary unless it needs classes."""
    from keras_confusion import losses

    cases = [
        ("specificity_min_sensitivity", losses.SpecificityLoss(min_sensitivity=0.8), False),
        ("sensitivity_min_specificity", losses.SensitivityLoss(min_specificity=0.8), False),
        ("precision_min_recall", losses.PrecisionLoss(min_recall=0.5), False),
        ("fbeta", losses.FBetaLoss(beta=2.0), False),
        ("tversky", losses.TverskyLoss(alpha=0.3, beta=0.7), False),
        ("mcc_multiclass", losses.MCCLoss(num_classes=3), True),
        ("balanced_accuracy_multiclass", losses.BalancedAccuracyLoss(num_classes=3), True),
        ("cost", losses.CostLoss(COST), False),
        ("confusion_jaccard", losses.ConfusionLoss("jaccard"), False),
        ("weighted_crossentropy", losses.WeightedCrossentropy({0: 1.0, 1: 3.0}), False),
    ]
    assert tuple(name for name, _, _ in cases) == LOSS_NAMES
    return cases


def build(multiclass, seed=1):
    import keras

    keras.utils.set_random_seed(seed)
    out = keras.layers.Dense(3, activation="softmax") if multiclass else keras.layers.Dense(
        1, activation="sigmoid")
    return keras.Sequential([keras.Input((4,)), out])


def metric_list():
    from keras_confusion import metrics

    return [metrics.ConfusionMatrix(), metrics.FBeta(), metrics.MCC(), metrics.Specificity(),
            metrics.ExpectedCost(COST), metrics.ThresholdConfusion(num_thresholds=5)]


def metric_values(model):
    """Every compiled metric's result after ``evaluate``, as nested lists."""
    import keras

    out = {}
    for m in model.metrics:
        for sub in getattr(m, "metrics", [m]):
            if sub.name != "loss":
                out[sub.name] = np.asarray(keras.ops.convert_to_numpy(sub.result())).tolist()
    return out


SCALAR_METRICS = ("fbeta", "mcc", "specificity", "expected_cost")


def evaluate_metrics(scope, x, y, sample_weight=None, batch_size=4):
    """Metrics after ``evaluate``, and the scalar ones in the last batch's logs.

    The model, its metrics and ``compile`` are all under ``scope``.
    """
    import keras

    last = {}

    class LastBatchLogs(keras.callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            last.update({k: float(v) for k, v in logs.items() if k in SCALAR_METRICS})

    with scope():
        model = build(False)
        # Keras passes sample_weight to `weighted_metrics` only.
        model.compile("sgd", loss="binary_crossentropy", weighted_metrics=metric_list())
        model.evaluate(x, y, sample_weight=sample_weight, batch_size=batch_size, verbose=0,
                       callbacks=[LastBatchLogs()])
        return {**metric_values(model), "last_batch_logs": last}


def fit_run(scope, x, y, epochs):
    """Weights after one SGD(1.0) step on the whole batch, then losses of more epochs."""
    import keras

    from keras_confusion import losses

    with scope():
        model = build(False)
        start = [w.tolist() for w in model.get_weights()]
        model.compile(keras.optimizers.SGD(1.0), loss=losses.FBetaLoss())
        first = model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
        step = [w.tolist() for w in model.get_weights()]
        rest = model.fit(x, y, batch_size=len(x), epochs=epochs, shuffle=False, verbose=0)
    return {"start": start, "after_one_step": step,
            "losses": first.history["loss"] + rest.history["loss"]}


def evaluation_data():
    """12 samples; labels as a column, like the model's (N, 1) output."""
    x, y, _, _ = data(12, seed=2)
    return x, y[:, None]


def padded(x, y, pad):
    """``x, y`` with ``pad`` copies of the first rows, weighted 0 (and 1 elsewhere)."""
    w = np.concatenate([np.ones(len(x)), np.zeros(pad)]).astype("float32")
    return np.concatenate([x, x[:pad]]), np.concatenate([y, y[:pad]]), w


def run_jax():
    import jax
    import keras

    assert len(jax.devices()) == 2, jax.devices()
    x, y, y3, w = data()
    dist = keras.distribution.DataParallel()

    def put(a, layout):
        return keras.distribution.distribute_tensor(a, layout)

    result = {"num_devices": len(jax.devices()), "losses": {}}
    for name, loss, multiclass in loss_cases():
        model = build(multiclass)
        trainable = [v.value for v in model.trainable_variables]
        labels = y3 if multiclass else y

        def objective(trainable, xb, yb, wb, model=model, loss=loss):
            y_pred, _ = model.stateless_call(trainable, [], xb)
            return loss(yb, y_pred, sample_weight=wb)

        step = jax.jit(jax.value_and_grad(objective))
        ref_value, ref_grads = step(trainable, x, labels, w)
        # The same jitted step on the global batch sharded over the two devices.
        batch = [put(a, dist.get_data_layout(a.shape)) for a in (x, labels, w)]
        shards = len(batch[0].sharding.device_set)
        replicated = [put(t, dist.get_variable_layout(v))
                      for t, v in zip(trainable, model.trainable_variables, strict=True)]
        value, grads = step(replicated, *batch)
        result["losses"][name] = {
            "ref": float(ref_value), "dist": float(value), "shards": shards,
            "ref_grads": [np.asarray(g).tolist() for g in ref_grads],
            "dist_grads": [np.asarray(g).tolist() for g in grads]}

    xe, ye = evaluation_data()
    result["evaluate_ref"] = evaluate_metrics(contextlib.nullcontext, xe, ye)
    result["evaluate_dist"] = evaluate_metrics(dist.scope, xe, ye)
    result["fit_ref"] = fit_run(contextlib.nullcontext, x, y, epochs=15)
    result["fit_dist"] = fit_run(dist.scope, x, y, epochs=15)
    # 10 samples in batches of 4: a last batch of 2, one sample per device.
    result["uneven_ref"] = evaluate_metrics(contextlib.nullcontext, xe[:10], ye[:10])
    result["uneven_dist"] = evaluate_metrics(dist.scope, xe[:10], ye[:10])
    # 9 samples: a last batch of 1 cannot be split over 2 devices, and JAX refuses it.
    x9, y9 = xe[:9], ye[:9]
    result["indivisible_ref"] = evaluate_metrics(contextlib.nullcontext, x9, y9)
    try:
        evaluate_metrics(dist.scope, x9, y9)
        result["indivisible_error"] = None
    except Exception as e:  # the test checks which error it was
        result["indivisible_error"] = type(e).__name__
    # The documented remedy: pad to a multiple of the devices with weight 0.
    xp, yp, wp = padded(x9, y9, 1)
    result["padded_dist"] = evaluate_metrics(dist.scope, xp, yp, wp)
    return result


def run_tensorflow():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

    x, y, y3, w = data()

    def per_replica(array, split):
        bounds = np.cumsum((0, *split))
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: array[bounds[ctx.replica_id_in_sync_group]:
                              bounds[ctx.replica_id_in_sync_group + 1]])

    result = {"num_replicas": strategy.num_replicas_in_sync, "losses": {}}
    for name, loss, multiclass in loss_cases():
        labels = y3 if multiclass else y
        model = build(multiclass)
        with tf.GradientTape() as tape:
            ref_value = loss(labels, model(x), sample_weight=w)
        ref_grads = tape.gradient(ref_value, model.trainable_variables)
        with strategy.scope():
            dmodel = build(multiclass)
        dmodel.set_weights(model.get_weights())

        @tf.function
        def step(xb, yb, wb, dmodel=dmodel, loss=loss):
            with tf.GradientTape() as tape:
                value = loss(yb, dmodel(xb), sample_weight=wb)
            return value, tape.gradient(value, dmodel.trainable_variables)

        case = {"ref": float(ref_value), "ref_grads": [g.numpy().tolist() for g in ref_grads]}
        for key, split in (("uneven", SPLIT), ("even", (4, 4))):
            values, grads = strategy.run(
                step, args=tuple(per_replica(a, split) for a in (x, labels, w)))
            # Keras' optimizer sums the replicas' gradients under MirroredStrategy.
            grads = [strategy.reduce("SUM", g, axis=None) for g in grads]
            case[key] = {
                "replicas": [float(v) for v in strategy.experimental_local_results(values)],
                "grads": [g.numpy().tolist() for g in grads]}
        result["losses"][name] = case

    xe, ye = evaluation_data()
    x9, y9 = xe[:9], ye[:9]
    result["evaluate_ref"] = evaluate_metrics(contextlib.nullcontext, xe, ye)
    result["evaluate_dist"] = evaluate_metrics(strategy.scope, xe, ye)
    result["fit_ref"] = fit_run(contextlib.nullcontext, x, y, epochs=15)
    result["fit_dist"] = fit_run(strategy.scope, x, y, epochs=15)
    # 9 samples in batches of 4: the last batch has 1 sample, so one replica gets none
    # (Keras distributes the batches with `experimental_distribute_dataset`).
    batches = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(x9).batch(4))
    result["replica_batch_sizes"] = [
        [int(t.shape[0]) for t in strategy.experimental_local_results(b)] for b in batches]
    result["uneven_ref"] = evaluate_metrics(contextlib.nullcontext, x9, y9)
    result["uneven_dist"] = evaluate_metrics(strategy.scope, x9, y9)
    xp, yp, wp = padded(x9, y9, 3)
    result["padded_dist"] = evaluate_metrics(strategy.scope, xp, yp, wp)
    result["wide"] = wide_confusion_matrix(strategy.scope)
    return result


def wide_confusion_matrix(scope, k=80):
    """An 80-class matrix after ``evaluate`` (the NumPy argmax of a plain graph, called
    from each replica), and scikit-learn's."""
    import keras
    from sklearn.metrics import confusion_matrix

    from keras_confusion import metrics

    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, k)).astype("float32")
    y = rng.integers(0, k, 300)
    with scope():
        inputs = keras.Input((k,))
        model = keras.Model(inputs, keras.layers.Activation("linear")(inputs))
        metric = metrics.ConfusionMatrix(num_classes=k)
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[metric])
        model.evaluate(x, y, batch_size=64, verbose=0)
    return {"dist": metric.counts().tolist(),
            "ref": confusion_matrix(y, x.argmax(-1), labels=range(k)).tolist()}


def run_torch(rank, world_size, init_file):
    import torch
    import torch.distributed as dist

    from keras_confusion import formulas, losses, metrics

    x, y, _, w = data()
    bounds = np.cumsum((0, *SPLIT))
    lo, hi = bounds[rank], bounds[rank + 1]
    model = build(False)
    loss = losses.FBetaLoss(beta=2.0)
    result = {"rank": rank}

    # The single-device reference, before the process group exists.
    model.zero_grad()
    ref = loss(y, model(x), sample_weight=w)
    ref.backward()
    result["ref"] = float(ref)
    result["ref_grads"] = [p.grad.numpy().tolist() for p in model.parameters()]
    ref_metric = metrics.ConfusionMatrix()
    ref_metric.update_state(y, model(x).detach())
    result["counts_ref"] = ref_metric.counts().tolist()
    result["metric_ref"] = float(formulas.fbeta(ref_metric.counts(), beta=2.0))

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world_size)
    model.zero_grad()
    # DDP averages the processes' gradients during backward.
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    value = loss(y[lo:hi], ddp(torch.from_numpy(x[lo:hi])), sample_weight=w[lo:hi])
    value.backward()
    result["dist"] = float(value)
    result["dist_grads"] = [p.grad.numpy().tolist() for p in model.parameters()]

    # Metrics: each process counts its own shard; the counts are summed, then the formula.
    m = metrics.ConfusionMatrix()
    m.update_state(y[lo:hi], model(x[lo:hi]).detach())
    cm = torch.from_numpy(m.counts())
    dist.all_reduce(cm)
    result["counts_dist"] = cm.numpy().tolist()
    result["metric_dist"] = float(formulas.fbeta(cm.numpy(), beta=2.0))
    dist.destroy_process_group()
    return result


if __name__ == "__main__":
    backend = sys.argv[1]
    if backend == "jax":
        out = run_jax()
    elif backend == "tensorflow":
        out = run_tensorflow()
    else:
        out = run_torch(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    print("RESULT " + json.dumps(out))
