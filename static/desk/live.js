/* Live regions without a framework: every element with data-live-url is re-fetched every
   data-live-every seconds (default 10) and its content swapped when the server's HTML changed.
   Sends HX-Request so the server answers with the fragment only (django-htmx's request.htmx).
   Pauses while the tab is hidden and while the user is interacting inside the region. */
(function () {
  "use strict";

  function poll(region) {
    var url = region.getAttribute("data-live-url");
    var every = (parseInt(region.getAttribute("data-live-every"), 10) || 10) * 1000;
    var last = null;
    var busy = false;

    function refresh() {
      if (busy || document.hidden || region.contains(document.activeElement)) {
        return;
      }
      busy = true;
      fetch(url, {
        credentials: "same-origin",
        headers: { "HX-Request": "true", "X-Requested-With": "XMLHttpRequest" }
      })
        .then(function (response) {
          if (!response.ok || response.redirected) {
            throw new Error("live refresh: " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          if (html !== last) {
            region.innerHTML = html;
            region.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
          }
          last = html;
        })
        .catch(function () { /* offline or logged out: try again next tick */ })
        .then(function () { busy = false; });
    }

    refresh();
    window.setInterval(refresh, every);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { refresh(); }
    });
  }

  document.querySelectorAll("[data-live-url]").forEach(poll);
})();
