"""The layers of DESIGN.md hold: a core that never imports Keras, a Keras layer that
registers itself, task arguments checked one way, counting written once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import BACKEND

SRC = Path(__file__).resolve().parents[1] / "src" / "keras_confusion"
HEAVY = ("keras", "jax", "tensorflow", "torch")


def _run(args, *, env=None, cwd=None, code=None):
    """Run the command line (or ``python -c code``) in a fresh process; return it."""
    command = [sys.executable, "-c", code] if code is not None else [
        sys.executable, "-c", "import sys; from keras_confusion.cli import main; "
        "sys.exit(main(sys.argv[1:]))", *args]
    full_env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    full_env.update(env or {})
    return subprocess.run(command, capture_output=True, text=True, env=full_env, cwd=cwd,
                          timeout=300)


def _imported_top_level(stderr: str) -> set[str]:
    """Top-level packages named in a ``PYTHONPROFILEIMPORTTIME`` report."""
    return {m.group(1).split(".")[0]
            for m in re.finditer(r"\|\s+([\w.]+)\s*$", stderr, flags=re.MULTILINE)}


@pytest.fixture
def predictions(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1000)
    p = np.clip(0.3 * y + 0.7 * rng.random(1000), 0, 1)
    path = tmp_path / "preds.csv"
    path.write_text("y,p\n" + "".join(f"{a},{b:.6f}\n" for a, b in zip(y, p, strict=True)))
    return path


@pytest.mark.keras_free
@pytest.mark.parametrize("command", [
    ["--help"],
    ["evaluate", "{file}", "--label", "y", "--score", "p", "--bootstrap", "200"],
    ["evaluate", "{file}", "--label", "y", "--score", "p", "--tune", "f1", "--html",
     "{dir}/r.html", "--json", "{dir}/r.json"],
    ["tune", "{file}", "--label", "y", "--score", "p", "--objective", "specificity",
     "--constraint", "recall=0.9"],
], ids=["help", "evaluate", "evaluate-tune-html", "tune"])
def test_command_line_imports_no_keras_and_no_backend(command, predictions, tmp_path):
    args = [a.format(file=predictions, dir=tmp_path) for a in command]
    done = _run(args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    heavy = _imported_top_level(done.stderr) & {*HEAVY, "pandas"}
    # pandas too: pyarrow's to_numpy imports it, about half of a small file's start-up.
    assert not heavy, f"keras-confusion {command[0]} imported {sorted(heavy)}"


@pytest.mark.keras_free
def test_help_without_keras_backend_writes_nothing_to_stderr():
    done = _run(["--help"])
    assert done.returncode == 0
    assert "evaluate" in done.stdout
    assert done.stderr == ""


@pytest.mark.keras_free
def test_core_modules_import_no_keras_and_no_backend():
    code = ("import sys, keras_confusion as kc\n"
            "from keras_confusion import decisions, report, plot, formulas, cli, _io, _files\n"
            "kc.tune_threshold([0, 1, 1, 0], [0.1, 0.8, 0.6, 0.3])\n"
            "kc.report([0, 1, 1, 0], [0.1, 0.8, 0.6, 0.3], bootstrap=10)\n"
            "kc.formulas.mcc([[3, 1], [2, 4]]); kc.class_weights([0, 1, 1])\n")
    _assert_runs_without_heavy_imports(code)


def _assert_runs_without_heavy_imports(code: str):
    """``code`` succeeds in a fresh process and leaves no module of `HEAVY` imported."""
    done = _run([], code=code + f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


@pytest.mark.keras_free
def test_pandas_and_other_array_likes_reach_the_core_without_keras():
    # Anything with a dtype and a shape was taken for a backend tensor: a pandas Series
    # imported Keras, TensorFlow and JAX (10.7 s for 4 rows), or failed with "No module
    # named 'keras'" where Keras is not installed. Here Keras cannot be imported at all.
    pytest.importorskip("pandas")
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        f"        if name.partition('.')[0] in {HEAVY!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np, pandas as pd, keras_confusion as kc\n"
        "class Duck:  # a minimal array-like: dtype, shape, __array__\n"
        "    def __init__(self, a): self.a = np.asarray(a)\n"
        "    dtype = property(lambda self: self.a.dtype)\n"
        "    shape = property(lambda self: self.a.shape)\n"
        "    def __array__(self, dtype=None, copy=None): return self.a\n"
        "y, s = [0, 1, 1, 0, 1, 0], [0.1, 0.8, 0.6, 0.3, 0.35, 0.7]\n"
        "w = [1.0, 2.0, 1.0, 0.5, 1.0, 3.0]\n"
        "ref = kc.tune_threshold(np.array(y), np.array(s), sample_weight=np.array(w))\n"
        "for wrap in (pd.Series, Duck):\n"
        "    got = kc.tune_threshold(wrap(y), wrap(s), sample_weight=wrap(w))\n"
        "    assert got.threshold == ref.threshold, (wrap, got.threshold)\n"
        "    assert np.array_equal(got.confusion_matrix, ref.confusion_matrix)\n"
        "    r = kc.report(wrap(y), wrap(s), threshold=0.5, bootstrap=0)\n"
        "    assert r.confusion_matrix.tolist() == [[2, 1], [1, 2]], r.confusion_matrix\n"
        "    assert kc.class_weights(wrap(y)) == kc.class_weights(y)\n"
        "cm = pd.DataFrame([[3, 1], [2, 4]])\n"
        "assert kc.formulas.mcc(cm) == kc.formulas.mcc(np.array([[3, 1], [2, 4]]))\n"
        "frame = pd.DataFrame({'a': [0.2, 0.7, 0.1], 'b': [0.8, 0.3, 0.9]})\n"
        "assert kc.cost_decisions(frame, [[0, 1], [5, 0]]).tolist() == [1, 1, 1]\n"
        "assert kc.report([1, 0, 1], frame, bootstrap=0).confusion_matrix.tolist() == "
        "[[1, 0], [0, 2]]\n")
    _assert_runs_without_heavy_imports(code)


@pytest.mark.parametrize("keras_first", [True, False], ids=["keras-first", "ours-first"])
def test_load_model_in_a_fresh_process_after_importing_keras_confusion(tmp_path, keras_first):
    """``import keras_confusion`` alone registers every Keras object, whether Keras was
    imported before it or is imported after it."""
    import keras

    import keras_confusion as kc

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", loss=kc.losses.SpecificityLoss(min_sensitivity=0.9),
                  metrics=[kc.metrics.MCC(), kc.metrics.ThresholdConfusion(num_thresholds=5)])
    x = np.random.default_rng(0).random((32, 3)).astype("float32")
    y = (x[:, 0] > 0.5).astype("float32")
    model.fit(x, y, epochs=1, verbose=0)
    applied = kc.Thresholded(model, threshold=0.3)
    path = tmp_path / "m.keras"
    applied.save(path)
    expected = np.asarray(keras.ops.convert_to_numpy(applied.predict(x, verbose=0)))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    imports = "import keras; import keras_confusion" if keras_first else \
        "import keras_confusion; import keras"
    code = (f"{imports}\nimport numpy as np\n"
            f"m = keras.saving.load_model({str(path)!r})\n"
            f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
            f"np.save({str(tmp_path / 'got.npy')!r}, "
            "np.asarray(keras.ops.convert_to_numpy(m.predict(x, verbose=0))))\n"
            f"y = np.load({str(tmp_path / 'y.npy')!r})\n"
            "logs = m.model.evaluate(x, y, return_dict=True, verbose=0)\n"
            "print(type(m).__name__, type(m.model.loss).__name__, *sorted(logs))")
    done = _run([], code=code, env={"KERAS_BACKEND": BACKEND})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[:2] == ["Thresholded", "SpecificityLoss"]
    assert {"mcc", "threshold_confusion"} <= set(done.stdout.split()[2:]), done.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "got.npy"), expected)


@pytest.mark.parametrize("first", [
    "import keras_confusion as kc; kc.confusion_matrix",
    "from keras_confusion.counts import confusion_matrix",
    "import keras_confusion.formulas; from keras_confusion import soft_confusion_matrix",
    "from keras_confusion.weights import class_weights",
], ids=["package_then_counts", "counts_first", "core_then_counts", "weights_first"])
def test_counts_import_first_in_a_fresh_process_and_the_keras_layer_is_registered(first):
    """The counts module imported before Keras: its ``import keras`` runs the package's
    hook, whose registration imports the Keras layer, which imports from counts (an
    ImportError of a partly initialised module until the hook waited for counts)."""
    code = (f"{first}\nimport keras, numpy as np\nimport keras_confusion as kc\n"
            "cm = kc.confusion_matrix(np.array([0, 1, 1]), np.array([0.2, 0.7, 0.4]))\n"
            "print(np.asarray(keras.ops.convert_to_numpy(cm)).astype(int).tolist())\n"
            "print(*(keras.saving.get_registered_object(f'keras_confusion>{name}').__name__\n"
            "        for name in ('ConfusionMatrix', 'ConfusionLoss', 'Thresholded')))")
    done = _run([], code=code, env={"KERAS_BACKEND": BACKEND})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:2] == [
        "[[1, 0], [1, 1]]", "ConfusionMatrix ConfusionLoss Thresholded"], done.stdout


def _task_arg_owners():
    import keras_confusion as kc

    data = (np.zeros((4, 3)), np.zeros(4))
    return {
        "ConfusionLoss": lambda **kw: kc.losses.ConfusionLoss("f1", **kw),
        "WeightedCrossentropy": lambda **kw: kc.losses.WeightedCrossentropy([1, 2], **kw),
        "ConfusionMatrix": lambda **kw: kc.metrics.ConfusionMatrix(**kw),
        "Specificity": lambda **kw: kc.metrics.Specificity(**kw),
        "ConfusionHistory": lambda **kw: kc.callbacks.ConfusionHistory(data, **kw),
    }


@pytest.mark.parametrize("owner", list(_task_arg_owners()))
def test_task_arguments_are_refused_alike_by_losses_metrics_and_callbacks(owner):
    make = _task_arg_owners()[owner]
    with pytest.raises(ValueError, match=r"`from_logits`.*Received: from_logits='yes'"):
        make(from_logits="yes")
    with pytest.raises(ValueError, match=r"`num_classes`.*Received: num_classes=1\b"):
        make(num_classes=1)
    make(from_logits=True)  # a bool is taken as it is


def test_thresholds_module_names_still_import_with_a_deprecation_warning():
    from keras_confusion import decisions, thresholded, thresholds

    with pytest.warns(DeprecationWarning, match="moved to keras_confusion.decisions"):
        assert thresholds.tune_threshold is decisions.tune_threshold
    with pytest.warns(DeprecationWarning, match="moved to keras_confusion.thresholded"):
        assert thresholds.Thresholded is thresholded.Thresholded


@pytest.mark.keras_free
def test_counting_rules_are_written_once_in_the_core():
    """The decision rule and the reverse cumulative sum live in `_counting`; no other
    module compares scores with a threshold or writes a tail sum itself."""
    import ast

    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "_counting.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            code = ast.unparse(node)
            sides = [node.left, *node.comparators] if isinstance(node, ast.Compare) else []
            if any(isinstance(o, ast.GtE) for o in getattr(node, "ops", ())) \
                    and not any(isinstance(v, ast.Constant) for v in sides) \
                    and re.search(r"\b(t|thr|threshold|thresholds)\b", code):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: {code}")
            if isinstance(node, ast.Call) and code.startswith(("np.cumsum", "ops.cumsum")) \
                    and ("[::-1]" in code or "flip" in code):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: {code}")
    assert not offenders, offenders
