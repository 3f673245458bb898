"""The threshold explorer of the HTML report: a slider over the stored curve points.

NumPy only (no Keras): `binary_explorer` and `multiclass_explorer` return an HTML
fragment, `page` the self-contained page around it. The data travel as JSON in a
``<script type="application/json">`` block (``<``, ``>`` and ``&`` escaped, so no class
name can close it); the page's own script reads it and builds everything with
``textContent``, never with markup, so names are shown as written.

The page makes no network request: its Content-Security-Policy forbids every source
but its own inline styles, ``data:`` images, and the one inline script (allowed by its
SHA-256 hash, so even markup slipped past the escaping could not run a script).

A binary explorer shows the candidates it is given (each a threshold and its ``[[TN,
FP], [FN, TP]]`` counts, positive when ``score >= threshold``), at most about 4,000:
past `MAX_CANDIDATES`, the points the report's figures draw (`plot.drawn_points`),
the chosen threshold's and the marked ones. The counts at a threshold ``t`` are those
of the smallest candidate ``>= t`` only when that candidate is the smallest score ``>=
t``; the report keeps that candidate for its threshold, and the marks are placed there.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Mapping, Sequence

import numpy as np

from keras_confusion._validation import arg_error, check_cost_matrix

__all__ = ["CSP", "binary_explorer", "candidate_at", "multiclass_explorer", "page"]

#: More candidates than this are thinned to the points the figures draw.
MAX_CANDIDATES = 4096

#: Figures whose value can only grow as the threshold moves one way, on any data: a
#: floor guaranteed at a threshold then holds beyond it (recall at every lower one).
_MONOTONE = {"recall": "below", "sensitivity": "below", "tpr": "below",
             "true_positive_rate": "below", "specificity": "above", "tnr": "above",
             "true_negative_rate": "above"}

_SCRIPT = r"""(function () {
"use strict";
// SVG's namespace, from the parser: the page holds no address of any kind.
var SVGNS = (function () {
  var box = document.createElement("div");
  box.innerHTML = "<svg></svg>";
  return box.firstChild.namespaceURI;
}());
var NAMES = {precision: "precision", recall: "recall (sensitivity)",
  specificity: "specificity", f1: "F1", mcc: "MCC", accuracy: "accuracy",
  expected_cost: "expected cost per sample"};

function h(tag, attrs, kids) {
  var e = document.createElement(tag);
  var k;
  for (k in attrs || {}) {
    if (k === "text") { e.textContent = attrs[k]; } else { e.setAttribute(k, attrs[k]); }
  }
  (kids || []).forEach(function (c) { e.appendChild(c); });
  return e;
}
function s(tag, attrs, text) {
  var e = document.createElementNS(SVGNS, tag);
  var k;
  for (k in attrs) { e.setAttribute(k, attrs[k]); }
  if (text !== undefined) { e.textContent = text; }
  return e;
}
function ratio(a, b, z) { return b > 0 ? a / b : z; }
function asNumber(x) { return typeof x === "string" ? Number(x) : x; }
function countText(c) {
  if (Number.isInteger(c)) { return String(c); }
  var t = c.toPrecision(6);
  if (t.indexOf("e") < 0 && t.indexOf(".") >= 0) { t = t.replace(/0+$/, "").replace(/\.$/, ""); }
  return t;
}
function thresholdText(t) {
  return t === Infinity ? "inf" : t === -Infinity ? "-inf" : String(t);
}
function parseThreshold(text) {
  var t = String(text).trim().toLowerCase();
  if (t === "inf" || t === "+inf" || t === "infinity" || t === "+infinity") { return Infinity; }
  if (t === "-inf" || t === "-infinity") { return -Infinity; }
  if (t === "" || !/^[-+0-9.e]+$/.test(t)) { return NaN; }
  return Number(t);
}
function percent(x) { return (100 * x).toFixed(1) + "%"; }

// The figures of one [[tn, fp], [fn, tp]] matrix, as keras_confusion.formulas has them.
function figures(c, z, cost) {
  var n = c.tn + c.fp + c.fn + c.tp;
  var sc = n > 0 ? n : 1;
  var a = c.tp / sc, b = c.fp / sc, d = c.fn / sc, e = c.tn / sc;
  var den = (a + b) * (a + d) * (e + b) * (e + d);
  var out = [
    ["precision", ratio(c.tp, c.tp + c.fp, z)],
    ["recall", ratio(c.tp, c.tp + c.fn, z)],
    ["specificity", ratio(c.tn, c.tn + c.fp, z)],
    ["f1", ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn, z)],
    ["mcc", den > 0 && n > 0 ? (a * e - b * d) / Math.sqrt(den) : z],
    ["accuracy", ratio(c.tp + c.tn, n, z)]
  ];
  if (cost) {
    out.push(["expected_cost", ratio(c.tn * cost[0][0] + c.fp * cost[0][1] +
      c.fn * cost[1][0] + c.tp * cost[1][1], n, z)]);
  }
  return out;
}

// A 2 x 2 matrix (counts, and rates within each true class) and a table of figures.
function matrixView(names) {
  var cells = {};
  var body = h("tbody");
  var rows = [["tn", "fp"], ["fn", "tp"]];
  rows.forEach(function (row, i) {
    var tr = h("tr", {}, [h("th", {scope: "row", text: "true " + names[i]})]);
    row.forEach(function (key) {
      var count = h("span", {"data-kc": key, "class": "kc-count"});
      var rate = h("span", {"data-kc": key + "_rate", "class": "kc-rate"});
      var td = h("td", {"class": "kc-cell", title: key.toUpperCase()}, [count, rate]);
      cells[key] = {td: td, count: count, rate: rate};
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  var head = h("thead", {}, [h("tr", {}, [h("th", {text: ""}),
    h("th", {scope: "col", text: "predicted " + names[0]}),
    h("th", {scope: "col", text: "predicted " + names[1]})])]);
  var table = h("table", {"class": "kc-matrix"}, [head, body]);
  function set(c) {
    var totals = {tn: c.tn + c.fp, fp: c.tn + c.fp, fn: c.fn + c.tp, tp: c.fn + c.tp};
    Object.keys(cells).forEach(function (key) {
      var r = ratio(c[key], totals[key], 0);
      cells[key].count.textContent = countText(c[key]);
      cells[key].rate.textContent = percent(r);
      heat(cells[key].td, r);
    });
  }
  return {el: h("div", {"class": "kc-scroll"}, [table]), set: set};
}
function heat(td, r) {
  td.style.backgroundColor = "rgba(31, 100, 170, " + (0.08 + 0.8 * r).toFixed(3) + ")";
  td.style.color = r > 0.55 ? "#fff" : "#111";
}
function figureView() {
  var body = h("tbody");
  var cells = {};
  function set(list) {
    list.forEach(function (f) {
      if (!cells[f[0]]) {
        cells[f[0]] = h("td", {"data-kc": f[0]});
        body.appendChild(h("tr", {}, [h("th", {scope: "row", text: NAMES[f[0]]}), cells[f[0]]]));
      }
      cells[f[0]].textContent = f[1].toFixed(4);
    });
  }
  return {el: h("table", {"class": "kc-figures"}, [body]), set: set};
}

// An SVG plot of a curve in the unit square, with marks and a moving point.
function plotView(title, xlabel, ylabel, xs, ys, step, chance) {
  var L = 46, T = 24, W = 260, H = 230;
  function X(x) { return (L + W * x).toFixed(2); }
  function Y(y) { return (T + H * (1 - y)).toFixed(2); }
  var svg = s("svg", {viewBox: "0 0 320 300", role: "img", "class": "kc-svg"});
  svg.appendChild(s("title", {}, title));
  svg.appendChild(s("text", {x: L + W / 2, y: 15, "text-anchor": "middle",
    "class": "kc-svg-title"}, title));
  svg.appendChild(s("rect", {x: L, y: T, width: W, height: H, fill: "none", stroke: "#999"}));
  [0, 0.25, 0.5, 0.75, 1].forEach(function (v) {
    svg.appendChild(s("line", {x1: X(v), x2: X(v), y1: T + H, y2: T + H + 4, stroke: "#999"}));
    svg.appendChild(s("text", {x: X(v), y: T + H + 15, "text-anchor": "middle"}, String(v)));
    svg.appendChild(s("line", {x1: L - 4, x2: L, y1: Y(v), y2: Y(v), stroke: "#999"}));
    svg.appendChild(s("text", {x: L - 6, y: Number(Y(v)) + 4, "text-anchor": "end"}, String(v)));
  });
  svg.appendChild(s("text", {x: L + W / 2, y: T + H + 32, "text-anchor": "middle"}, xlabel));
  svg.appendChild(s("text", {x: 12, y: T + H / 2, "text-anchor": "middle",
    transform: "rotate(-90 12 " + (T + H / 2) + ")"}, ylabel));
  if (chance) {
    svg.appendChild(s("line", {x1: X(chance[0]), y1: Y(chance[1]), x2: X(chance[2]),
      y2: Y(chance[3]), stroke: "#aaa", "stroke-dasharray": "3 3"}));
  }
  var pts = [];
  var i;
  for (i = 0; i < xs.length; i++) {
    if (step && i > 0) { pts.push(X(xs[i]) + "," + Y(ys[i - 1])); }
    pts.push(X(xs[i]) + "," + Y(ys[i]));
  }
  svg.appendChild(s("polyline", {points: pts.join(" "), fill: "none", stroke: "#1f64aa",
    "stroke-width": "1.6"}));
  var marks = s("g");
  svg.appendChild(marks);
  var guideX = s("line", {y1: T, y2: T + H, stroke: "#c33", "stroke-width": "0.8",
    "stroke-dasharray": "2 3"});
  var guideY = s("line", {x1: L, x2: L + W, stroke: "#c33", "stroke-width": "0.8",
    "stroke-dasharray": "2 3"});
  var dot = s("circle", {r: 5, fill: "#c33", stroke: "#fff", "stroke-width": "1.5"});
  svg.appendChild(guideX);
  svg.appendChild(guideY);
  svg.appendChild(dot);
  function mark(i, shape, colour, label) {
    var x = Number(X(xs[i])), y = Number(Y(ys[i]));
    var m = shape === "square"
      ? s("rect", {x: x - 4.5, y: y - 4.5, width: 9, height: 9, fill: "none", stroke: colour,
        "stroke-width": "2"})
      : s("path", {d: "M" + x + " " + (y - 6) + "L" + (x + 6) + " " + y + "L" + x + " " + (y + 6) +
        "L" + (x - 6) + " " + y + "Z", fill: "none", stroke: colour, "stroke-width": "2"});
    m.appendChild(s("title", {}, label));
    marks.appendChild(m);
  }
  function move(i) {
    var x = X(xs[i]), y = Y(ys[i]);
    dot.setAttribute("cx", x);
    dot.setAttribute("cy", y);
    guideX.setAttribute("x1", x);
    guideX.setAttribute("x2", x);
    guideY.setAttribute("y1", y);
    guideY.setAttribute("y2", y);
  }
  return {el: h("figure", {"class": "kc-plot"}, [svg]), move: move, mark: mark};
}

function readHash() {
  var m = /(?:^#|&)threshold=([^&]*)/.exec(window.location.hash);
  if (!m) { return NaN; }
  try { return parseThreshold(decodeURIComponent(m[1])); } catch (e) { return NaN; }
}
function writeHash(t) {
  var hash = "#threshold=" + encodeURIComponent(thresholdText(t));
  try {
    window.history.replaceState(null, "", hash);
  } catch (e) {
    window.location.replace(hash);
  }
}
function copyText(text, status) {
  function fallback() {
    var area = h("textarea", {readonly: "", "class": "kc-offscreen"});
    area.value = text;
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    status.textContent = ok ? "copied " + text : "copy this: " + text;
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(function () {
      status.textContent = "copied " + text;
    }, fallback);
  } else {
    fallback();
  }
}

function binary(root, d) {
  var thr = d.thresholds.map(asNumber);
  var n = thr.length;
  var z = d.zero_division;
  var names = d.classes;
  function counts(i) {
    return {tp: d.tp[i], fp: d.fp[i], fn: d.fn ? d.fn[i] : d.positives - d.tp[i],
      tn: d.tn ? d.tn[i] : d.negatives - d.fp[i]};
  }
  function nearest(x) {
    if (isNaN(x)) { return -1; }
    var lo = 0, hi = n;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (thr[mid] < x) { lo = mid + 1; } else { hi = mid; }
    }
    if (lo === n) { return n - 1; }
    if (lo === 0 || thr[lo] === x) { return lo; }
    return x - thr[lo - 1] <= thr[lo] - x ? lo - 1 : lo;
  }
  // The curves, as the report's static figure draws them.
  var rec = [], prec = [], fpr = [];
  var i;
  for (i = 0; i < n; i++) {
    var c = counts(i);
    rec.push(ratio(c.tp, c.tp + c.fn, 0));
    prec.push(ratio(c.tp, c.tp + c.fp, 1));
    fpr.push(1 - ratio(c.tn, c.tn + c.fp, 1));
  }
  var c0 = counts(0);
  var base = ratio(c0.tp + c0.fn, c0.tp + c0.fn + c0.tn + c0.fp, 0);
  var pr = plotView("precision-recall", "recall", "precision", rec, prec, true, [0, base, 1, base]);
  var roc = plotView("ROC", "false positive rate", "true positive rate (recall)", fpr, rec, false,
    [0, 0, 1, 1]);

  var slider = h("input", {type: "range", min: "0", max: String(n - 1), step: "1",
    "class": "kc-slider", "aria-label": "threshold: stored candidate"});
  var field = h("input", {type: "text", inputmode: "decimal", spellcheck: "false",
    "class": "kc-field", "aria-label": "threshold"});
  var copy = h("button", {type: "button", text: "copy threshold"});
  var status = h("span", {"class": "kc-status", role: "status"});
  var ticks = h("div", {"class": "kc-ticks", "aria-hidden": "true"});
  var jumps = h("div", {"class": "kc-jumps"});
  var shown = h("span", {"data-kc": "threshold", "class": "kc-threshold"});
  var where = h("span", {"class": "kc-where"});
  var matrix = matrixView(names);
  var figs = figureView();
  var cards = [h("div", {"class": "kc-card"}, [h("h3", {text: "confusion matrix"}),
      matrix.el, h("p", {"class": "kc-note", text: "counts, and % of each true class"})]),
    h("div", {"class": "kc-card"}, [h("h3", {text: "figures"}), figs.el])];
  var guarantee = null;
  if (d.guarantee) {
    var g = d.guarantee;
    guarantee = h("p", {"class": "kc-guarantee-status"});
    var floorLine = h("p", {}, [
      h("strong", {text: "guaranteed: "}),
      document.createTextNode(g.name + " \u2265 "),
      h("span", {"data-kc": "floor", text: String(g.floor)}),
      document.createTextNode(" on new data with probability " + g.confidence +
        " at threshold " + thresholdText(asNumber(g.threshold)) + " (lower confidence bound " +
        Number(g.bound).toFixed(4) + ")")]);
    cards.push(h("div", {"class": "kc-card kc-guarantee"}, [h("h3", {text: "guarantee"}),
      floorLine, guarantee]));
  }
  root.appendChild(h("div", {"class": "kc-controls"}, [
    h("label", {"class": "kc-label", text: "threshold"}),
    h("div", {"class": "kc-slider-wrap"}, [slider, ticks]),
    field, copy, status]));
  root.appendChild(jumps);
  root.appendChild(h("p", {"class": "kc-decision"}, [
    document.createTextNode("positive (" + names[1] + ") when score \u2265 "), shown,
    document.createTextNode(" "), where]));
  root.appendChild(h("div", {"class": "kc-grid"}, cards));
  root.appendChild(h("div", {"class": "kc-plots"}, [pr.el, roc.el]));

  var colours = ["#2a9d55", "#8a4fc4", "#d08a00"];
  (d.marks || []).forEach(function (m, j) {
    var colour = colours[j % colours.length];
    var label = m.label + " " + thresholdText(asNumber(m.threshold));
    pr.mark(m.index, j === 0 ? "square" : "diamond", colour, label);
    roc.mark(m.index, j === 0 ? "square" : "diamond", colour, label);
    var tick = h("span", {"class": "kc-tick", title: label});
    tick.style.left = "calc(" + (n > 1 ? m.index / (n - 1) : 0) + " * (100% - 16px) + 8px)";
    tick.style.backgroundColor = colour;
    ticks.appendChild(tick);
    var b = h("button", {type: "button", "data-kc-mark": m.label, text: label});
    b.style.borderColor = colour;
    b.addEventListener("click", function () { show(m.index, true); });
    jumps.appendChild(b);
  });

  var current = 0;
  function show(i, user) {
    current = i;
    var c = counts(i);
    var t = thr[i];
    slider.value = String(i);
    field.value = thresholdText(t);
    shown.textContent = thresholdText(t);
    var chosen = asNumber(d.chosen_threshold);
    where.textContent = "(candidate " + (i + 1) + " of " + n + (t === Infinity
      ? ": nothing positive" : "") + (i === d.chosen && d.chosen_threshold !== null &&
      chosen !== t ? "; the same decisions as the chosen threshold " + thresholdText(chosen)
      : "") + ")";
    matrix.set(c);
    figs.set(figures(c, z, d.cost));
    pr.move(i);
    roc.move(i);
    if (guarantee) {
      var gi = d.guarantee.index, side = d.guarantee.holds;
      var ok = i === gi || (side === "below" && i < gi) || (side === "above" && i > gi);
      guarantee.textContent = ok
        ? (i === gi ? "This is the guaranteed threshold." : "The floor holds here too: " +
          d.guarantee.name + " can only be higher at this threshold.")
        : "Not guaranteed at this threshold: the floor is guaranteed at " +
          thresholdText(asNumber(d.guarantee.threshold)) + ".";
      guarantee.className = "kc-guarantee-status " + (ok ? "kc-ok" : "kc-warn");
    }
    if (user) { writeHash(t); }
  }
  slider.addEventListener("input", function () { show(Number(slider.value), true); });
  function fromField() {
    var i = nearest(parseThreshold(field.value));
    if (i < 0) {
      field.value = thresholdText(thr[current]);
      status.textContent = "not a number";
      return;
    }
    status.textContent = "";
    show(i, true);
  }
  field.addEventListener("change", fromField);
  field.addEventListener("keydown", function (e) { if (e.key === "Enter") { fromField(); } });
  copy.addEventListener("click", function () { copyText(thresholdText(thr[current]), status); });
  window.addEventListener("hashchange", function () {
    var i = nearest(readHash());
    if (i >= 0 && i !== current) { show(i, false); }
  });
  var start = nearest(readHash());
  show(start >= 0 ? start : d.chosen, false);
  return {step: function (k) { show(Math.max(0, Math.min(n - 1, current + k)), true); }};
}

function multiclass(root, d) {
  var m = d.matrix, names = d.classes, z = d.zero_division;
  var rows = m.map(function (r) { return r.reduce(function (a, b) { return a + b; }, 0); });
  var cols = names.map(function (_, j) {
    return m.reduce(function (a, r) { return a + r[j]; }, 0);
  });
  var total = rows.reduce(function (a, b) { return a + b; }, 0);
  var heads = [], rowHeads = [], chosen = h("span", {"data-kc": "class"});
  var thead = h("tr", {}, [h("th", {"class": "kc-corner", text: "true \u2193 predicted \u2192"})]);
  names.forEach(function (name, j) {
    var b = h("button", {type: "button", "data-kc-class": String(j), text: name});
    b.addEventListener("click", function () { select(j); });
    heads.push(b);
    thead.appendChild(h("th", {scope: "col"}, [b]));
  });
  var body = h("tbody");
  m.forEach(function (row, i) {
    var b = h("button", {type: "button", "data-kc-class": String(i), text: names[i]});
    b.addEventListener("click", function () { select(i); });
    rowHeads.push(b);
    var tr = h("tr", {}, [h("th", {scope: "row"}, [b])]);
    row.forEach(function (c, j) {
      var r = ratio(c, rows[i], 0);
      var td = h("td", {"class": "kc-cell", title: names[i] + " \u2192 " + names[j]}, [
        h("span", {"class": "kc-count", text: countText(c)}),
        h("span", {"class": "kc-rate", text: percent(r)})]);
      heat(td, r);
      td.addEventListener("click", function () { select(i); });
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  var table = h("table", {"class": "kc-matrix kc-heat"}, [h("thead", {}, [thead]), body]);
  var ovrMatrix = matrixView(["rest", "class"]);
  var ovrHead = ovrMatrix.el.querySelectorAll("th");
  var figs = figureView();
  var support = h("p", {"class": "kc-note"});
  root.appendChild(h("p", {"class": "kc-note",
    text: "rows: true class, columns: predicted; each cell: count and % of its true class. " +
      "Click a class for its one-vs-rest figures."}));
  root.appendChild(h("div", {"class": "kc-scroll kc-heat-wrap"}, [table]));
  root.appendChild(h("div", {"class": "kc-grid"}, [
    h("div", {"class": "kc-card"}, [h("h3", {}, [document.createTextNode("one-vs-rest: "), chosen]),
      ovrMatrix.el, support]),
    h("div", {"class": "kc-card"}, [h("h3", {text: "figures"}), figs.el])]));
  function select(i) {
    var c = {tp: m[i][i], fn: rows[i] - m[i][i], fp: cols[i] - m[i][i]};
    c.tn = total - c.tp - c.fn - c.fp;
    chosen.textContent = names[i];
    ovrHead[1].textContent = "predicted not " + names[i];
    ovrHead[2].textContent = "predicted " + names[i];
    ovrHead[3].textContent = "true not " + names[i];
    ovrHead[4].textContent = "true " + names[i];
    support.textContent = "support " + countText(rows[i]) + " of " + countText(total);
    ovrMatrix.set(c);
    figs.set(figures(c, z, null));
    heads.concat(rowHeads).forEach(function (b) {
      var on = Number(b.getAttribute("data-kc-class")) === i;
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }
  select(0);
  return null;
}

var steppers = [];
Array.prototype.forEach.call(document.querySelectorAll("[data-kc-explorer]"), function (root) {
  var data = JSON.parse(root.querySelector("script.kc-data").textContent);
  var app = root.querySelector(".kc-app");
  var st = data.kind === "binary" ? binary(app, data) : multiclass(app, data);
  if (st) { steppers.push(st); }
});
// Arrow keys step the candidates when nothing else on the page has the focus.
document.addEventListener("keydown", function (e) {
  var t = e.target;
  if (!steppers.length || (t && t !== document.body && t !== document.documentElement)) { return; }
  if (e.key === "ArrowRight" || e.key === "ArrowUp") { steppers[0].step(1); e.preventDefault(); }
  if (e.key === "ArrowLeft" || e.key === "ArrowDown") { steppers[0].step(-1); e.preventDefault(); }
});
})();
"""

_STYLE = """
.kc-explorer{margin:1.5em 0}
.kc-explorer *{box-sizing:border-box}
.kc-controls{display:flex;flex-wrap:wrap;align-items:center;gap:.4em .8em}
.kc-label{font-weight:bold}
.kc-slider-wrap{flex:1 1 240px;min-width:0;position:relative}
.kc-slider{width:100%;margin:0}
.kc-ticks{position:relative;height:10px}
.kc-tick{position:absolute;top:0;width:3px;height:10px;margin-left:-1px}
.kc-field{width:21ch;max-width:100%;font:inherit;padding:2px 4px}
.kc-status{color:#555;font-size:.9em;overflow-wrap:anywhere}
.kc-jumps{display:flex;flex-wrap:wrap;gap:.4em;margin:.4em 0}
.kc-jumps button{border:2px solid;background:#fff;border-radius:4px;cursor:pointer;
  overflow-wrap:anywhere;text-align:left}
.kc-decision{overflow-wrap:anywhere}
.kc-threshold{font-weight:bold;font-family:monospace}
.kc-grid,.kc-plots{display:flex;flex-wrap:wrap;gap:1em;margin:.8em 0}
.kc-card{flex:1 1 280px;min-width:0;border:1px solid #ddd;border-radius:6px;padding:.5em .8em}
.kc-card h3{margin:.2em 0 .5em;font-size:1em;overflow-wrap:anywhere}
.kc-plot{flex:1 1 260px;min-width:0;max-width:480px;margin:0}
.kc-svg{width:100%;height:auto;display:block;font:11px sans-serif}
.kc-svg-title{font-weight:bold;font-size:12px}
.kc-scroll{overflow-x:auto;max-width:100%}
.kc-matrix{border-collapse:collapse;margin:.3em 0}
.kc-matrix th,.kc-matrix td{border:1px solid #ccc;padding:4px 8px}
.kc-matrix th{font-weight:normal;text-align:left;min-width:6em;max-width:16em;
  overflow-wrap:break-word}
.kc-cell{text-align:right;min-width:5em;cursor:default}
.kc-heat .kc-cell{cursor:pointer}
.kc-count{display:block;font-weight:bold}
.kc-rate{display:block;font-size:.8em}
.kc-matrix button{font:inherit;background:none;border:0;padding:0;cursor:pointer;
  text-align:left;color:#1f64aa;text-decoration:underline;overflow-wrap:break-word}
.kc-matrix button[aria-pressed=true]{font-weight:bold;color:#111}
.kc-figures td{text-align:right;font-family:monospace;padding:2px 8px}
.kc-figures th{text-align:left;font-weight:normal;padding:2px 8px 2px 0}
.kc-note{color:#555;font-size:.9em;margin:.3em 0}
.kc-caution{border-left:3px solid #a33;padding-left:.5em}
.kc-ok{color:#1d7a3e}
.kc-warn{color:#a33}
.kc-offscreen{position:fixed;top:0;left:0;width:1px;height:1px;opacity:0}
@media print{.kc-controls,.kc-jumps{display:none}}
"""

#: The page's base style: nothing wider than the window; wide tables scroll by themselves.
_PAGE_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;
  max-width:1240px;padding:1em;line-height:1.4}
img,svg{max-width:100%}
img{height:auto}
h1{font-size:1.6em}
p,li,h1,h2{overflow-wrap:anywhere}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
tr>:first-child{text-align:left}
.kc-chosen{font-weight:bold}
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


#: The page's Content-Security-Policy: no network request of any kind; only its own
#: inline styles, ``data:`` images and the explorer's script (by hash) are allowed.
CSP = ("default-src 'none'; "
       f"script-src {_sha256(_SCRIPT)}; style-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")


def page(title: str, body: str) -> str:
    """A self-contained HTML page around ``body`` (trusted markup: escape what goes in
    it), with the explorer's style and the Content-Security-Policy `CSP`."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{html.escape(CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(str(title))}</title>
<style>{_PAGE_STYLE}{_STYLE}</style></head>
<body>
{body}
</body></html>
"""


def _json_script(data: dict) -> str:
    """``data`` as JSON in a data block that no string in it can close."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" class="kc-data">{text}</script>'


def _fragment(title: str, data: dict, note: str | None = None) -> str:
    note = "" if note is None else f'<p class="kc-caution">{html.escape(note)}</p>'
    return (f'<section class="kc-explorer" data-kc-explorer><h2>{html.escape(title)}</h2>'
            f'{note}{_json_script(data)}<noscript><p>The explorer needs scripts; the tables and '
            'the figure show the report at its threshold.</p></noscript>'
            f'<div class="kc-app"></div><script>{_SCRIPT}</script></section>')


def _names(class_names, k: int) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(k)]
    if isinstance(class_names, (str, bytes)) or len(class_names) != k:
        raise arg_error("class_names", class_names, f"a sequence of {k} names")
    return [str(n) for n in class_names]


def _threshold_json(t: float):
    """A threshold for JSON: infinities as the strings JavaScript's Number() reads."""
    t = float(t)
    if np.isfinite(t):
        return t
    return "Infinity" if t > 0 else "-Infinity"


def _counts_json(values: np.ndarray) -> list:
    """Counts as JSON numbers: integers when they all are (and exact in a double)."""
    if np.all(values == np.round(values)) and np.all(np.abs(values) < 2.0 ** 53):
        return values.astype(np.int64).tolist()
    return values.tolist()


def _check_number(name: str, value, low=-np.inf, high=np.inf) -> float:
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise arg_error(name, value, f"a number from {low} to {high}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise arg_error(name, value, f"a number from {low} to {high}") from None
    if not low <= v <= high:
        raise arg_error(name, value, f"a number from {low} to {high}")
    return v


def _check_guarantee(guarantee, default_threshold):
    """``{name, floor, confidence, bound}`` (optionally ``threshold``), checked."""
    expected = ("None or a mapping with keys name (a figure), floor, confidence, bound "
                "and optionally threshold")
    if guarantee is None:
        return None
    if not isinstance(guarantee, Mapping) or not {"name", "floor", "confidence",
                                                   "bound"} <= set(guarantee):
        raise arg_error("guarantee", guarantee, expected)
    t = guarantee.get("threshold", default_threshold)
    if t is None:
        raise arg_error("guarantee", guarantee, expected + " (no tuned or chosen threshold "
                        "to place it at)")
    return {"name": str(guarantee["name"]),
            "floor": _check_number("guarantee['floor']", guarantee["floor"]),
            "confidence": _check_number("guarantee['confidence']", guarantee["confidence"],
                                        0.0, 1.0),
            "bound": _check_number("guarantee['bound']", guarantee["bound"]),
            "threshold": _check_number("guarantee['threshold']", t)}


def candidate_at(thresholds: np.ndarray, value) -> int:
    """The index of the candidate whose decisions the explorer shows at ``value``: the
    smallest candidate ``>= value`` (the last for a value above them all)."""
    return min(int(np.searchsorted(thresholds, value, side="left")), thresholds.size - 1)


def binary_explorer(thresholds, confusion_matrices, *, class_names=None, threshold=None,
                    tuned=None, cost_matrix=None, guarantee=None, zero_division=0.0,
                    title: str = "Threshold explorer", note: str | None = None) -> str:
    """The explorer of a binary report: an HTML fragment (section, data, script).

    Args:
        thresholds: ``(T,)`` candidate thresholds, ascending (``inf``: nothing positive).
        confusion_matrices: ``(T, 2, 2)`` counts at each, positive when
            ``score >= threshold`` (sums of sample weights in a weighted report).
        class_names: the two class names. Defaults to `None` (``"0"``, ``"1"``).
        threshold: the report's chosen threshold, shown when the page opens without
            ``#threshold=`` and marked "chosen". Defaults to `None` (the first candidate).
        tuned: a threshold tuned on validation data, marked "tuned". Defaults to `None`.
        cost_matrix: ``(2, 2)`` costs (rows true, columns decision): adds the expected
            cost per sample. Defaults to `None`.
        guarantee: ``{"name", "floor", "confidence", "bound"}`` and optionally
            ``"threshold"`` (defaults to ``tuned``, else ``threshold``): a floor
            guaranteed on new data with that confidence, and its lower confidence bound.
            Defaults to `None`.
        zero_division: the value of a ratio with denominator 0. Defaults to `0.0`.
        title: the section's heading. Defaults to `"Threshold explorer"`.
        note: a paragraph under the heading (text, escaped). Defaults to `None`.

    Returns:
        The HTML fragment; put it in a `page`, whose policy allows its script.
    """
    t = np.asarray(thresholds, dtype="float64")
    cms = np.asarray(confusion_matrices, dtype="float64")
    if t.ndim != 1 or t.size == 0 or cms.shape != (t.size, 2, 2) or np.any(np.isnan(t)) \
            or np.any(np.diff(t) < 0) or not np.all(np.isfinite(cms)):
        raise arg_error("thresholds", f"<arrays of shapes {t.shape} and {cms.shape}>",
                        "(T,) ascending thresholds (not NaN), T >= 1, with (T, 2, 2) "
                        "finite counts")
    names = _names(class_names, 2)
    cost = None if cost_matrix is None else check_cost_matrix(cost_matrix, 2)
    marked = [(label, _check_number(label, v)) for label, v in
              (("threshold", threshold), ("tuned", tuned)) if v is not None]
    guarantee = _check_guarantee(guarantee, tuned if tuned is not None else threshold)
    if guarantee is not None:
        marked.append(("guarantee", guarantee["threshold"]))

    def at(value):
        return candidate_at(t, value)

    if t.size > MAX_CANDIDATES:
        from keras_confusion.plot import drawn_points

        keep = np.union1d(drawn_points(t, cms, threshold), [at(v) for _, v in marked])
        t, cms = t[keep], cms[keep]
    flat = cms.reshape(-1, 4)  # tn, fp, fn, tp
    data = {"kind": "binary", "classes": names,
            "thresholds": [_threshold_json(x) for x in t],
            "tp": _counts_json(flat[:, 3]), "fp": _counts_json(flat[:, 1]),
            "cost": None if cost is None else cost.tolist(),
            "zero_division": float(zero_division),
            "chosen": at(threshold) if threshold is not None else 0,
            "chosen_threshold": None if threshold is None else _threshold_json(threshold)}
    positives, negatives = flat[:, 2] + flat[:, 3], flat[:, 0] + flat[:, 1]
    if np.all(positives == positives[0]) and np.all(negatives == negatives[0]) \
            and isinstance(data["tp"][0], int) and isinstance(data["fp"][0], int):
        # Integer counts: TN and FN follow exactly from the totals, half the size.
        data["positives"], data["negatives"] = int(positives[0]), int(negatives[0])
    else:
        data["tn"], data["fn"] = _counts_json(flat[:, 0]), _counts_json(flat[:, 2])
    data["marks"] = [{"label": "chosen" if label == "threshold" else label, "index": at(v),
                      "threshold": _threshold_json(v)}
                     for label, v in marked if label != "guarantee"]
    if guarantee is not None:
        guarantee["index"] = at(guarantee["threshold"])
        guarantee["holds"] = _MONOTONE.get(guarantee["name"], "at")
        guarantee["threshold"] = _threshold_json(guarantee["threshold"])
        data["guarantee"] = guarantee
    return _fragment(title, data, note)


def multiclass_explorer(confusion_matrix, *, class_names: Sequence[str] | None = None,
                        zero_division=0.0, title: str = "Confusion matrix explorer") -> str:
    """The explorer of a multiclass report: the ``(K, K)`` matrix as a heat table
    (counts and row percentages); clicking a class shows its one-vs-rest matrix and
    figures. Args as `binary_explorer`; returns the HTML fragment."""
    cm = np.asarray(confusion_matrix, dtype="float64")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] < 2 \
            or not np.all(np.isfinite(cm)):
        raise arg_error("confusion_matrix", f"<array of shape {cm.shape}>",
                        "a (K, K) matrix of finite counts, K >= 2")
    k = cm.shape[0]
    data = {"kind": "multiclass", "classes": _names(class_names, k),
            "matrix": _counts_json(cm),
            "zero_division": float(zero_division)}
    return _fragment(title, data)
