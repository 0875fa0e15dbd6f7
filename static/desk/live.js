/* Live regions without a framework: every element with data-live-url is re-fetched every
   data-live-every seconds (default 10) and its content swapped when the server's HTML changed.
   Sends HX-Request so the server answers with the fragment only (django-htmx's request.htmx).
   Pauses while the tab is hidden and while the user is interacting inside the region.
   With the live socket open (static/realtime/socket.js) pushes update the region instead and
   the polling rests; it fetches once when the socket comes back (catch-up) and on a
   "desk:refresh-live" event (a push the page could not place itself). */
(function () {
  "use strict";

  function poll(region) {
    var url = region.getAttribute("data-live-url");
    var every = (parseInt(region.getAttribute("data-live-every"), 10) || 10) * 1000;
    var last = null;
    var busy = false;
    var again = false;  // a push asked for the list while a fetch was under way

    function refresh(force) {
      var live = window.deskLive && window.deskLive.connected;
      if (busy && force === true) { again = true; return; }
      if (busy || document.hidden || (live && force !== true) ||
          (force !== true && region.contains(document.activeElement))) {
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
        .then(function () {
          busy = false;
          // The fetch may have started before that push's change: fetch once more.
          if (again) { again = false; refresh(true); }
        });
    }

    if (!window.deskLive) { refresh(); }
    window.setInterval(refresh, every);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { refresh(); }
    });
    document.addEventListener("desk:live", function (event) {
      if (event.detail.state === "open" && event.detail.reconnected) { refresh(true); }
    });
    document.addEventListener("desk:refresh-live", function () { refresh(true); });
  }

  document.querySelectorAll("[data-live-url]").forEach(poll);
})();

/* "Earlier messages" on the conversation page: fetch the previous page of the thread as a
   fragment and put it in place of the link, keeping what the reader looks at where it was.
   Without JavaScript the link is an ordinary link to that page. */
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-thread-earlier]") : null;
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) {
      return;
    }
    var slot = link.closest("li");
    if (!slot || link.getAttribute("aria-busy") === "true") {
      return;
    }
    event.preventDefault();
    link.setAttribute("aria-busy", "true");
    var url = link.href + (link.href.indexOf("?") < 0 ? "?" : "&") + "fragment=thread";
    fetch(url, {
      credentials: "same-origin",
      headers: { "HX-Request": "true", "X-Requested-With": "XMLHttpRequest" }
    })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("earlier messages: " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var before = document.documentElement.scrollHeight;
        slot.insertAdjacentHTML("beforebegin", html);
        slot.parentNode.removeChild(slot);
        window.scrollBy(0, document.documentElement.scrollHeight - before);
        var next = document.getElementById("thread-earlier");
        var first = next ? next.nextElementSibling : null;
        if (first && first.focus) {
          first.setAttribute("tabindex", "-1");
          first.focus({ preventScroll: true });
        }
      })
      .catch(function () {
        window.location.href = link.href; /* fall back to the plain page */
      });
  });
})();
