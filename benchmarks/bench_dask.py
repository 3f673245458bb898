"""Speed, worker memory and bytes to the client of `keras_confusion.dask`.

Writes ``--files`` Parquet files of ``--rows`` rows in all (an int8 label, a float32
score from overlapping classes, 10% positives) to a temporary directory, then on a
``distributed.LocalCluster`` of 1 and of 2 worker processes (one thread each) runs,
from the files (one task per file, as ``--scheduler`` does):

* ``confusion_matrix`` at a fixed threshold (one pass);
* ``tune_threshold`` for F1 and for MCC (exact: range, histogram, gather passes).

For each: wall seconds, rows/s, the peak resident memory of each worker process
(``VmHWM``, reset before each task; the interpreter and libraries included, and
"idle" is the resident set before the task), the bytes of the results that reach the
client (pickled), the passes over the data, the rows gathered (and the candidates
counted exactly: gathered distinct scores and the bin edges the tie rule needed). The
one-machine `tune_threshold` on the same rows loaded whole is the reference (its
result must be equal; the script checks it).

On a 2-core machine shared with other work a scaling figure is only indicative: the
two workers compete with the client, the scheduler and each other for the cores.

Run: ``uv run python benchmarks/bench_dask.py [--rows 20000000] [--files 8]``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import tempfile
import time

import numpy as np


def _write(directory, rows, files, seed=0):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    per = rows // files
    ys, ss = [], []
    for i in range(files):
        y = (rng.random(per) < 0.1).astype(np.int8)
        s = (1 / (1 + np.exp(-(rng.normal(-2.0, 1.0, per) + 2.5 * y)))).astype(np.float32)
        pq.write_table(pa.table({"y": y, "p": s}), os.path.join(directory, f"part-{i}.parquet"),
                       row_group_size=1 << 20)
        ys.append(y)
        ss.append(s)
    return np.concatenate(ys), np.concatenate(ss)


def _peak_mb():
    """This process's peak resident set since the last `_reset_peak` (VmHWM: unlike
    ru_maxrss it is not inherited from the process that spawned the worker)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident set


def _measure(engine, fn):
    """Run ``fn``: (seconds, pickled bytes of the reduced results that reach the client,
    passes, rows gathered, result)."""
    sent, gathered = [], []
    original = engine._reduce

    def counting(*args, **kwargs):
        out = original(*args, **kwargs)
        sent.append(len(pickle.dumps(out, protocol=5)))
        if args[1] is engine._gather_task:
            gathered.append(len(out[1]))
        return out

    engine._reduce = counting
    try:
        t = time.perf_counter()
        result = fn()
        return time.perf_counter() - t, sum(sent), len(sent), sum(gathered), result
    finally:
        engine._reduce = original


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--files", type=int, default=8)
    args = parser.parse_args(argv)

    import distributed

    from keras_confusion import dask as kd
    from keras_confusion.decisions import tune_threshold

    with tempfile.TemporaryDirectory() as tmp:
        y, s = _write(tmp, args.rows, args.files)
        rows = len(y)
        paths = sorted(os.path.join(tmp, f) for f in os.listdir(tmp))
        sources = kd.file_sources(paths, 1 << 20)
        cols = kd._Columns("y", ("p",), None, 2)
        reference = {}
        for objective in ("f1", "mcc"):
            t = time.perf_counter()
            reference[objective] = tune_threshold(y, s, objective)
            reference[objective + "_s"] = time.perf_counter() - t
        distinct = len(reference["f1"].thresholds) - 1
        print(f"{rows:,} rows in {len(paths)} Parquet files, {distinct:,} distinct scores; "
              f"one machine, arrays in memory: tune f1 {reference['f1_s']:.2f} s, "
              f"mcc {reference['mcc_s']:.2f} s")
        print()
        header = ("| workers | task | seconds | rows/s | peak MB per worker (idle) "
                  "| bytes to client | passes | rows gathered (candidates) |")
        print(header)
        print("|" + "---|" * 8)
        for workers in (1, 2):
            with distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                          processes=True, dashboard_address=None) as cluster, \
                    distributed.Client(cluster) as client:
                # Warm-up: every worker imports the engine and pyarrow once.
                kd.count(sources, cols, 0.5)
                tasks = [("confusion_matrix", lambda: kd.count(sources, cols, 0.5))]
                for objective in ("f1", "mcc"):
                    tasks.append((f"tune {objective}",
                                  lambda o=objective: kd.tune_sources(sources, cols, o)))
                for name, fn in tasks:
                    client.run(_reset_peak)
                    idle = client.run(_peak_mb)
                    seconds, sent, passes, rows_gathered, out = _measure(kd, fn)
                    gathered = ""
                    if name.startswith("tune"):
                        result, _ = out
                        ref = reference[name.split()[1]]
                        assert (result.threshold, result.value) == (ref.threshold, ref.value)
                        assert np.array_equal(result.confusion_matrix, ref.confusion_matrix)
                        gathered = (f"{rows_gathered:,} ({len(result.thresholds) - 1:,} "
                                    "candidates)")
                    peaks = client.run(_peak_mb)
                    peak = " / ".join(f"{peaks[w]:.0f} ({idle[w]:.0f})" for w in sorted(peaks))
                    print(f"| {workers} | {name} | {seconds:.2f} | {rows / seconds / 1e6:.1f} M "
                          f"| {peak} | {sent / 1e3:,.1f} kB | {passes} | {gathered} |")


if __name__ == "__main__":
    main()
