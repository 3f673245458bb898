"""Data-parallel training: counts summed over the replicas before the formula."""

from __future__ import annotations

from keras_confusion._backend import backend

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
