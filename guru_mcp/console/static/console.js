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

  document.addEventListener("DOMContentLoaded", function () {
    showType();
    var select = document.getElementById("action-type");
    if (select) select.addEventListener("change", showType);
    drawCharts();
  });
})();
