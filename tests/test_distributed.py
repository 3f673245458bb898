"""Data-parallel training: losses, gradients and metrics equal the single-device ones.

Each backend's CI run checks its own strategy, in a subprocess (the devices must be set
up before the backend initialises; this process has already initialised it):

- jax: two host CPU devices and ``keras.distribution.DataParallel``;
- tensorflow: two logical CPU devices and ``tf.distribute.MirroredStrategy``;
- torch: two gloo processes of ``torch.distributed``, the model in DDP.

The reference is always the single-device value on the same global batch, computed in
the same subprocess (tests/_distributed_worker.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _distributed_worker import LOSS_NAMES

from conftest import BACKEND

WORKER = Path(__file__).with_name("_distributed_worker.py")
TOL = 1e-5
COUNT_LOSSES = [name for name in LOSS_NAMES if name != "weighted_crossentropy"]

jax_only = pytest.mark.skipif(BACKEND != "jax", reason="JAX DataParallel runs on the jax CI")
tf_only = pytest.mark.skipif(BACKEND != "tensorflow",
                             reason="MirroredStrategy runs on the tensorflow CI")
torch_only = pytest.mark.skipif(BACKEND != "torch",
                                reason="torch.distributed runs on the torch CI")


def _env(**extra):
    env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WORKER.parent),
                                                      env.get("PYTHONPATH")]))
    return env


def _result(stdout: str, stderr: str, returncode: int) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert returncode == 0 and lines, stderr[-4000:]
    return json.loads(lines[-1][len("RESULT "):])


def _run(*args, **env):
    proc = subprocess.run([sys.executable, str(WORKER), BACKEND, *args], env=_env(**env),
                          capture_output=True, text=True, timeout=600)
    return _result(proc.stdout, proc.stderr, proc.returncode)


@pytest.fixture(scope="module")
def jax_run():
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    return _run(XLA_FLAGS=flags.strip())


@pytest.fixture(scope="module")
def tf_run():
    return _run()


@pytest.fixture(scope="module")
def torch_runs(tmp_path_factory):
    init_file = tmp_path_factory.mktemp("torch_distributed") / "init"
    procs = [subprocess.Popen([sys.executable, str(WORKER), BACKEND, str(rank), "2",
                               str(init_file)], env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    results = []
    for proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=600)
        finally:
            proc.kill()
        results.append(_result(stdout, stderr, proc.returncode))
    return results


def assert_grads_close(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(np.array(a), np.array(e), rtol=0, atol=TOL)


def assert_fit_matches_and_trains(fit_ref, fit_dist):
    assert_grads_close(fit_dist["start"], fit_ref["start"])
    # SGD(learning_rate=1) on one global batch: the weight change is the gradient.
    assert_grads_close(fit_dist["after_one_step"], fit_ref["after_one_step"])
    np.testing.assert_allclose(fit_dist["losses"], fit_ref["losses"], rtol=0, atol=TOL)
    assert fit_dist["losses"][-1] < fit_dist["losses"][0] - 0.05


# ------------------------------------------------------------------ JAX: DataParallel


@jax_only
def test_jax_data_parallel_shards_each_global_batch_over_two_devices(jax_run):
    assert jax_run["num_devices"] == 2
    assert {case["shards"] for case in jax_run["losses"].values()} == {2}


@jax_only
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_jax_data_parallel_loss_and_gradient_equal_single_device(jax_run, name):
    case = jax_run["losses"][name]
    assert case["dist"] == pytest.approx(case["ref"], abs=TOL)
    assert_grads_close(case["dist_grads"], case["ref_grads"])


@jax_only
def test_jax_data_parallel_evaluate_metrics_equal_single_device_exactly(jax_run):
    assert jax_run["evaluate_dist"] == jax_run["evaluate_ref"]


@jax_only
def test_jax_data_parallel_fit_step_equals_single_device_and_training_lowers_loss(jax_run):
    assert_fit_matches_and_trains(jax_run["fit_ref"], jax_run["fit_dist"])


@jax_only
def test_jax_data_parallel_smaller_last_batch_counts_each_sample_once(jax_run):
    assert jax_run["uneven_dist"] == jax_run["uneven_ref"]
    assert np.sum(jax_run["uneven_dist"]["confusion_matrix"]) == 10


@jax_only
def test_jax_data_parallel_refuses_a_last_batch_it_cannot_split(jax_run):
    assert jax_run["indivisible_error"] == "IndivisibleError"


@jax_only
def test_jax_data_parallel_zero_weight_padding_counts_each_sample_once(jax_run):
    assert jax_run["padded_dist"] == jax_run["indivisible_ref"]
    assert np.sum(jax_run["padded_dist"]["confusion_matrix"]) == 9


# --------------------------------------------------------- TensorFlow: MirroredStrategy


@tf_only
@pytest.mark.parametrize("name", COUNT_LOSSES)
def test_tf_mirrored_loss_and_summed_gradient_equal_single_device_on_uneven_split(
        tf_run, name):
    case = tf_run["losses"][name]
    # Keras reports the sum of the replicas' losses (it unscales by num_replicas).
    assert sum(case["uneven"]["replicas"]) == pytest.approx(case["ref"], abs=TOL)
    assert_grads_close(case["uneven"]["grads"], case["ref_grads"])


@tf_only
@pytest.mark.parametrize("name", COUNT_LOSSES)
def test_tf_mirrored_each_replica_returns_global_loss_over_num_replicas(tf_run, name):
    case = tf_run["losses"][name]
    assert tf_run["num_replicas"] == 2
    for split in ("uneven", "even"):
        first, second = case[split]["replicas"]
        assert first == second  # every replica applies the formula to the same counts
        assert first == pytest.approx(case["ref"] / 2, rel=1e-6)


@tf_only
def test_tf_mirrored_weighted_crossentropy_equals_single_device_on_even_split_only(tf_run):
    # A per-sample loss follows Keras: each replica averages its own samples.
    case = tf_run["losses"]["weighted_crossentropy"]
    assert sum(case["even"]["replicas"]) == pytest.approx(case["ref"], abs=TOL)
    assert_grads_close(case["even"]["grads"], case["ref_grads"])
    assert abs(sum(case["uneven"]["replicas"]) - case["ref"]) > 1e-3


@tf_only
def test_tf_mirrored_evaluate_metrics_equal_single_device_exactly(tf_run):
    assert tf_run["evaluate_dist"] == tf_run["evaluate_ref"]


@tf_only
def test_tf_mirrored_batch_logs_are_whole_data_set_metrics_not_replica_means(tf_run):
    values = tf_run["evaluate_dist"]
    logs = values["last_batch_logs"]
    assert logs and all(logs[k] == values[k] for k in logs)


@tf_only
def test_tf_mirrored_fit_step_equals_single_device_and_training_lowers_loss(tf_run):
    assert_fit_matches_and_trains(tf_run["fit_ref"], tf_run["fit_dist"])


@tf_only
def test_tf_mirrored_last_batch_leaving_a_replica_empty_counts_each_sample_once(tf_run):
    assert tf_run["replica_batch_sizes"] == [[2, 2], [2, 2], [1, 0]]
    assert tf_run["uneven_dist"] == tf_run["uneven_ref"]
    assert np.sum(tf_run["uneven_dist"]["confusion_matrix"]) == 9


@tf_only
def test_tf_mirrored_wide_confusion_matrix_equals_sklearn(tf_run):
    # From 64 classes a plain graph's argmax is NumPy's, called from each replica.
    assert tf_run["wide"]["dist"] == tf_run["wide"]["ref"]
    assert np.sum(tf_run["wide"]["dist"]) == 300


@tf_only
def test_tf_mirrored_zero_weight_padding_counts_each_sample_once(tf_run):
    assert tf_run["padded_dist"] == tf_run["uneven_ref"]


# ------------------------------------------------- torch: DistributedDataParallel


@torch_only
def test_torch_ddp_loss_and_gradient_equal_single_device_on_uneven_shards(torch_runs):
    for run in torch_runs:
        assert run["dist"] == pytest.approx(run["ref"], abs=TOL)
        assert_grads_close(run["dist_grads"], run["ref_grads"])


@torch_only
def test_torch_ddp_summed_metric_counts_equal_single_device_exactly(torch_runs):
    for run in torch_runs:
        assert run["counts_dist"] == run["counts_ref"]
        assert run["metric_dist"] == run["metric_ref"]
