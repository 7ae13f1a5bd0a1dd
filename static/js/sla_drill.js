/* Drill-down selection: "select all" ticks every lead of the page; the count says how many are picked. */
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  var count = document.getElementById("reassign-count");
  var picks = Array.prototype.slice.call(document.querySelectorAll(".sla-pick"));
  function update() {
    var n = picks.filter(function (p) { return p.checked; }).length;
    if (count) count.textContent = n + " selected";
    if (all) {
      all.checked = n > 0 && n === picks.length;
      all.indeterminate = n > 0 && n < picks.length;
    }
  }
  if (all) all.addEventListener("change", function () {
    picks.forEach(function (p) { p.checked = all.checked; });
    update();
  });
  picks.forEach(function (p) { p.addEventListener("change", update); });
  update();
})();
