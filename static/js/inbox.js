// The SDR inbox and the lead page: keyboard shortcuts, the action dialog, bulk selection.
// j/k move, Enter opens, a accepts, r recycles, x rejects, Space selects, u undoes the last action,
// ? shows the shortcuts; on the Accepted tab f logs a follow-up attempt, c converts to SQL, w / l mark
// an SQL won / lost.
(() => {
  "use strict";
  const ROW = "tr.inbox-row";
  const KEY_ACTIONS = { a: "accept", r: "recycle", x: "reject", c: "convert", w: "won", l: "lost", f: "attempt" };
  const PAST = {
    accept: "accepted", convert: "converted", won: "marked as won", lost: "marked as lost",
    attempt: "followed up (accepted leads only)",
  };
  let current = -1;
  let returnFocus = null;
  const opening = new Set();
  const closeWhenShown = new Set();
  document.addEventListener("show.bs.modal", (event) => opening.add(event.target));
  document.addEventListener("shown.bs.modal", (event) => {
    opening.delete(event.target);
    if (closeWhenShown.delete(event.target)) bootstrap.Modal.getOrCreateInstance(event.target).hide();
  });

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

  // Keys typed into a field are text; a checkbox is not a text field, so shortcuts keep working after a click on one.
  function typing(target) {
    return target.closest("textarea, select, [contenteditable=true], input:not([type=checkbox]):not([type=radio])") !== null;
  }

  function toggleCurrent() {
    const box = (currentRow() || select(0)) && currentRow().querySelector("input[type=checkbox]");
    if (box) {
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  // The tab badges and "N leads on this page" after rows left the page in place.
  function updateCounts(counts) {
    Object.entries(counts || {}).forEach(([tab, count]) => {
      const badge = document.querySelector(`[data-testid="tab-${tab}"] .badge`);
      if (badge) badge.textContent = count;
    });
    const shown = document.getElementById("page-count");
    if (shown) {
      const n = rows().length;
      shown.querySelector("[data-count]").textContent = String(n);
      shown.querySelector("[data-plural]").textContent = n === 1 ? "" : "s";
    }
  }

  // An action's message offers Undo for a few seconds, then the offer goes (the server refuses late undos too).
  let undoTimer = null;
  function armUndo() {
    clearTimeout(undoTimer);
    const toast = document.querySelector("#messages [data-undo-until]");
    if (!toast) return;
    undoTimer = setTimeout(() => toast.querySelector("[data-testid=undo-form]")?.remove(), 1000 * Number(toast.dataset.undoUntil));
  }
  function undo() {
    const button = document.querySelector('#messages [data-action="undo"]');
    if (button) button.click();
    else say("Nothing to undo.");
  }

  function focusField() {
    const body = document.getElementById("action-modal-body");
    const field = body && body.querySelector(".is-invalid, select, input:not([type=hidden]), textarea");
    if (field) field.focus();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const open = document.querySelector(".modal.show");
    if (open) {
      // Enter on a list in the dialog submits it, as it does on a text field.
      if (event.key === "Enter" && event.target.matches("#action-modal-body select")) {
        event.preventDefault();
        event.target.form.requestSubmit();
        return;
      }
      // Esc closes a dialog even during its opening animation, when Bootstrap ignores hide():
      // the dialog then closes as soon as it is shown.
      if (event.key === "Escape") {
        if (opening.has(open)) closeWhenShown.add(open);
        else bootstrap.Modal.getOrCreateInstance(open).hide();
      }
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
    } else if (inInbox && key === " " && !event.target.matches("input, button, a")) {
      // Space on the page or a row selects the highlighted lead; it never scrolls the queue away.
      event.preventDefault();
      toggleCurrent();
    } else if (key === "u") {
      event.preventDefault();
      undo();
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
    updateCounts(detail.counts);
    refreshBulk();
    armUndo();
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
    updateCounts(event.detail.counts);
    refreshBulk();
    select(current, false);
  });

  // An undone lead comes back into a queue whose order the page no longer knows: reload the queue.
  document.body.addEventListener("accord:undone", (event) => {
    updateCounts((event.detail || {}).counts);
    if (document.getElementById("queue")) {
      htmx.ajax("GET", window.location.href, { target: "#queue", swap: "outerHTML" });
    }
  });

  // The dialog's first field takes the focus, whether the form arrives before or after the dialog's
  // opening animation ends (Bootstrap focuses the dialog itself when it is shown).
  document.addEventListener("shown.bs.modal", (event) => {
    if (event.target.id === "action-modal") focusField();
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target;
    if (target && target.id === "action-modal-body") focusField();
    if (target && target.id === "queue") {
      current = -1;
      refreshBulk();
    }
    if (target && target.id === "messages") armUndo();
  });
  document.addEventListener("hidden.bs.modal", () => {
    const back = currentRow() || (returnFocus && document.body.contains(returnFocus) ? returnFocus : null);
    if (back) back.focus();
  });

  if (rows().length) select(0, false);
  refreshBulk();
})();
