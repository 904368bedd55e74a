"""The page's style sheet and its small script (inline: the page needs no other file but plotly.min.js)."""

from __future__ import annotations

__all__ = ["CSS", "PLOT_MIN_WIDTH", "SCRIPT"]

#: the narrowest a front's plot is drawn on the page (its grid column's minimum): names are placed for it
PLOT_MIN_WIDTH = 420

CSS = """
:root { --fg: #1d232b; --muted: #5c6773; --line: #dfe3e8; --accent: #1f6fd1; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       color: var(--fg); background: var(--bg); }
header { background: #ffffff; border-bottom: 1px solid var(--line); padding: 14px 24px 10px; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header p { margin: 2px 0; color: var(--muted); }
main { padding: 8px 24px 40px; max-width: 1680px; }
section { background: #ffffff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px 14px;
          margin: 14px 0; }
h2 { font-size: 16px; margin: 4px 0 8px; }
h3 { font-size: 13px; font-weight: 600; margin: 6px 0 2px; color: #333b45; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(PLOT_MIN_WIDTHpx, 1fr)); gap: 12px; }
.plot { min-height: 320px; }
.plot img { max-width: 100%; }
.note { color: var(--muted); font-size: 12px; margin: 2px 0 0; }
.kpi { display: inline-block; margin: 2px 18px 2px 0; }
.kpi b { font-size: 16px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.sortable th { cursor: pointer; user-select: none; background: #f0f2f5; position: sticky; top: 0; }
table.sortable th:after { content: " \\2195"; color: #aab2bd; font-size: 11px; }
table.sortable th.asc:after { content: " \\2191"; color: var(--accent); }
table.sortable th.desc:after { content: " \\2193"; color: var(--accent); }
code, .enc { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.enc { overflow-wrap: anywhere; }
#pareto-table td.enc { min-width: 14em; }
.scroll { overflow-x: auto; }
#screening table { width: auto; min-width: 50%; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
a { color: var(--accent); }
.tag { display: inline-block; padding: 0 6px; border-radius: 9px; background: #e8f0fb; color: #174f99;
       font-size: 11px; margin-right: 3px; }
.bad { color: #b3261e; }
.cmd { display: flex; align-items: flex-start; gap: 6px; margin: 1px 0; }
.cmd code { user-select: all; background: #f3f5f8; padding: 1px 4px; border-radius: 3px; font-size: 11px; }
#pareto-table th { white-space: normal; }
#pareto-table td.cmds { min-width: 22em; }
button.copy { font-size: 11px; padding: 0 6px; border: 1px solid var(--line); border-radius: 3px; background: #ffffff;
              color: var(--accent); cursor: pointer; }
#zoo-unscored { margin: 4px 0; }
#all-table td:nth-child(n+3):nth-child(-n+7) { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
""".replace("PLOT_MIN_WIDTH", str(PLOT_MIN_WIDTH))

# Sort a table by a clicked column: by a cell's data-v value, else by its text; either is a number when it starts
# with one (``87.1%``, ``81.0–87.5%``: 87.1, 81), text otherwise.
SCRIPT = """
(function () {
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v === null) { v = cell.textContent.trim(); }
    var f = parseFloat(v);
    return (/^-?[0-9.]/.test(v) && isFinite(f)) ? f : v.toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = !th.classList.contains("asc");
        table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(asc ? "asc" : "desc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          if (typeof x !== typeof y) { x = String(x); y = String(y); }
          return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = button.getAttribute("data-copy");
      function said(ok) {
        button.textContent = ok ? "copied" : "selected";
        setTimeout(function () { button.textContent = "copy"; }, 1500);
      }
      function select() {  // no clipboard API (an insecure context): select the command and try the old way
        var range = document.createRange();
        range.selectNodeContents(button.previousElementSibling);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        said(ok);
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { said(true); }, select);
      } else { select(); }
    });
  });
  if (typeof Plotly === "undefined") { return; }
  var figures = JSON.parse(document.getElementById("figures").textContent);
  Object.keys(figures).forEach(function (id) {
    var div = document.getElementById(id);
    if (!div) { return; }
    div.innerHTML = "";
    if (figures[id].layout.height) {  // plotly's resize follows the container: keep it at the figure's height
      div.style.height = figures[id].layout.height + "px";
      div.style.minHeight = "0";
    }
    Plotly.newPlot(div, figures[id].data, figures[id].layout,
                   {displaylogo: false, responsive: true, showSendToCloud: false});
  });
})();
"""
