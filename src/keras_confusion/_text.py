"""The report's plain text and JSON, renderers beside `keras_confusion.report.Report`.

Each renderer takes a `Report` and reads only its attributes (the matrix, ``table``,
``overall``, the settings of its intervals): the results object holds no output code,
and this module imports nothing from it, so `Report.to_text` and the like delegate
here without an import cycle. The formatters (`guarantee_text`, `json_number`,
`interval_text`) serve the other outputs too: the HTML page (`_html`) and the command
line's JSON.
"""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np

from keras_confusion._counting import count_text
from keras_confusion._files import write_atomic

#: What the intervals are, as `report_dict` names them.
INTERVAL_METHOD = ("Bayesian bootstrap: equal-tailed quantiles over draws from the "
                   "Jeffreys-Dirichlet posterior Dirichlet(cm + 1/2) of the cells")
#: What `INTERVAL_METHOD` adds for a weighted report.
WEIGHTED_METHOD = ", each weighted cell by its Kish effective count"


# ---------------------------------------------------------------------- formatters


def percent(level: float) -> str:
    """``level`` as a percentage, exactly as written: 0.95 -> "95%", 0.999 -> "99.9%"."""
    return f"{(Decimal(repr(float(level))) * 100).normalize():f}%"


def interval_text(v, lo, hi) -> str:
    """``"0.812 [0.771, 0.848]"``, or the value alone when there is no interval."""
    if lo is None or not np.isfinite(lo):
        return f"{v:.3f}"
    return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def guarantee_text(guarantee) -> str:
    """``"recall >= 0.9 with 95 % confidence; lower bound 0.913 at this threshold"``."""
    name, floor = guarantee["constraint"]
    bound = guarantee["bound"]
    bounds = (", ".join(f"{b:.3f}" for b in bound) if isinstance(bound, list)
              else f"{bound:.3f}")
    where = "at these thresholds (one per label)" if isinstance(bound, list) else \
        "at this threshold"
    level = percent(guarantee["confidence"]).replace("%", " %")
    scope = {"label": " for each label", "all": " for all labels at once"}.get(
        guarantee.get("family"), "")
    return (f"{name} >= {floor:g} with {level} confidence{scope}; lower bound {bounds} "
            f"{where}")


def json_number(x):
    """A float for JSON: infinities as the strings "inf" / "-inf" (JSON has none)."""
    if x is None or np.isfinite(x):
        return x
    return "inf" if x > 0 else "-inf"


def printable(text: str) -> str:
    """``text`` safe to print to a terminal: control and format characters (escape
    sequences, newlines, bidirectional overrides) are written as Python escapes, e.g.
    ``\\x1b``, so a class or column name cannot move the cursor or fake a line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def _jsonable_seed(seed):
    return seed if isinstance(seed, (int, type(None))) else repr(seed)


# ------------------------------------------------------------ pieces of a report


def size_text(report) -> str:
    """``"N samples"``, or the total weight of a weighted report."""
    if report.weighted:
        rows = "" if report.num_rows is None else f" over {report.num_rows} rows"
        return f"total weight {count_text(report.num_samples)}{rows} (weighted samples)"
    return f"{report.num_samples} samples"


def method_text(report) -> str:
    """How the report's intervals were made, in one line."""
    if not report.bootstrap:
        return "no intervals (bootstrap=0)"
    return (f"{percent(report.confidence)} intervals: Bayesian bootstrap, "
            f"{report.bootstrap} draws from the Jeffreys-Dirichlet posterior of the "
            f"cells{WEIGHTED_METHOD if report.weighted else ''}, seed {report.seed}")


def cell_text(report, fig: str, i: int) -> str:
    """The figure ``fig`` of class ``i`` with its interval, as the table shows it."""
    table = report.table
    return interval_text(table[fig][i], table[f"{fig}_low"][i], table[f"{fig}_high"][i])


# ---------------------------------------------------------------------- renderers


