// guru-mcp admin console: the little behaviour the server-rendered pages need. Loaded as a file
// (the Content-Security-Policy allows no inline script); htmx does the requests.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every htmx request carries the session's CSRF token.
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  // Forms that ask before doing something destructive.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);

  // Show only the fields of the chosen action type.
  function showType() {
    var select = document.getElementById("action-type");
    if (!select) return;
    document.querySelectorAll(".type-section").forEach(function (section) {
      section.hidden = section.getAttribute("data-type") !== select.value;
    });
    if (codeEditor) codeEditor.refresh();
  }

  // Message slots of table rows are numbered like the rows (the validation answer fills them by index).
  function renumber(table) {
    var prefix = table.id === "params" ? "err-parameters-" : "err-config-headers-";
    table.querySelectorAll("tr.err-row .err").forEach(function (slot, i) { slot.id = prefix + i; });
  }

  // Table rows: add from a <template>, remove with the row's button.
  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-row]");
    if (add) {
      var body = document.querySelector("#" + add.getAttribute("data-add-row") + " tbody");
      var template = document.getElementById(add.getAttribute("data-template"));
      body.appendChild(template.content.cloneNode(true));
      renumber(body.closest("table"));
      var inputs = body.querySelectorAll("input");
      if (inputs.length) inputs[inputs.length - (add.getAttribute("data-add-row") === "params" ? 3 : 2)].focus();
      return;
    }
    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      var row = remove.closest("tr");
      var form = row.closest("form");
      var table = row.closest("table");
      var next = row.nextElementSibling;
      if (next && next.classList.contains("err-row")) next.remove();
      row.remove();
      renumber(table);
      if (form) form.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });

  // Charts (uPlot) from the JSON the analytics page embeds.
  function drawCharts() {
    var source = document.getElementById("chart-data");
    if (!source || typeof uPlot === "undefined") return;
    var data = JSON.parse(source.textContent);
    var width = function (el) { return Math.max(320, el.clientWidth - 8); };
    var specs = {
      runs: {
        series: [{}, { label: "runs", stroke: "#2563eb", fill: "rgba(37,99,235,0.12)" },
                 { label: "errors", stroke: "#dc2626", fill: "rgba(220,38,38,0.12)" }],
        data: [data.t, data.runs, data.errors]
      },
      error_rate: {
        series: [{}, { label: "error rate %", stroke: "#dc2626", spanGaps: false,
                       value: function (u, v) { return v == null ? "–" : v.toFixed(1) + "%"; } }],
        data: [data.t, data.error_rate.map(function (v) { return v == null ? null : v * 100; })]
      },
      duration: {
        series: [{}, { label: "p50 ms", stroke: "#059669" }, { label: "p95 ms", stroke: "#d97706" }],
        data: [data.t, data.p50_ms, data.p95_ms]
      }
    };
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var spec = specs[el.getAttribute("data-chart")];
      if (!spec) return;
      el.innerHTML = "";
      var plot = new uPlot({ width: width(el), height: 220, series: spec.series,
                             axes: [{}, { size: 60 }], scales: { x: { time: true } } }, spec.data, el);
      el.setAttribute("data-points", String(spec.data[1].filter(function (v) { return v; }).length));
      window.addEventListener("resize", function () { plot.setSize({ width: width(el), height: 220 }); });
    });
  }

  // The Python code editor (CodeMirror 5): line numbers, highlighting, and the lint's messages
  // ("line N: ...", from the server's validation) marked on their lines.
  var codeEditor = null;
  function startCodeEditor() {
    var area = document.querySelector("textarea[data-editor=python]");
    if (!area || typeof CodeMirror === "undefined") return;
    codeEditor = CodeMirror.fromTextArea(area, {
      mode: "python", lineNumbers: true, indentUnit: 4, tabSize: 4, indentWithTabs: false,
      extraKeys: { Tab: function (cm) { cm.replaceSelection("    "); } }
    });
    codeEditor.on("change", function () {
      codeEditor.save();
      area.dispatchEvent(new Event("input", { bubbles: true }));
    });
    codeEditor.on("blur", function () {
      area.dispatchEvent(new Event("change", { bubbles: true }));
    });
    markLint();
  }
  var marked = [];
  function markLint() {
    if (!codeEditor) return;
    marked.forEach(function (line) { codeEditor.removeLineClass(line, "wrap", "lint-line"); });
    marked = [];
    document.querySelectorAll("#err-config-code p").forEach(function (p) {
      var found = /^line (\d+):/.exec(p.textContent);
      if (!found) return;
      var line = codeEditor.getLineHandle(parseInt(found[1], 10) - 1);
      if (line) { codeEditor.addLineClass(line, "wrap", "lint-line"); marked.push(line); }
    });
  }
  document.addEventListener("htmx:afterSettle", markLint);

  document.addEventListener("DOMContentLoaded", function () {
    showType();
    startCodeEditor();
    var select = document.getElementById("action-type");
    if (select) select.addEventListener("change", showType);
    drawCharts();
  });
})();
