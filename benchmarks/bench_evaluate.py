"""Speed and memory of ``keras-confusion evaluate`` on a large Parquet file.

Generates a Parquet file of ``--rows`` rows (default 100 M: an int8 label and a float32
score, row groups of 1 M rows, about 0.5 GB) in a temporary directory, then runs, each
in a fresh child process so that peak memory is its own:

* ``evaluate`` at a fixed threshold, with the default 1000 bootstrap replicas;
* ``evaluate --tune f1`` (beyond 5 M rows the scores are binned; see cli.py);
* the anchors: scikit-learn's ``confusion_matrix`` on the rows loaded whole (as a user
  would do it), and a NumPy bincount on the same loaded arrays (the floor for counting
  alone, without reading).

Peak memory is the child's ``ru_maxrss`` (resident set, includes the interpreter and
imported libraries); ``after import`` is its resident set once ``keras_confusion`` is
imported, before any data is read, so ``peak - after import`` is the memory the data
took. Timings are wall-clock seconds of the work alone (imports excluded); for the
anchors they include loading the rows (shown apart as "load s"), which is part of what
a user of scikit-learn pays.

Run: ``uv run python benchmarks/bench_evaluate.py [--rows 100000000]``. The anchor rows
can be capped with ``--anchor-rows`` (scikit-learn needs several GB at 100 M rows).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CHILD = r"""
import json, resource, sys, time
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
kind, path, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
import keras_confusion  # noqa: F401  (imports keras and the backend)
import pyarrow as pa
base = rss_mb()
t = time.perf_counter()
if kind.startswith("evaluate"):
    from keras_confusion.cli import main
    extra = ["--tune", "f1"] if kind == "evaluate-tune" else []
    out = path + ".json"
    rc = main(["evaluate", path, "--label", "y", "--score", "p", "--quiet", "--json", out,
               *extra])
    assert rc == 0
    cm = json.load(open(out))["confusion_matrix"]
else:
    import pyarrow.parquet as pq
    pf = pq.ParquetFile(path)
    groups, n = [], 0
    while n < rows:  # only the row groups holding the first `rows` rows
        n += pf.metadata.row_group(len(groups)).num_rows
        groups.append(len(groups))
    table = pf.read_row_groups(groups, columns=["y", "p"]).slice(0, rows)
    y = table.column("y").to_numpy()
    p = table.column("p").to_numpy()
    loaded = time.perf_counter() - t
    if kind == "sklearn":
        from sklearn.metrics import confusion_matrix
        cm = confusion_matrix(y, p >= 0.5).tolist()
    else:
        cm = np.bincount(y.astype(np.intp) * 2 + (p >= 0.5), minlength=4).reshape(2, 2).tolist()
seconds = time.perf_counter() - t
load = loaded if not kind.startswith("evaluate") else 0.0
print(json.dumps({"seconds": seconds, "load_seconds": load, "base_mb": base, "peak_mb": rss_mb(),
                  "pool_peak_mb": pa.default_memory_pool().max_memory() / 2**20, "cm": cm}))
"""


def generate(path: str, rows: int, row_group: int = 1 << 20, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    schema = pa.schema([("y", pa.int8()), ("p", pa.float32())])
    with pq.ParquetWriter(path, schema) as writer:
        done = 0
        while done < rows:
            n = min(row_group, rows - done)
            y = (rng.random(n, dtype=np.float32) < 0.1).astype(np.int8)
            p = np.clip(rng.normal(0.3, 0.2, n).astype(np.float32) + 0.35 * y, 0, 1)
            writer.write_table(pa.table({"y": y, "p": p}, schema=schema))
            done += n


def run_child(kind: str, path: str, rows: int) -> dict:
    env = dict(os.environ)
    code = "import numpy as np\n" + CHILD
    proc = subprocess.run([sys.executable, "-c", code, kind, path, str(rows)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--anchor-rows", type=int, default=None,
                        help="rows for the scikit-learn and NumPy anchors (default: all)")
    parser.add_argument("--skip-tune", action="store_true")
    args = parser.parse_args()
    anchor_rows = min(args.rows, args.anchor_rows or args.rows)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "predictions.parquet")
        t = time.perf_counter()
        generate(path, args.rows)
        print(f"generated {args.rows:,} rows ({os.path.getsize(path) / 2**20:.0f} MiB "
              f"Parquet) in {time.perf_counter() - t:.1f} s")
        print(f"backend {os.environ.get('KERAS_BACKEND', '(keras default)')}, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        print(f"{'run':<28}{'rows':>13}{'s':>8}{'(load s)':>9}{'M rows/s':>10}{'peak MB':>9}"
              f"{'after import':>13}{'data MB':>9}")
        results = {}
        kinds = ["evaluate", *([] if args.skip_tune else ["evaluate-tune"]), "numpy", "sklearn"]
        labels = {"evaluate": "evaluate (threshold 0.5)", "evaluate-tune": "evaluate --tune f1",
                  "numpy": "numpy bincount, loaded", "sklearn": "sklearn, loaded whole"}
        for kind in kinds:
            n = args.rows if kind.startswith("evaluate") else anchor_rows
            r = run_child(kind, path, n)
            results[kind] = r
            print(f"{labels[kind]:<28}{n:>13,}{r['seconds']:>8.2f}{r['load_seconds']:>9.2f}"
                  f"{n / r['seconds'] / 1e6:>10.1f}{r['peak_mb']:>9.0f}{r['base_mb']:>13.0f}"
                  f"{r['peak_mb'] - r['base_mb']:>9.0f}")
        if anchor_rows == args.rows:
            assert results["evaluate"]["cm"] == results["sklearn"]["cm"], "counts differ"
            print("evaluate's matrix equals scikit-learn's")
        ev = args.rows / results["evaluate"]["seconds"]
        for kind in ("sklearn", "numpy"):
            other = anchor_rows / results[kind]["seconds"]
            print(f"evaluate / {kind}: {ev / other:.2f}x rows/s")


if __name__ == "__main__":
    main()
