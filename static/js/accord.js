// Small shared behaviours. Page-specific scripts live next to their templates' blocks.
document.addEventListener("htmx:responseError", (event) => {
  const box = document.getElementById("messages");
  if (!box) return;
  const status = event.detail.xhr.status;
  const text = status === 403 ? "You are not allowed to do that." : status === 404 ? "That record no longer exists." : "The server could not complete the request. Please try again.";
  box.insertAdjacentHTML("beforeend", `<div class="alert alert-danger alert-dismissible fade show" role="alert">${text}<button type="button" class="btn-close" data-bs-dismiss="alert" aria-label="Close"></button></div>`);
});
