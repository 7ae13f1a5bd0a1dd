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

  // A searchable multi-select over an attribute's choices, in place of the comma-separated box. The
  // box stays in the form (hidden) and carries the chosen labels, so the server reads one format and
  // remains the judge of what is a value.
  let pickerCount = 0;
  function valuePicker(values, choices, label) {
    pickerCount += 1;
    const listId = `value-picker-${pickerCount}`;
    const wrap = document.createElement("div");
    wrap.className = "value-picker position-relative";
    wrap.dataset.role = "value-picker";
    const chips = document.createElement("div");
    chips.className = "d-flex flex-wrap gap-1 mb-1";
    chips.setAttribute("aria-live", "polite");
    const search = document.createElement("input");
    search.type = "search";
    search.className = "form-control form-control-sm";
    search.placeholder = "Search values…";
    search.setAttribute("role", "combobox");
    search.setAttribute("aria-expanded", "false");
    search.setAttribute("aria-controls", listId);
    search.setAttribute("aria-autocomplete", "list");
    search.setAttribute("aria-label", `Values of ${label}`);
    const list = document.createElement("ul");
    list.id = listId;
    list.className = "list-group position-absolute w-100 shadow-sm overflow-auto d-none";
    list.style.maxHeight = "14rem";
    list.style.zIndex = "1050";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-multiselectable", "true");
    list.setAttribute("aria-label", `Choices of ${label}`);
    wrap.append(chips, search, list);

    const fold = (text) => text.trim().toLowerCase();
    // Read the box as the longest choices it starts with, so that a label holding a comma
    // ("Korea, Republic of") stays one value; what matches no choice is kept for the server to refuse.
    const chosen = [];
    let rest = values.value.trim();
    while (rest) {
      const lower = rest.toLowerCase();
      const found = choices
        .filter((c) => lower.startsWith(c.toLowerCase()) && /^\s*([,;]|$)/.test(rest.slice(c.length)))
        .sort((a, b) => b.length - a.length)[0];
      const cut = found ? found.length : rest.search(/[,;]|$/);
      chosen.push(found || rest.slice(0, cut).trim());
      rest = rest.slice(cut).replace(/^\s*[,;]\s*/, "").trim();
    }
    let active = -1;

    const sync = () => {
      // "; " separates values whose labels may hold commas; the server splits on either.
      values.value = chosen.filter(Boolean).join("; ");
      chips.replaceChildren(
        ...chosen.map((value) => {
          const chip = document.createElement("button");
          chip.type = "button";
          chip.className = "btn btn-sm btn-outline-primary py-0";
          chip.textContent = `${value} ×`;
          chip.setAttribute("aria-label", `Remove ${value}`);
          chip.addEventListener("click", () => {
            chosen.splice(chosen.indexOf(value), 1);
            sync();
            render();
            search.focus();
          });
          return chip;
        }),
      );
    };
    const options = () => [...list.querySelectorAll("[role=option]")];
    const render = () => {
      const wanted = fold(search.value);
      const shown = choices.filter((c) => !wanted || fold(c).includes(wanted));
      list.replaceChildren(
        ...shown.map((choice, i) => {
          const item = document.createElement("li");
          item.id = `${listId}-${i}`;
          item.className = "list-group-item list-group-item-action py-1 small";
          item.setAttribute("role", "option");
          const on = chosen.some((c) => fold(c) === fold(choice));
          item.setAttribute("aria-selected", on ? "true" : "false");
          item.textContent = `${on ? "✓ " : ""}${choice}`;
          item.addEventListener("mousedown", (event) => {
            event.preventDefault();
            toggle(choice);
          });
          return item;
        }),
      );
      if (!shown.length) {
        const empty = document.createElement("li");
        empty.className = "list-group-item py-1 small text-secondary";
        empty.textContent = "No value matches; add it on the Data page.";
        list.append(empty);
      }
      active = Math.min(active, shown.length - 1);
      highlight();
    };
    const highlight = () => {
      options().forEach((o, i) => o.classList.toggle("active", i === active));
      const current = options()[active];
      if (current) {
        search.setAttribute("aria-activedescendant", current.id);
        current.scrollIntoView({ block: "nearest" });
      } else search.removeAttribute("aria-activedescendant");
    };
    const open = (yes) => {
      list.classList.toggle("d-none", !yes);
      search.setAttribute("aria-expanded", yes ? "true" : "false");
      if (yes) render();
    };
    const toggle = (choice) => {
      const at = chosen.findIndex((c) => fold(c) === fold(choice));
      if (at >= 0) chosen.splice(at, 1);
      else chosen.push(choice);
      sync();
      render();
    };
    search.addEventListener("focus", () => open(true));
    search.addEventListener("blur", () => open(false));
    search.addEventListener("input", () => {
      active = 0;
      open(true);
    });
    search.addEventListener("keydown", (event) => {
      const count = options().length;
      if (event.key === "ArrowDown") {
        event.preventDefault();
        open(true);
        active = Math.min(active + 1, count - 1);
        highlight();
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        active = Math.max(active - 1, 0);
        highlight();
      } else if (event.key === "Enter") {
        event.preventDefault(); // never submit the editor from the search box
        const current = options()[active];
        if (current) toggle(current.textContent.replace(/^✓ /, ""));
      } else if (event.key === "Escape") {
        open(false);
      } else if (event.key === "Backspace" && !search.value && chosen.length) {
        chosen.pop();
        sync();
        render();
      }
    });
    sync();
    return wrap;
  }

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
      if (values && info && !["choice", "multi_choice"].includes(info.kind)) {
        // Other attributes with listed values (persona names, countries' regions): the browser's suggestions.
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
      if (values) {
        values.disabled = ["known", "unknown", "is_true", "is_false"].includes(current);
        values.type = current === "before" || current === "after" ? "date" : "text";
        values.inputMode = info && (info.kind === "number" || current === "within_days") ? "decimal" : "text";
        // Choice attributes pick their values from the dictionary; other types keep the box.
        const old = row.querySelector("[data-role=value-picker]");
        if (old) old.remove();
        const picks = info && info.choices && info.choices.length && ["choice", "multi_choice"].includes(info.kind);
        const listed = ["in", "not_in", "has_any", "has_all", "has_none"].includes(current);
        if (picks && listed && !values.disabled) {
          values.classList.add("d-none");
          const label = fieldSelect.options[fieldSelect.selectedIndex]?.text || field;
          values.after(valuePicker(values, info.choices, label));
        } else {
          values.classList.remove("d-none");
        }
      }
    };
    fieldSelect.addEventListener("change", update);
    const operator = row.querySelector("select[name$='-operator']");
    if (operator) operator.addEventListener("change", update);
    update();
  }

  document.querySelectorAll(".rule-row").forEach(wireRow);
})();
