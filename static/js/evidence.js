// The Evidence panel's weekly chart: drawn whenever htmx brings the panel in (Chart.js, local copy).
(function () {
  "use strict";
  const charts = new WeakMap();

  function draw(root) {
    root.querySelectorAll("canvas[data-evidence-chart]").forEach((canvas) => {
      if (charts.has(canvas) || typeof Chart === "undefined") return;
      const source = canvas.closest("#evidence").querySelector("#evidence-chart-data");
      if (!source) return;
      const data = JSON.parse(source.textContent);
      const chart = new Chart(canvas, {
        type: "bar",
        data: {
          labels: data.labels,
          datasets: [
            { label: data.draftLabel, data: data.draft, backgroundColor: "#4f46e5", borderRadius: 3 },
            { label: data.activeLabel, data: data.active, backgroundColor: "#cbd5e1", borderRadius: 3 },
          ],
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
      charts.set(canvas, chart);
    });
  }

  if (window.htmx) htmx.onLoad(draw);
  draw(document);
})();
