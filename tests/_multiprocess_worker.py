"""Multi-process data-parallel runs for tests/test_multiprocess.py: one of two processes.

Run as ``python tests/_multiprocess_worker.py BACKEND RANK PORT0 PORT1``:

- jax: ``jax.distributed.initialize`` with a coordinator on ``localhost:PORT0``, CPU
  collectives over gloo, one CPU device per process, ``keras.distribution.DataParallel``
  over the two processes' devices; each process feeds its own half of every batch.
- tensorflow: ``tf.distribute.MultiWorkerMirroredStrategy``, ``TF_CONFIG`` naming two
  workers on ``localhost:PORT0`` and ``localhost:PORT1``.

Each process prints one JSON line (prefixed ``RESULT``) with its own values next to the
single-device values on the same global batch (computed in the same process); the
helpers (data, models, losses, metrics) are tests/_distributed_worker.py's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import warnings

import numpy as np

from _distributed_worker import (
    data,
    evaluation_data,
    loss_cases,
    metric_list,
    metric_values,
)

warnings.filterwarnings("ignore")


def _build(multiclass, seed=1):
    from _distributed_worker import build

    return build(multiclass, seed)


def _halves(rank, *arrays):
    """This process's half of each array (the first half for rank 0)."""
    return [a[rank * len(a) // 2:(rank + 1) * len(a) // 2] for a in arrays]


def _evaluate(scope, x, y, batch_size):
    import keras  # noqa: F401

    with scope():
        model = _build(False)
        model.compile("sgd", loss="binary_crossentropy", weighted_metrics=metric_list())
        model.evaluate(x, y, batch_size=batch_size, verbose=0)
        return metric_values(model)


def _fit(scope, x, y, batch_size, epochs=15):
    """Loss history of FBetaLoss under SGD(1.0), one batch per step."""
    import keras

    from keras_confusion import losses

    with scope():
        model = _build(False)
        model.compile(keras.optimizers.SGD(1.0), loss=losses.FBetaLoss())
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False,
                            verbose=0)
    return history.history["loss"]


def run_jax(rank, port):
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=rank)
    import keras
    from jax.sharding import NamedSharding, PartitionSpec

    # Each process passes its own half of the data (already sharded by process).
    dist = keras.distribution.DataParallel(auto_shard_dataset=False)
    mesh = dist.device_mesh.backend_mesh
    replicated = NamedSharding(mesh, PartitionSpec())
    x, y, y3, w = data()
    result = {"process_count": jax.process_count(), "num_devices": len(jax.devices()),
              "local_devices": len(jax.local_devices()), "losses": {}}

    def local(a):
        return np.asarray(a.addressable_data(0))

    for name, loss, multiclass in loss_cases():
        model = _build(multiclass)
        trainable = [np.asarray(v.value) for v in model.trainable_variables]
        labels = y3 if multiclass else y

        def objective(trainable, xb, yb, wb, model=model, loss=loss):
            y_pred, _ = model.stateless_call(trainable, [], xb)
            return loss(yb, y_pred, sample_weight=wb)

        step = jax.jit(jax.value_and_grad(objective))
        ref_value, ref_grads = step(trainable, x, labels, w)  # this process's device
        # The global batch: each process holds its half, sharded over both devices.
        batch = [jax.make_array_from_process_local_data(
            dist.get_data_layout(a.shape).backend_layout, part)
            for a, part in zip((x, labels, w), _halves(rank, x, labels, w), strict=True)]
        params = [jax.make_array_from_callback(t.shape, replicated, lambda i, t=t: t[i])
                  for t in trainable]
        value, grads = step(params, *batch)
        result["losses"][name] = {
            "ref": float(ref_value), "dist": float(local(value)),
            "shards": len(batch[0].sharding.device_set),
            "ref_grads": [np.asarray(g).tolist() for g in ref_grads],
            "dist_grads": [local(g).tolist() for g in grads]}

    xe, ye = evaluation_data()
    result["evaluate_ref"] = _evaluate(contextlib.nullcontext, xe, ye, batch_size=4)
    # Each process passes its half; Keras assembles global batches of 2 x 2.
    result["evaluate_dist"] = _evaluate(dist.scope, *_halves(rank, xe, ye), batch_size=2)
    result["fit_ref"] = _fit(contextlib.nullcontext, x, y, batch_size=8)
    result["fit_dist"] = _fit(dist.scope, *_halves(rank, x, y), batch_size=4)
    return result


