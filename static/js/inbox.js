// The SDR inbox and the lead page: keyboard shortcuts, the action dialog, bulk selection.
// j/k move, Enter opens, a accepts, r recycles, x rejects, Space selects, ? shows the shortcuts;
// on the Accepted tab c converts to SQL, w / l mark an SQL won / lost.
(() => {
  "use strict";
  const ROW = "tr.inbox-row";
  const KEY_ACTIONS = { a: "accept", r: "recycle", x: "reject", c: "convert", w: "won", l: "lost" };
  const PAST = { accept: "accepted", convert: "converted", won: "marked as won", lost: "marked as lost" };
  let current = -1;
  let returnFocus = null;

  const rows = () => Array.from(document.querySelectorAll(ROW));
  const modalEl = () => document.getElementById("action-modal");
  const say = (text) => {
    const box = document.getElementById("inbox-status");
    if (box) box.textContent = text;
  };
  const rowName = (row) => (row.querySelector(".inbox-open") || {}).textContent || "lead";

  function select(index, focus = true) {
    const list = rows();
    if (!list.length) {
      current = -1;
      return null;
    }
    current = Math.max(0, Math.min(index, list.length - 1));
    list.forEach((row, n) => {
      row.classList.toggle("is-current", n === current);
      row.setAttribute("aria-selected", n === current ? "true" : "false");
    });
    const row = list[current];
    if (focus) row.focus();
    row.scrollIntoView({ block: "nearest" });
    return row;
  }

  const currentRow = () => rows()[current] || null;

  // The element the a/r/x keys act on: the selected inbox row, or the lead page's action bar.
  function actionScope() {
    if (document.querySelector(ROW)) return currentRow();
    return document.getElementById("lead-live");
  }

  function openForm(url, opener) {
    const el = modalEl();
    if (!el || !url) return;
    returnFocus = opener || document.activeElement;
    document.getElementById("action-modal-body").innerHTML = '<p class="text-secondary mb-0">Loading…</p>';
    bootstrap.Modal.getOrCreateInstance(el).show();
    htmx.ajax("GET", url, { target: "#action-modal-body", swap: "innerHTML" });
  }

  function act(name) {
    const scope = actionScope();
    if (!scope) return;
    const control = scope.querySelector(`[data-action="${name}"]`);
    if (!control) {
      say(`This lead cannot be ${PAST[name] || name + "ed"} from here.`);
      return;
    }
    if (control.dataset.url) openForm(control.dataset.url, control);
    else if (control.tagName === "BUTTON" && control.type === "submit") control.form.requestSubmit(control);
    else control.click();
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]") !== null;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const open = document.querySelector(".modal.show");
    if (open) {
      // Esc closes a dialog even before it has taken the focus (during its opening animation).
      if (event.key === "Escape") bootstrap.Modal.getOrCreateInstance(open).hide();
      return;
    }
    if (typing(event.target)) return;
    const key = event.key;
    if (key === "?") {
      event.preventDefault();
      const help = document.getElementById("shortcuts-modal");
      if (help) {
        returnFocus = document.activeElement;
        bootstrap.Modal.getOrCreateInstance(help).show();
      }
      return;
    }
    const inInbox = rows().length > 0;
    if (inInbox && (key === "j" || key === "ArrowDown" && event.target.matches(ROW))) {
      event.preventDefault();
      select(current + 1);
    } else if (inInbox && (key === "k" || key === "ArrowUp" && event.target.matches(ROW))) {
      event.preventDefault();
      select(current < 0 ? 0 : current - 1);
    } else if (inInbox && key === "Enter" && (event.target === document.body || event.target.matches(ROW))) {
      const row = currentRow() || select(0);
      if (row) {
        event.preventDefault();
        window.location.assign(row.dataset.href);
      }
    } else if (inInbox && key === " " && event.target.matches(ROW)) {
      event.preventDefault();
      const box = currentRow() && currentRow().querySelector("input[type=checkbox]");
      if (box) {
        box.checked = !box.checked;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      }
    } else if (Object.hasOwn(KEY_ACTIONS, key)) {
      if (inInbox && current < 0) select(0);
      event.preventDefault();
      act(KEY_ACTIONS[key]);
    }
  });

  // Buttons and links that open a form in the dialog (Recycle, Reject, Convert, Reassign…).
  document.addEventListener("click", (event) => {
    const control = event.target.closest("[data-action][data-url]");
    if (!control) return;
    event.preventDefault();
    const row = control.closest(ROW);
    if (row) select(rows().indexOf(row), false);
    openForm(control.dataset.url, control);
  });

  // Clicking a row selects it (keyboard and mouse stay in step).
  document.addEventListener("mousedown", (event) => {
    const row = event.target.closest(ROW);
    if (row) select(rows().indexOf(row), false);
  });

  // Bulk selection.
  function refreshBulk() {
    const checked = document.querySelectorAll('input[name=lead_ids][form=bulk-form]:checked').length;
    const count = document.getElementById("selected-count");
    if (count) count.textContent = String(checked);
    document.querySelectorAll("[data-bulk]").forEach((b) => (b.disabled = checked === 0));
  }
  document.addEventListener("change", (event) => {
    if (event.target.id === "select-all") {
      document.querySelectorAll('input[name=lead_ids][form=bulk-form]').forEach((b) => (b.checked = event.target.checked));
    }
    if (event.target.matches("input[name=lead_ids], #select-all")) refreshBulk();
  });
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt.matches && event.detail.elt.matches("[data-opens-modal]")) {
      returnFocus = event.detail.elt;
      bootstrap.Modal.getOrCreateInstance(modalEl()).show();
    }
  });

  // Server said an action finished (HX-Trigger-After-Swap): close the dialog, keep the focus flowing.
  document.body.addEventListener("accord:done", (event) => {
    const el = modalEl();
    if (el) bootstrap.Modal.getOrCreateInstance(el).hide();
    const detail = event.detail || {};
    if (rows().length || document.getElementById("queue")) {
      const row = select(current);
      say(detail.error ? detail.error : `Done. ${row ? "Next: " + rowName(row) : "The queue is empty."}`);
      if (!row) document.getElementById("queue")?.focus();
    } else {
      say(detail.error || "Done.");
    }
  });
  document.body.addEventListener("accord:bulk-done", (event) => {
    const el = modalEl();
    if (el) bootstrap.Modal.getOrCreateInstance(el).hide();
    (event.detail.done || []).forEach((pk) => document.getElementById(`lead-row-${pk}`)?.remove());
    refreshBulk();
    select(current, false);
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target;
    if (target && target.id === "action-modal-body") {
      const field = target.querySelector(".is-invalid, select, input:not([type=hidden]), textarea");
      if (field) field.focus();
    }
    if (target && target.id === "queue") {
      current = -1;
      refreshBulk();
    }
  });
  document.addEventListener("hidden.bs.modal", () => {
    const back = currentRow() || (returnFocus && document.body.contains(returnFocus) ? returnFocus : null);
    if (back) back.focus();
  });

  if (rows().length) select(0, false);
  refreshBulk();
})();
