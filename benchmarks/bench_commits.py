"""Counting speed of two commits of the library, on this machine, interleaved.

A change that moves the counting code (a refactor, a new check) must not slow it
down; timed one after the other, the same figure drifts by 2x on a shared machine.
This script checks both commits out (``git worktree``, in a temporary directory) and
runs `bench_counting.py`'s contenders in alternating fresh processes, old, new, old,
new..., each process importing its commit's ``src/``. Each process times, per case,
the metric (`ThresholdConfusion`, `ConfusionMatrix`: public API, compiled as Keras
compiles it) beside the bare kernel (this file's own code, the same in both
processes). Each figure is the best of the rounds for each commit; compared are
``ours / bare`` (new / old) and the metric's own rate (new / old), both only
meaningful because the rounds alternate.

    KERAS_BACKEND=jax uv run python benchmarks/bench_commits.py 2bd076f HEAD [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (case, parameter, batch): as in bench_counting.py
CASES = [("thresholds", 200, 8_192), ("thresholds", 200, 65_536),
         ("thresholds", 10_000, 8_192), ("thresholds", 10_000, 65_536),
         ("binary", 2, 8_192), ("binary", 2, 65_536),
         ("multiclass", 10, 8_192), ("multiclass", 10, 65_536),
         ("multiclass", 1000, 8_192), ("multilabel", 10, 8_192),
         ("multilabel", 10, 65_536)]


def _child(budget: float, xla: bool) -> None:
    """One round in this process: ``ours`` and ``bare`` per case, as JSON lines."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import keras
    import numpy as np

    import bench_counting as bc
    from keras_confusion import metrics as kcm

    print(json.dumps({"package": kcm.__file__}), flush=True)
    bc.TF_XLA = xla
    rng = np.random.default_rng(0)
    for case, param, batch in CASES:
        if case == "thresholds":
            n = batch * 8
            y = rng.integers(0, 2, n).astype("int32")
            p = rng.random(n).astype("float32")
            metric = kcm.ThresholdConfusion(num_thresholds=param)
        else:
            y, p = bc._matrix_data(case, param, batch, rng)
            metric = bc._matrix_metric(case, param)
        batches = bc._batches(y, p, batch, keras.ops.convert_to_tensor) * 4
        rates = bc._rates({"ours": (*bc._compiled_update(metric), batches),
                           "bare": (*bc._bare_update(case, param), batches)}, budget, 1)
        print(json.dumps({"case": [case, param, batch], **rates}), flush=True)


def _worktree(ref: str, tmp: Path) -> Path:
    sha = subprocess.run(["git", "rev-parse", "--short=12", ref], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    path = tmp / sha
    subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=ROOT,
                   check=True, capture_output=True)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the commit before the change (a git ref)")
    parser.add_argument("new", help="the commit after it (a git ref)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="processes per commit, alternating; each figure is the best")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="seconds per contender and case in each process (default 1)")
    parser.add_argument("--xla", action="store_true", help="TensorFlow: jit_compile=True")
    parser.add_argument("--case", action="append", default=None,
                        help='only this case, "KIND:PARAM:BATCH" (e.g. multiclass:10:8192); '
                             "repeatable")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:
        wanted = {tuple(c.split(":")) for c in args.case}
        CASES[:] = [c for c in CASES if tuple(map(str, c)) in wanted]
        if not CASES:
            parser.error(f"--case: none of {sorted(wanted)} is a case")
    if args.child:
        _child(args.budget, args.xla)
        return 0
    best = {}  # (commit, case) -> {"ours": rate, "bare": rate, "ratio": ...}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {}
        try:
            for ref in (args.old, args.new):
                trees[ref] = _worktree(ref, Path(tmp))
            for round_ in range(args.rounds):
                for ref, tree in trees.items():
                    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
                    cmd = [sys.executable, __file__, args.old, args.new, "--child",
                           "--budget", str(args.budget)] + (["--xla"] if args.xla else []) + [
                        f"--case={k}:{p}:{b}" for k, p, b in CASES]
                    out = subprocess.run(cmd, env=env, check=True, capture_output=True,
                                         text=True).stdout
                    for line in out.splitlines():
                        if not line.startswith("{"):
                            continue
                        row = json.loads(line)
                        if "package" in row:
                            # The editable install must not shadow the checkout.
                            if not row["package"].startswith(str(tree)):
                                raise SystemExit(f"{ref}: imported {row['package']}")
                            continue
                        # Best of each contender, then their ratio: the bare kernel is
                        # the same code in every process, but one process may run
                        # everything 2x slower than the next.
                        seen = best.setdefault((ref, tuple(row["case"])), {"ours": 0, "bare": 0})
                        for name in ("ours", "bare"):
                            seen[name] = max(seen[name], row[name])
                        seen["ratio"] = seen["ours"] / seen["bare"]
                    print(f"round {round_ + 1}: {ref} done, load {os.getloadavg()[0]:.1f}",
                          file=sys.stderr, flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)],
                               cwd=ROOT, capture_output=True)
    import keras  # only for the backend's name

    mode = {"jax": "jax.jit", "torch": "eager"}.get(
        keras.backend.backend(), "tf.function(jit_compile=True)" if args.xla else "tf.function")
    print(f"`benchmarks/bench_commits.py {args.old} {args.new}`, {keras.backend.backend()} "
          f"({mode}), best of {args.rounds} alternating processes each, "
          f"load {os.getloadavg()[0]:.1f}\n")
    print(f"| case | batch | ours / bare at {args.old} | ours / bare at {args.new} "
          "| new / old, ours / bare | new / old, ours |")
    print("|---|---|---|---|---|---|")
    worst = None
    for case in CASES:
        a, b = best[(args.old, case)], best[(args.new, case)]
        change = b["ratio"] / a["ratio"]
        worst = change if worst is None else min(worst, change)
        name = {"thresholds": f"ThresholdConfusion T={case[1]}",
                "binary": "ConfusionMatrix binary", "multiclass": f"ConfusionMatrix K={case[1]}",
                "multilabel": f"ConfusionMatrix L={case[1]}"}[case[0]]
        print(f"| {name} | {case[2]:,} | {a['ratio']:.2f} ({a['ours'] / 1e6:.0f} M/s) | "
              f"{b['ratio']:.2f} ({b['ours'] / 1e6:.0f} M/s) | {change:.2f} | "
              f"{b['ours'] / a['ours']:.2f} |")
    print(f"\nlargest drop of ours / bare: new / old = {worst:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
