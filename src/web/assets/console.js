// Systole's web console: swaps in the live part of a page whenever the
// server pushes a new one (Server-Sent Events). The pages work without it.
"use strict";
(function () {
  const live = document.getElementById("live");
  if (!live || !window.EventSource) {
    return;
  }
  const source = new EventSource("/events/" + live.dataset.stream);
  source.addEventListener("update", function (event) {
    live.innerHTML = event.data;
    live.dataset.updates = String(Number(live.dataset.updates || "0") + 1);
  });
  source.onerror = function () {
    document.body.classList.add("disconnected");
  };
  source.onopen = function () {
    document.body.classList.remove("disconnected");
  };
})();
