/* The live monitor (/monitor/): a "routing.monitor" push for one of the channels shown makes
   the region fetch its figures again (static/desk/live.js, forced); without the socket it
   polls every 15 s. Pushes in a burst are folded into one fetch. */
(function () {
  "use strict";

  var timer = null;
  document.addEventListener("desk:push", function (event) {
    var push = event.detail || {};
    if (push.kind !== "routing.monitor") { return; }
    if (timer) { return; }
    timer = window.setTimeout(function () {
      timer = null;
      document.dispatchEvent(new CustomEvent("desk:refresh-live"));
    }, 300);
  });
})();
