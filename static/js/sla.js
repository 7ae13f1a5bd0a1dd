/* SLA dashboard charts (Chart.js). Every bar or point opens the list of leads behind it;
   each chart's figures are also in the table beneath it and downloadable as CSV. */
(function () {
  "use strict";
  var source = document.getElementById("sla-chart-data");
  if (!source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var BRAND = "#4f46e5", BRAND_SOFT = "rgba(79, 70, 229, .75)", RED = "#dc2626", AMBER = "#d97706", GREEN = "#16a34a", GREY = "#6b7280";

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#374151";
  Chart.defaults.maintainAspectRatio = false;
  if (reduced) Chart.defaults.animation = false;

  function drillOnClick(links) {
    return {
      onClick: function (evt, elements) {
        if (elements.length && links[elements[0].index]) window.location.href = links[elements[0].index];
      },
      onHover: function (evt, elements) {
        evt.native.target.style.cursor = elements.length ? "pointer" : "default";
      }
    };
  }

  function make(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return null;
    return new Chart(canvas, config);
  }

  // Vertical line between the 75–100 % and 100–150 % buckets: the response target.
  var targetLine = {
    id: "targetLine",
    afterDatasetsDraw: function (chart) {
      var x = chart.scales.x, y = chart.scales.y;
      if (!x || x.ticks.length < 5) return;
      var pos = (x.getPixelForTick(3) + x.getPixelForTick(4)) / 2;
      var ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = RED; ctx.lineWidth = 2; ctx.setLineDash([6, 4]);
      ctx.beginPath(); ctx.moveTo(pos, y.top); ctx.lineTo(pos, y.bottom); ctx.stroke();
      ctx.setLineDash([]); ctx.fillStyle = RED; ctx.font = "600 12px " + Chart.defaults.font.family;
      ctx.textAlign = "left"; ctx.fillText("target", pos + 4, y.top + 12);
      ctx.restore();
    }
  };

  var f = data.funnel;
  make("chart-funnel", {
    type: "bar",
    data: { labels: f.labels, datasets: [{ label: "Moves into stage", data: f.counts, backgroundColor: ["#8b5cf6", "#3b82f6", "#22c55e", "#166534"] }] },
    options: Object.assign({ indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }, drillOnClick(f.links))
  });

  var r = data.response;
  make("chart-response", {
    type: "bar",
    data: { labels: r.labels, datasets: [{ label: "First actions", data: r.counts, backgroundColor: r.over.map(function (o) { return o ? RED : GREEN; }) }] },
    options: Object.assign({ plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { title: { display: true, text: "Share of the response target used" } } } }, drillOnClick(r.links)),
    plugins: [targetLine]
  });

  var t = data.trends;
  make("chart-trend-volume", {
    type: "bar",
    data: {
      labels: t.labels,
      datasets: [
        { type: "bar", label: "MQLs", data: t.mqls, backgroundColor: BRAND_SOFT, yAxisID: "y", order: 2 },
        { type: "line", label: "Acceptance %", data: t.acceptance, borderColor: GREEN, backgroundColor: GREEN, yAxisID: "pct", tension: .25, spanGaps: true, order: 1 }
      ]
    },
    options: Object.assign({
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: {
        y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "MQLs" } },
        pct: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: "Accepted %" } }
      }
    }, drillOnClick(t.links))
  });
  make("chart-trend-response", {
    type: "line",
    data: { labels: t.labels, datasets: [{ label: "Median business hours to first action", data: t.median_hours, borderColor: AMBER, backgroundColor: AMBER, tension: .25, spanGaps: true }] },
    options: Object.assign({ plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } }, scales: { y: { beginAtZero: true, title: { display: true, text: "Hours" } } } }, drillOnClick(t.links))
  });

  var b = data.breaches_by_sdr;
  make("chart-breaches", {
    type: "bar",
    data: { labels: b.labels, datasets: [{ label: "Breaches", data: b.counts, backgroundColor: RED }] },
    options: Object.assign({ plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }, drillOnClick(b.links))
  });

  function pareto(id, p, colour) {
    make(id, {
      type: "bar",
      data: {
        labels: p.labels,
        datasets: [
          { type: "bar", label: "Count", data: p.counts, backgroundColor: colour, yAxisID: "y", order: 2 },
          { type: "line", label: "Cumulative %", data: p.cumulative, borderColor: GREY, backgroundColor: GREY, yAxisID: "pct", order: 1 }
        ]
      },
      options: Object.assign({
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: {
          y: { beginAtZero: true, ticks: { precision: 0 } },
          pct: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, ticks: { callback: function (v) { return v + " %"; } } }
        }
      }, drillOnClick(p.links))
    });
  }
  pareto("chart-rejections", data.rejections, "#f97316");
  pareto("chart-recycles", data.recycles, "#0ea5e9");
})();

/* Help next to each figure: a popover that opens on focus (keyboard) or click, closes on blur or Escape. */
(function () {
  "use strict";
  if (typeof bootstrap === "undefined") return;
  document.querySelectorAll(".sla-help[data-bs-toggle=popover]").forEach(function (el) {
    bootstrap.Popover.getOrCreateInstance(el);
    el.addEventListener("keydown", function (evt) {
      if (evt.key === "Escape") bootstrap.Popover.getInstance(el).hide();
    });
  });
})();
