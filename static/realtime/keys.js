/* Keyboard shortcuts of the inbox and the conversation page, each with a mouse equivalent
   (docs/realtime.md): j/k move through the list, Enter opens, x selects for a bulk action,
   e resolves, p moves to Pending, a assigns to me, / searches, ? shows the help,
   Ctrl/Cmd+Enter sends the reply. After resolving, the next conversation of the queue opens. */
(function () {
  "use strict";

  var help = document.getElementById("shortcuts");
  var opener = document.getElementById("live-help-open");
  var region = document.getElementById("inbox-live");
  var timeline = document.getElementById("timeline");

  function showHelp() {
    if (help && !help.open) { help.showModal(); }
  }
  if (opener) { opener.addEventListener("click", showHelp); }

  function csrf() {
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function typingIn(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  /* The queue the inbox showed last (static/realtime/inbox.js remembers it). */
  function queue() {
    try {
      return JSON.parse(window.sessionStorage.getItem("desk.queue") || "{}");
    } catch (err) {
      return {};
    }
  }

  function neighbour(id, step) {
    var ids = queue().ids || [];
    var at = ids.indexOf(String(id));
    if (at < 0) { return null; }
    return ids[at + step] || null;
  }

  /* --- the inbox ------------------------------------------------------------------------- */
  function rows() { return region ? Array.prototype.slice.call(region.querySelectorAll(".conversation-row")) : []; }
  function selected() { return region ? region.querySelector(".conversation-row.selected") : null; }

  function select(row) {
    var current = selected();
    if (current) { current.classList.remove("selected"); }
    if (!row) { return; }
    row.classList.add("selected");
    var link = row.querySelector(".row-link");
    if (link) { link.focus({ preventScroll: false }); }
  }

  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var current = selected();
    var at = current ? all.indexOf(current) : -1;
    var next = all[Math.min(all.length - 1, Math.max(0, at + step))];
    select(next);
  }

  function post(url, fields) {
    var body = new URLSearchParams(fields);
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), "HX-Request": "true" },
      body: body
    });
  }

  function actOnRow(action) {
    var row = selected();
    if (!row) { return; }
    var id = row.getAttribute("data-id");
    var base = "/conversations/" + id + "/";
    var request = action === "assign" ? post(base + "assign/", { assignee: "me" }) : post(base + "move/", { to: action });
    request.then(function (response) {
      if (!response.ok) { return response.text().then(function (text) { window.alert(text); }); }
      if (!(window.deskLive && window.deskLive.connected)) {
        document.dispatchEvent(new CustomEvent("desk:refresh-live"));
      }
      return null;
    });
    if (action === "resolved" || action === "pending") {
      var all = rows();
      var at = all.indexOf(row);
      select(all[at + 1] || all[at - 1] || null);
    }
  }

  if (region) {
    region.addEventListener("click", function (event) {
      var row = event.target.closest && event.target.closest(".conversation-row");
      if (row && event.target.classList.contains("row-select")) { select(row); }
    });
  }

  /* --- the conversation page ------------------------------------------------------------- */
  var config = document.getElementById("desk-live-config");
  var conversationId = config ? JSON.parse(config.textContent).conversation_id : null;

  function click(selector) {
    var button = document.querySelector(selector);
    if (button) { button.click(); }
  }

  function assignToMe() {
    var pick = document.getElementById("id_assignee_pick");
    if (!pick) { return; }
    pick.value = "me";
    pick.form.requestSubmit();
  }

  /* Resolving from this page (button or e) opens the next conversation of the queue. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var to = form.querySelector && form.querySelector("input[name=to]");
    if (!conversationId || !to || to.value !== "resolved") { return; }
    var next = neighbour(conversationId, 1);
    var target = next ? "/conversations/" + next + "/" : (queue().url || "/inbox/");
    var field = form.querySelector("input[name=next]") || document.createElement("input");
    field.type = "hidden";
    field.name = "next";
    field.value = target;
    form.appendChild(field);
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      var reply = document.getElementById("reply-box");
      if (reply && reply.contains(event.target)) {
        event.preventDefault();
        reply.requestSubmit();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) { return; }
    if (help && help.open) { return; }
    var key = event.key;
    if (key === "?") { event.preventDefault(); showHelp(); return; }
    if (region) {
      if (key === "j") { move(1); }
      else if (key === "k") { move(-1); }
      else if (key === "/") { event.preventDefault(); var q = document.getElementById("id_q"); if (q) { q.focus(); } }
      else if (key === "x") { var row = selected(); if (row) { row.querySelector(".row-select").click(); } }
      else if (key === "e") { actOnRow("resolved"); }
      else if (key === "p") { actOnRow("pending"); }
      else if (key === "a") { actOnRow("assign"); }
      else if (key === "Enter") { var open = selected(); if (open && event.target === document.body) { open.querySelector(".row-link").click(); } }
      return;
    }
    if (timeline && conversationId) {
      if (key === "e") { click("button.move-resolved"); }
      else if (key === "p") { click("button.move-pending"); }
      else if (key === "a") { assignToMe(); }
      else if (key === "/") { event.preventDefault(); window.location.href = (queue().url || "/inbox/") + "#search"; }
      else if (key === "j" || key === "k") {
        var other = neighbour(conversationId, key === "j" ? 1 : -1);
        if (other) { window.location.href = "/conversations/" + other + "/"; }
      }
    }
  });

  if (region && window.location.hash === "#search") {
    var search = document.getElementById("id_q");
    if (search) { search.focus(); }
  }
})();
