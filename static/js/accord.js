// Small shared behaviours. Page-specific scripts live next to their templates' blocks.
document.addEventListener("htmx:responseError", (event) => {
  const box = document.getElementById("messages");
  if (!box) return;
  const status = event.detail.xhr.status;
  const text = status === 403 ? "You are not allowed to do that." : status === 404 ? "That record no longer exists." : "The server could not complete the request. Please try again.";
  box.insertAdjacentHTML("beforeend", `<div class="alert alert-danger alert-dismissible fade show" role="alert">${text}<button type="button" class="btn-close" data-bs-dismiss="alert" aria-label="Close"></button></div>`);
});

// Long panels (Evidence, Suggestions over a large history): a request from inside an element marked
// data-progress carries a random token; past two seconds a progress bar, fed by /progress/<token>
// (the server reports each finished step), shows above the panel until the answer arrives.
(() => {
  const SHOW_AFTER_MS = 2000;
  const POLL_MS = 800;
  const running = new WeakMap();

  function newToken() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function barHtml(label) {
    return `<div class="mb-2" data-testid="panel-progress">
      <div class="progress" role="progressbar" aria-label="${label}" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0" style="height: 1.25rem">
        <div class="progress-bar progress-bar-striped progress-bar-animated" style="width: 3%"></div>
      </div>
      <div class="small text-secondary mt-1" aria-live="polite">${label}: starting…</div>
    </div>`;
  }

  document.addEventListener("htmx:configRequest", (event) => {
    const origin = event.detail.elt.closest("[data-progress]");
    if (!origin) return;
    const token = newToken();
    event.detail.parameters.progress = token;
    const target = event.detail.target;
    const label = origin.dataset.progress || "Working";
    const state = { timer: null, poll: null };
    state.timer = setTimeout(() => {
      target.insertAdjacentHTML("afterbegin", barHtml(label));
      const box = target.querySelector('[data-testid="panel-progress"]');
      const bar = box.querySelector(".progress-bar");
      const meter = box.querySelector('[role="progressbar"]');
      const text = box.querySelector("[aria-live]");
      state.poll = setInterval(async () => {
        try {
          const response = await fetch(`/progress/${token}`, { headers: { Accept: "application/json" } });
          if (!response.ok) return;
          const p = await response.json();
          const percent = Math.max(3, p.percent);
          bar.style.width = `${percent}%`;
          meter.setAttribute("aria-valuenow", String(p.percent));
          const seconds = Math.round(p.seconds);
          text.textContent = p.total
            ? `${label}: step ${p.done} of ${p.total} done · ${seconds} s`
            : `${label}: starting…`;
        } catch (_error) {
          /* the next poll tries again */
        }
      }, POLL_MS);
    }, SHOW_AFTER_MS);
    running.set(event.detail.elt, state);
  });

  document.addEventListener("htmx:afterRequest", (event) => {
    const state = running.get(event.detail.elt);
    if (!state) return;
    clearTimeout(state.timer);
    clearInterval(state.poll);
    running.delete(event.detail.elt);
  });
})();
