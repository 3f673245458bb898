"""Time to tune a threshold exactly over 10 M scores, beside a sort and scikit-learn.

`tune_threshold` sorts once and evaluates every distinct score as a candidate; the
anchors are ``np.sort`` of the same scores (the floor of any exact search) and
scikit-learn's ``roc_curve`` and ``precision_recall_curve``, which do the same sort and
cumulative counts (and nothing more) on the same data. The headline is
``tune_threshold f1 / np.sort``.

Run: ``uv run python benchmarks/bench_tuning.py [--n 10000000] [--repeat 3] [--markdown]``.
Each figure is the best of ``--repeat`` interleaved rounds (every case once per round),
wall clock, on whatever machine this is: say how loaded it was when quoting them.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")

from _stamp import commit, machine, stamp


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", action="store_true",
                        help="also print a Markdown table stamped with date, commit, machine")
    args = parser.parse_args(argv)
    line = stamp("benchmarks/bench_tuning.py")  # the commit measured, before measuring

    from sklearn.metrics import precision_recall_curve, roc_curve

    from keras_confusion import tune_threshold  # public: older commits run it too

    rng = np.random.default_rng(0)
    n = args.n
    y = (rng.random(n) < 0.05).astype(np.int8)  # 5 % positives
    logits = rng.normal(-1.0 + 2.0 * y, 1.0)
    scores = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)  # as a model outputs
    logits32 = logits.astype(np.float32)
    weights = rng.integers(1, 4, n).astype(np.float64)
    print(f"n = {n:,} samples, {len(np.unique(scores)):,} distinct float32 scores, "
          f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")

    cases = {
        "np.sort (anchor)": lambda: np.sort(scores),
        "tune_threshold f1": lambda: tune_threshold(y, scores, "f1"),
        "tune_threshold mcc": lambda: tune_threshold(y, scores, "mcc"),
        "tune_threshold cost [[0,1],[20,0]]": lambda: tune_threshold(
            y, scores, cost_matrix=[[0, 1], [20, 0]]),
        "tune_threshold precision s.t. recall>=0.95": lambda: tune_threshold(
            y, scores, "precision", constraint=("recall", 0.95)),
        "tune_threshold f1, logits": lambda: tune_threshold(y, logits32, "f1"),
        "tune_threshold f1, float64 logits": lambda: tune_threshold(y, logits, "f1"),
        "tune_threshold f1, sample_weight": lambda: tune_threshold(
            y, scores, "f1", sample_weight=weights),
        "sklearn roc_curve (anchor)": lambda: roc_curve(y, scores, drop_intermediate=False),
        "sklearn precision_recall_curve (anchor)": lambda: precision_recall_curve(y, scores),
    }
    best = dict.fromkeys(cases, np.inf)
    outputs = {}
    for _ in range(args.repeat):  # interleaved: a slow spell hits every case of a round
        for name, fn in cases.items():
            start = time.perf_counter()
            outputs[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    sort = best["np.sort (anchor)"]
    for name, seconds in best.items():
        out, extra = outputs[name], ""
        if hasattr(out, "threshold"):
            extra = f"threshold={out.threshold:.6g} value={out.value:.6g} T={len(out.thresholds):,}"
        print(f"{name:45s} {seconds:7.2f} s  {n / seconds / 1e6:6.1f} M scores/s  "
              f"x{seconds / sort:5.1f} np.sort  {extra}")
    ours = best["tune_threshold f1"]
    print(f"tune_threshold f1 / np.sort time ratio: {ours / sort:.2f}; "
          f"/ sklearn roc_curve: {ours / best['sklearn roc_curve (anchor)']:.2f}")
    if args.markdown:
        print(f"\n`benchmarks/bench_tuning.py --markdown`, n = {n:,}, {datetime.date.today()}, "
              f"commit {commit()}, {machine()}, load {os.getloadavg()[0]:.1f}; best of "
              f"{args.repeat} interleaved rounds.\n")
        print(line)
        print("| case | seconds | time / np.sort |")
        print("|---|---|---|")
        for name, seconds in best.items():
            print(f"| {name} | {seconds:.3f} | {seconds / sort:.1f} |")


if __name__ == "__main__":
    main()
