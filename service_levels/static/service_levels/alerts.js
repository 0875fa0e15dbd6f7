/* SLA alerts pushed live (service_levels.sweep -> realtime push -> `desk:push` on document):
   a short notice at the bottom of any desk page, linking to the conversation; the text comes
   in the page's language from the push, the due time is shown in the browser's time zone. */
(function () {
  "use strict";
  var box = document.getElementById("sla-alerts");
  if (!box) { return; }
  var KEEP_MS = 20000;

  function at(iso) {
    var when = iso ? new Date(iso) : null;
    return when && !isNaN(when) ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  }

  function show(text, href, urgent) {
    var item = document.createElement(href ? "a" : "p");
    item.className = "sla-alert" + (urgent ? " urgent" : "");
    item.textContent = text;
    if (href) { item.href = href; }
    box.appendChild(item);
    while (box.children.length > 3) { box.removeChild(box.firstChild); }
    setTimeout(function () { if (item.parentNode) { item.parentNode.removeChild(item); } }, KEEP_MS);
  }

  document.addEventListener("desk:push", function (event) {
    var detail = event.detail || {};
    var data = detail.data || {};
    if (detail.kind === "sla.alert" && data.text) {
      var due = at(data.due_at);
      show(data.text + (due ? " (" + due + ")" : ""), "/conversations/" + data.conversation_id + "/",
           data.kind !== "sla_warning");
    } else if (detail.kind === "sla.summary" && data.text) {
      show(data.text, null, true);
    }
  });
}());
