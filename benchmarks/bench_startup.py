"""Start-up of the command line against starting Python with what it must read files.

Runs, in interleaved rounds in fresh processes, a 1,000-row ``keras-confusion evaluate``
(and ``--help``) and ``python -c "import numpy, pyarrow.csv, pyarrow.parquet"``, and
prints each one's best wall time and the ratio to the baseline. The command line's
floor is that import: it must read CSV or Parquet with pyarrow and count with NumPy.

    uv run python benchmarks/bench_startup.py [--rounds 7] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from _stamp import stamp


def _time(command, env) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    line = stamp("benchmarks/bench_startup.py")  # the commit measured, before measuring
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 1000)
        p = np.clip(0.3 * y + 0.7 * rng.random(1000), 0, 1)
        path = os.path.join(tmp, "preds.csv")
        with open(path, "w") as f:
            f.write("y,p\n" + "".join(f"{a},{b:.6f}\n" for a, b in zip(y, p, strict=True)))
        cli = [sys.executable, "-m", "keras_confusion.cli"]
        contenders = {
            "python -c 'import numpy, pyarrow.csv, pyarrow.parquet'":
                [sys.executable, "-c", "import numpy, pyarrow.csv, pyarrow.parquet"],
            "keras-confusion --help": [*cli, "--help"],
            "keras-confusion evaluate (1,000 rows)":
                [*cli, "evaluate", path, "--label", "y", "--score", "p"],
            "keras-confusion tune (1,000 rows)":
                [*cli, "tune", path, "--label", "y", "--score", "p", "--objective", "f1"],
        }
        best = dict.fromkeys(contenders, float("inf"))
        for _ in range(args.rounds):  # interleaved: the machine's drift hits all alike
            for name, command in contenders.items():
                best[name] = min(best[name], _time(command, env))
    base = best[next(iter(contenders))]
    if args.markdown:
        print(line)
        print(f"| start-up, fresh process (best of {args.rounds} interleaved) | wall time "
              "| / baseline |\n|---|---|---|")
        for name, t in best.items():
            print(f"| `{name}` | {t:.3f} s | {t / base:.2f}x |")
    else:
        print(line)
        for name, t in best.items():
            print(f"{name:<60} {t:7.3f} s  {t / base:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
