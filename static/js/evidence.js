// The Evidence panel's charts, drawn whenever htmx brings the panel in (Chart.js, local copy):
// would-be MQLs per week, and the capture curve (share of leads flagged vs share of conversions captured).
(function () {
  "use strict";
  const charts = new WeakMap();
  const COLOURS = ["#4f46e5", "#94a3b8"];

  function weekly(canvas, data) {
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map((s, i) => ({ label: s.label, data: s.data, backgroundColor: COLOURS[i], borderRadius: 3 })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom" } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "Would-be MQLs" } } },
      },
    });
  }

  function curve(canvas, data) {
    const datasets = [];
    data.curves.forEach((c, i) => {
      datasets.push({ type: "line", label: c.label, data: c.points, borderColor: COLOURS[i], backgroundColor: COLOURS[i], pointRadius: 0, borderWidth: 2, tension: 0 });
      if (c.threshold) {
        datasets.push({ type: "scatter", label: c.label + " threshold", data: [c.threshold], backgroundColor: COLOURS[i], borderColor: "#fff", pointRadius: 6, pointHoverRadius: 7 });
      }
    });
    datasets.push({ type: "line", label: "Random pick", data: [{ x: 0, y: 0 }, { x: 100, y: 100 }], borderColor: "#cbd5e1", borderDash: [4, 4], pointRadius: 0, borderWidth: 1 });
    return new Chart(canvas, {
      type: "scatter",
      data: { datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: {
          legend: { position: "bottom", labels: { filter: (item) => !item.text.endsWith(" threshold") } },
          tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${ctx.parsed.x}% of leads flagged, ${ctx.parsed.y}% of conversions` } },
        },
        scales: {
          x: { min: 0, max: 100, title: { display: true, text: "% of leads flagged" } },
          y: { min: 0, max: 100, title: { display: true, text: "% of conversions captured" } },
        },
      },
    });
  }

  function draw(root) {
    root.querySelectorAll("canvas[data-evidence-chart], canvas[data-evidence-curve]").forEach((canvas) => {
      if (charts.has(canvas) || typeof Chart === "undefined") return;
      const source = canvas.closest("#evidence").querySelector("#evidence-chart-data");
      if (!source) return;
      const data = JSON.parse(source.textContent);
      charts.set(canvas, canvas.hasAttribute("data-evidence-curve") ? curve(canvas, data) : weekly(canvas, data));
    });
  }

  if (window.htmx) htmx.onLoad(draw);
  draw(document);
})();
