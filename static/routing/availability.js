/* The top bar's availability switch (routing/, docs/routing.md): follows pushes of the agent's
   own availability (another page, idle -> Away, sign-out elsewhere), and says when a
   conversation was routed to the agent ("routing.assigned" push) with a link to open it. */
(function () {
  "use strict";

  var form = document.querySelector("form.availability");
  var notice = document.getElementById("routed-notice");
  if (!form) { return; }
  var select = form.querySelector("select");

  function show(value) {
    form.setAttribute("data-availability", value);
    if (select) { select.value = value; }
  }

  document.addEventListener("desk:push", function (event) {
    var push = event.detail || {};
    if (push.kind === "routing.availability" && push.data) {
      show(push.data.availability);
    } else if (push.kind === "routing.assigned" && push.data && notice) {
      notice.textContent = notice.getAttribute("data-text") + " ";
      var link = document.createElement("a");
      link.href = push.data.url;
      link.textContent = notice.getAttribute("data-open");
      notice.appendChild(link);
      notice.hidden = false;
    }
  });
})();
