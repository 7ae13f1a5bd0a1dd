// Agreement pages: formset rows added with htmx, removed in place; value hints per rule field;
// confirm-before-submit forms; print button; the unresolved-comments badge.
(function () {
  "use strict";

  // Reserve the next formset index before the htmx "Add" request goes out, so two quick clicks
  // never produce two rows with the same prefix (a gap in the numbering is harmless).
  document.addEventListener("htmx:configRequest", (event) => {
    const prefix = event.detail.elt.dataset && event.detail.elt.dataset.formsetAdd;
    if (!prefix) return;
    const total = document.getElementById(`id_${prefix}-TOTAL_FORMS`);
    const index = parseInt(total.value, 10);
    event.detail.parameters.index = index;
    total.value = index + 1;
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    const container = event.detail.target;
    if (container && container.dataset && container.dataset.formset) {
      const rows = container.querySelectorAll(".rule-row");
      const row = rows[rows.length - 1];
      if (row) {
        wireRow(row);
        const first = row.querySelector("select, input:not([type=hidden]):not([type=checkbox])");
        if (first) first.focus();
        setTimeout(() => row.classList.remove("rule-row-new"), 1200);
      }
    }
  });

  document.addEventListener("click", (event) => {
    const remove = event.target.closest("[data-action=remove-row]");
    if (remove) {
      const row = remove.closest(".rule-row");
      const box = row.querySelector("[data-role=delete]");
      if (box) box.checked = true;
      row.classList.add("d-none");
      return;
    }
    if (event.target.closest("[data-action=print]")) window.print();
  });

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // Keep the "N unresolved" badge in step with comment actions anywhere on the page.
  document.body.addEventListener("comments-changed", (event) => {
    const badge = document.getElementById("unresolved-count");
    if (!badge || !event.detail || event.detail.unresolved === undefined) return;
    const n = event.detail.unresolved;
    badge.textContent = `${n} unresolved`;
    badge.className = `badge ${n ? "text-bg-warning" : "text-bg-light border"}`;
  });

  const hintsEl = document.getElementById("value-hints");
  const operatorsEl = document.getElementById("operators-for");
  const hints = hintsEl ? JSON.parse(hintsEl.textContent) : {};
  const operatorsFor = operatorsEl ? JSON.parse(operatorsEl.textContent) : {};

  function wireRow(row) {
    const fieldSelect = row.querySelector("[data-role=rule-field]");
    if (!fieldSelect) return;
    const update = () => {
      const field = fieldSelect.value;
      const hint = row.querySelector("[data-role=values-hint]");
      const info = hints[field];
      const operator = row.querySelector("select[name$='-operator']");
      const op = operator ? operator.value : "";
      if (hint && info) {
        if (op === "within_days") hint.textContent = "A number of days.";
        else if (op === "before" || op === "after") hint.textContent = "A date: YYYY-MM-DD.";
        else if (info.kind === "number") hint.textContent = "A number, or 'low, high' for 'is between'.";
        else if (info.kind === "yes_no") hint.textContent = "No values: the rule reads yes or no.";
        else if (info.choices && info.choices.length) hint.textContent = "One or more of: " + info.choices.join(", ");
        else hint.textContent = "Any text; separate several with commas.";
      }
      const values = row.querySelector("[data-role=rule-values]");
      if (values && info) {
        // The attribute's choices, searchable as you type (the browser's suggestion list).
        const id = `${values.id || fieldSelect.name}-choices`;
        let list = document.getElementById(id);
        if (!list) {
          list = document.createElement("datalist");
          list.id = id;
          row.appendChild(list);
        }
        list.replaceChildren(...(info.choices || []).map((label) => new Option(label)));
        values.setAttribute("list", id);
      }
      const allowed = operatorsFor[field];
      if (operator && allowed) {
        for (const option of operator.options) option.disabled = !allowed.includes(option.value);
        if (!allowed.includes(operator.value)) operator.value = allowed[0];
      }
      const current = operator ? operator.value : "";
      if (values) values.disabled = ["known", "unknown", "is_true", "is_false"].includes(current);
    };
    fieldSelect.addEventListener("change", update);
    const operator = row.querySelector("select[name$='-operator']");
    if (operator) operator.addEventListener("change", update);
    update();
  }

  document.querySelectorAll(".rule-row").forEach(wireRow);
})();
