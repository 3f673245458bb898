"""The report's HTML page, a renderer beside `keras_confusion.report.Report`.

One self-contained file that works offline: the explorer (`_explorer`: a threshold
slider over the stored curve points, or a multiclass heat table), the tables, and the
static figure as a base64 PNG for print and for readers without scripts. The page's
Content-Security-Policy forbids every network request.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from keras_confusion import _explorer
from keras_confusion._counting import count_text
from keras_confusion._text import (
    cell_text,
    guarantee_text,
    interval_text,
    method_text,
    size_text,
)


def figure_png(fig, dpi: int = 100) -> str:
    """A matplotlib figure as an ``<img>`` with a base64 PNG that scales to the page."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    png = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="kc-figure" alt="report figure" src="data:image/png;base64,{png}">'


def table(head, rows) -> str:
    """An HTML table of already escaped cells, in a box that scrolls on a narrow page."""
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" if head else ""
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<div class="kc-scroll"><table>{head}{body}</table></div>'


def _guarantee(tuned, guarantee, stated=None):
    """The guarantee a tuning result states (``confidence``, ``bound`` and a constraint),
    unless one is given; else the one the report states (``Report.guarantee``)."""
    if guarantee is not None:
        return guarantee
    if tuned is None:
        if stated is None:
            return None
        name, floor = stated["constraint"]
        return {"name": name, "floor": floor, "confidence": stated["confidence"],
                "bound": stated["bound"]}
    confidence = getattr(tuned, "confidence", None)
    bound = getattr(tuned, "bound", None)
    constraint = getattr(tuned, "constraint", None)
    if confidence is None or bound is None or constraint is None:
        return None
    return {"name": constraint[0], "floor": constraint[1], "confidence": confidence,
            "bound": bound, "threshold": tuned.threshold}


def explorer(report, *, tuned=None, guarantee=None) -> str:
    """The report's explorer fragment: a threshold explorer over its binary curve, or
    the heat table of its matrix (multiclass, or binary counts without a curve)."""
    if report.curve is None:
        return _explorer.multiclass_explorer(report.confusion_matrix,
                                             class_names=report.class_names,
                                             zero_division=report.zero_division)
    stated = getattr(report, "guarantee", None)
    guarantee = _guarantee(tuned, guarantee, stated if not isinstance(
        (stated or {}).get("bound"), list) else None)  # one bound: a binary report's
    tuned = getattr(tuned, "threshold", tuned)
    return _explorer.binary_explorer(*report.curve, class_names=report.class_names,
                                     threshold=report.threshold, tuned=tuned,
                                     cost_matrix=report.cost_matrix, guarantee=guarantee,
                                     zero_division=report.zero_division,
                                     note=_curve_note(report))


def _curve_note(report):
    """What the explorer must say when its counts at the report's threshold are not the
    report's matrix, or None. A threshold tuned on the rows, figures cross-fitted: the
    explorer showed the optimistic in-sample matrix, unlabelled, above the tables of
    the cross-fitted one."""
    if report.threshold is None:
        return None
    t, cms = (np.asarray(a, dtype="float64") for a in report.curve)
    i = _explorer.candidate_at(t, report.threshold)
    if np.allclose(cms[i], report.confusion_matrix, rtol=1e-9, atol=0.0):
        return None
    return ("In-sample: the explorer counts every row at each threshold. At the chosen "
            "threshold its counts are not the report's matrix and figures below: "
            f"{report.decision}.")


def report_html(report, *, tuned=None, guarantee=None, title="Classification report",
                before: str = "", after: str = "") -> str:
    """The page of a `Report` (see `Report.to_html`), headed ``title``; ``before`` and
    ``after`` are sections of trusted HTML put around the report (escape what goes in
    them)."""
    esc = html.escape
    rows = [[f"<td>{esc(str(n))}</td>", f"<td>{count_text(report.table['support'][i])}</td>",
             *(f"<td>{esc(cell_text(report, f, i))}</td>" for f in report.figures)]
            for i, n in enumerate(report.class_names)]
    per_class = table([esc(f) for f in ("class", "support", *report.figures)], rows)
    overall = table([], [[f"<th>{esc(k)}</th>", f"<td>{esc(interval_text(*v))}</td>"]
                         for k, v in report.overall.items()])
    matrix = table(["", *(esc(str(n)) for n in report.class_names)],
                   [[f"<th>{esc(str(n))}</th>", *(f"<td>{count_text(c)}</td>" for c in row)]
                    for n, row in zip(report.class_names, report.confusion_matrix,
                                      strict=True)])
    decision = esc(report.decision).replace("&gt;=", "&ge;")
    cost = ("" if report.cost_matrix is None else
            " Expected cost per sample under the cost matrix (rows: true, columns: "
            f"decision) {esc(str(report.cost_matrix.tolist()))}.")
    stated = getattr(report, "guarantee", None)
    notes = "".join(f"<p>{esc(n)}</p>" for n in (
        ([] if stated is None else [f"Guarantee: {guarantee_text(stated)}."])
        + list(getattr(report, "notes", []))))
    body = f"""{before}
<h1>{esc(title)}</h1>
<p>{size_text(report)}, {decision}. {esc(method_text(report))}.{cost}</p>
{notes}
{explorer(report, tuned=tuned, guarantee=guarantee)}
<h2>Per class</h2>{per_class}
<h2>Overall</h2>{overall}
<h2>Confusion matrix</h2><p>rows: true class, columns: predicted class</p>{matrix}
<h2>Figure</h2>{figure_png(report.plot())}
{after}"""
    return _explorer.page(title, body)
