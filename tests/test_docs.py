"""The examples in the docstrings run and print what they show, on every backend."""

from __future__ import annotations

import doctest
import importlib
import warnings

import keras
import numpy as np
import pytest

import keras_confusion as kc

MODULES = ["counts", "formulas", "losses", "metrics", "decisions", "thresholded", "report",
           "plot", "callbacks", "weights"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_print_what_they_show(name):
    module = importlib.import_module(f"keras_confusion.{name}")
    if name == "plot":
        pytest.importorskip("matplotlib")
    globs = {**vars(module), "np": np, "keras": keras, "kc": kc}
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in doctest.DocTestFinder().find(module, module.__name__, globs=globs)
             if t.examples]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in tests:
            runner.run(t, out=lambda text: None)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed"