def run_tensorflow(rank, ports):
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"localhost:{p}" for p in ports]},
        "task": {"type": "worker", "index": rank}})
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    x, y, y3, w = data()
    result = {"num_replicas": strategy.num_replicas_in_sync, "losses": {}}

    def per_replica(array, split):
        bounds = np.cumsum((0, *split))
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: array[bounds[ctx.replica_id_in_sync_group]:
                              bounds[ctx.replica_id_in_sync_group + 1]])

    for name, loss, multiclass in loss_cases():
        labels = y3 if multiclass else y
        model = _build(multiclass)
        with tf.GradientTape() as tape:
            ref_value = loss(labels, model(x), sample_weight=w)
        ref_grads = tape.gradient(ref_value, model.trainable_variables)
        with strategy.scope():
            dmodel = _build(multiclass)
        dmodel.set_weights(model.get_weights())

        @tf.function
        def step(xb, yb, wb, dmodel=dmodel, loss=loss):
            with tf.GradientTape() as tape:
                value = loss(yb, dmodel(xb), sample_weight=wb)
            return value, tape.gradient(value, dmodel.trainable_variables)

        case = {"ref": float(ref_value), "ref_grads": [g.numpy().tolist() for g in ref_grads]}
        for key, split in (("uneven", (5, 3)), ("even", (4, 4))):
            values, grads = strategy.run(
                step, args=tuple(per_replica(a, split) for a in (x, labels, w)))
            # Keras' optimizer sums the replicas' gradients (all-reduce across workers).
            grads = [strategy.reduce("SUM", g, axis=None) for g in grads]
            total = strategy.reduce("SUM", values, axis=None)
            case[key] = {"replica": float(strategy.experimental_local_results(values)[0]),
                         "sum": float(total), "grads": [g.numpy().tolist() for g in grads]}
        result["losses"][name] = case

    result["metrics_ref"], result["metrics_dist"] = _tf_metrics(strategy, per_replica)
    xe, ye = evaluation_data()
    result["evaluate_ref"] = _evaluate(contextlib.nullcontext, xe, ye, batch_size=4)
    result["fit_ref"] = _fit(contextlib.nullcontext, x, y, batch_size=8)
    for key, run in (("evaluate", lambda: _evaluate(strategy.scope, xe, ye, batch_size=4)),
                     ("fit", lambda: _fit(strategy.scope, x, y, batch_size=8))):
        try:
            result[f"{key}_dist"], result[f"{key}_error"] = run(), None
        except Exception as e:  # the test skips with what Keras raised here
            text = re.sub(r"\(PerReplica:\{.*?\}\)", "(PerReplica:{...})", str(e), flags=re.S)
            result[f"{key}_error"] = f"{type(e).__name__}: {' '.join(text.split())[:300]}"
    return result


def _tf_metrics(strategy, per_replica):
    """Metrics updated in a custom distributed loop (``strategy.run``), read with
    ``result()`` across the workers, and the same metrics on one device."""
    import tensorflow as tf

    xe, ye = evaluation_data()
    model = _build(False)
    reference = metric_list()
    for m in reference:
        m.update_state(ye, model(xe))
    with strategy.scope():
        dmodel = _build(False)
        metrics = metric_list()
    dmodel.set_weights(model.get_weights())

    @tf.function
    def update(xb, yb):
        def replica_step(xb, yb):
            y_pred = dmodel(xb)
            for m in metrics:
                m.update_state(yb, y_pred)

        strategy.run(replica_step, args=(xb, yb))

    for lo in (0, 8):  # two global batches: 8 rows split 5 / 3, then 4 split 2 / 2
        n = min(8, len(xe) - lo)
        split = (5, 3) if n == 8 else (2, 2)
        update(per_replica(xe[lo:lo + n], split), per_replica(ye[lo:lo + n], split))

    def values(ms):
        return {m.name: np.asarray(m.result()).tolist() for m in ms}

    return values(reference), values(metrics)


if __name__ == "__main__":
    backend, rank = sys.argv[1], int(sys.argv[2])
    ports = [int(p) for p in sys.argv[3:5]]
    out = run_jax(rank, ports[0]) if backend == "jax" else run_tensorflow(rank, ports)
    print("RESULT " + json.dumps(out), flush=True)