def report_dict(report) -> dict:
    """The report as plain JSON-serialisable Python objects (NaN becomes `None`)."""

    def clean(x):
        return None if isinstance(x, float) and not np.isfinite(x) else x

    table = report.table
    classes = []
    for i, name in enumerate(report.class_names):
        row = {"class": name, "support": table["support"][i]}
        for fig in report.figures:
            row[fig] = {"value": clean(table[fig][i]), "low": clean(table[f"{fig}_low"][i]),
                        "high": clean(table[f"{fig}_high"][i])}
        classes.append(row)
    cost = report.cost_matrix
    return {
        "num_samples": report.num_samples,
        "num_rows": report.num_rows,
        "weighted": report.weighted,
        "class_names": list(report.class_names),
        "threshold": json_number(report.threshold),
        "decision": report.decision,
        "confusion_matrix": report.confusion_matrix.tolist(),
        "cost_matrix": None if cost is None else cost.tolist(),
        "classes": classes,
        "overall": {k: {"value": clean(v), "low": clean(lo), "high": clean(hi)}
                    for k, (v, lo, hi) in report.overall.items()},
        "intervals": {"method": INTERVAL_METHOD + (WEIGHTED_METHOD if report.weighted
                                                   else ""),
                      "replicas": report.bootstrap,
                      "confidence": report.confidence, "seed": _jsonable_seed(report.seed)},
        "guarantee": None if report.guarantee is None else {
            **report.guarantee, "text": guarantee_text(report.guarantee)},
        "notes": list(report.notes),
    }


def render_json(report, path=None, *, indent=2) -> str:
    """`report_dict` as JSON text; also written to ``path`` (whole or not at all) when
    given."""
    text = json.dumps(report_dict(report), indent=indent)
    if path is not None:
        write_atomic(path, text.encode())
    return text


def render_text(report) -> str:
    """A plain-text report: matrix, per-class table and overall figures."""
    names = [printable(str(n)) for n in report.class_names]
    width = max(8, *(len(n) for n in names))
    lines = []
    head = f"{size_text(report)}, {printable(report.decision)}"
    lines += [head, "", "confusion matrix (rows: true, columns: predicted)"]
    cw = max(len(count_text(c)) for c in report.confusion_matrix.ravel()) + 2
    if sum(len(n) for n in names) + len(names) <= 80:
        cw = max(cw, *(len(n) + 1 for n in names))
        cols = names
    else:  # too many classes for names as column headers: number them
        names = [f"{i} {n}" for i, n in enumerate(names)]
        width = max(width, *(len(n) for n in names))
        cols = [str(i) for i in range(len(names))]
    lines.append(" " * width + "".join(f"{c:>{cw}}" for c in cols))
    for n, row in zip(names, report.confusion_matrix, strict=True):
        lines.append(f"{n:<{width}}" + "".join(f"{count_text(c):>{cw}}" for c in row))
    lines.append("")
    fw = 22 if report.bootstrap else 8
    header = f"{'class':<{width}} {'support':>9}" + "".join(
        f" {f:>{fw}}" for f in report.figures)
    lines.append(header)
    for i, n in enumerate(names):
        lines.append(f"{n:<{width}} {count_text(report.table['support'][i]):>9}" + "".join(
            f" {cell_text(report, f, i):>{fw}}" for f in report.figures))
    lines.append("")
    for k, (v, lo, hi) in report.overall.items():
        lines.append(f"{k:<18} {interval_text(v, lo, hi)}")
    if report.cost_matrix is not None:
        lines += ["", f"expected cost per sample, cost matrix (rows: true, columns: "
                      f"decision) {report.cost_matrix.tolist()}"]
    if report.guarantee is not None:
        lines += ["", f"guarantee: {guarantee_text(report.guarantee)}"]
    if report.notes:
        lines += ["", *report.notes]
    lines += ["", method_text(report)]
    return "\n".join(lines)
