"""The quality benchmark's tasks are what benchmarks/QUALITY.md says they are.

Builds every task of benchmarks/quality.py (no training): the binary tasks have their
stated positive rate, the multiclass task its 1:50 long tail, and every split keeps
every class in train, validation and test, standardized with the train statistics.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "quality.py"
_spec = importlib.util.spec_from_file_location("quality_benchmark", _PATH)
quality = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(quality)


@pytest.mark.parametrize("name", sorted(quality.BINARY_TASKS))
def test_binary_task_has_its_stated_positive_rate_in_every_split(name):
    builder, rate = quality.BINARY_TASKS[name]
    x, y = builder(0)
    assert set(np.unique(y)) == {0, 1}
    assert abs(y.mean() - rate) <= 0.01 * rate + 1.0 / len(y)
    splits = quality.split(x, y, 0)
    assert sum(len(s[1]) for s in splits) == len(y)
    for _, y_part in splits:
        # Stratified: each split's rate is the task's, up to one sample of rounding.
        assert abs(y_part.mean() - rate) <= 1.0 / len(y_part) + 0.01 * rate


def test_binary_rates_span_20_down_to_1_percent():
    rates = sorted(rate for _, rate in quality.BINARY_TASKS.values())
    assert rates[0] == 0.01 and rates[-1] == 0.20 and len(rates) >= 4


def test_longtail_task_has_a_1_to_50_tail_and_every_class_in_every_split():
    x, y = quality.digits_longtail_50(0)
    counts = np.bincount(y, minlength=10)
    assert np.all(np.diff(counts) <= 0)  # decreasing with the class index
    assert 40 <= counts[0] / counts[-1] <= 60
    train, val, test = quality.split(x, y, 0)
    for _, y_part in (train, val, test):
        assert np.all(np.bincount(y_part, minlength=10) >= 1)
    np.testing.assert_allclose(train[0].mean(0), 0.0, atol=1e-4)
