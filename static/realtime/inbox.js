/* The inbox, live (realtime/, docs/realtime.md): pushed rows are put in place without a fetch.

   A push of kind message / message_changed / conversation carries the conversation's row
   rendered by the server in this page's language (data.html) and the values that place it
   (status, channel, assignee, tags, topics). The row is replaced, moved to the top (newest
   activity first), inserted, or removed when it no longer matches the queue and filters shown.
   Under a search, or on a later page, the page fetches its list instead (desk:refresh-live).
   Also: unread markers, the title's count of new conversations, opt-in browser notifications
   and sound, and the bulk bar's selection. */
(function () {
  "use strict";

  var region = document.getElementById("inbox-live");
  var live = window.deskLive;
  if (!region || !live) { return; }
  var strings = live.strings;
  var baseTitle = document.title;
  var unseen = 0;
  var store = window.localStorage;

  function attr(name) { return region.getAttribute(name) || ""; }

  function matches(data) {
    if (data.status !== attr("data-status")) { return false; }
    if (attr("data-channel") && String(data.channel_id) !== attr("data-channel")) { return false; }
    var assignee = attr("data-assignee");
    if (assignee === "me" && data.assignee_id !== live.userId) { return false; }
    if (assignee === "unassigned" && data.assignee_id !== null) { return false; }
    if (attr("data-tag") && (data.tag_ids || []).indexOf(parseInt(attr("data-tag"), 10)) < 0) { return false; }
    if (attr("data-topic") && (data.topic_ids || []).indexOf(parseInt(attr("data-topic"), 10)) < 0) { return false; }
    return true;
  }

  function counter(status) {
    return region.querySelector('.count[data-queue="' + status + '"]');
  }

  function bump(status, by) {
    var el = counter(status);
    if (!el || /\+$/.test(el.textContent)) { return; }
    var n = parseInt(el.textContent.replace(/[^0-9]/g, ""), 10) || 0;
    el.textContent = String(Math.max(0, n + by));
  }

  function rowFrom(html) {
    var holder = document.createElement("ol");
    holder.innerHTML = html.trim();
    return holder.firstElementChild;
  }

  function place(data) {
    var existing = document.getElementById("row-" + data.id);
    var list = region.querySelector(".conversation-list");
    var fits = matches(data);
    var previous = existing ? attr("data-status") : (data.previous_status || null);
    if (data.created) { bump(data.status, 1); }
    else if (data.reopened) { bump("resolved", -1); bump(data.status, 1); }
    else if (previous && previous !== data.status) { bump(previous, -1); bump(data.status, 1); }
    if (!fits) {
      if (existing) { existing.parentNode.removeChild(existing); }
      return;
    }
    // Longest waiting first: the server knows each row's place (its stored waiting time).
    if (!list || !region.hasAttribute("data-first-page") || region.getAttribute("data-sort")) {
      document.dispatchEvent(new CustomEvent("desk:refresh-live"));
      return;
    }
    var row = rowFrom(data.html);
    if (!row) { return; }
    var wasUnread = existing && existing.classList.contains("unread");
    var wasChecked = existing && existing.querySelector(".row-select:checked");
    var wasSelected = existing && existing.classList.contains("selected");
    if ((data.kind === "message" && data.direction === "in") || wasUnread) {
      row.classList.add("unread");
    }
    if (wasChecked) { row.querySelector(".row-select").checked = true; }
    if (wasSelected) { row.classList.add("selected"); }
    if (existing) { existing.parentNode.removeChild(existing); }
    var moves = data.kind === "message" || data.kind === "conversation" && data.change === "status";
    if (existing && !moves) {
      // Same place: find the row's neighbour by activity order.
      insertByActivity(list, row);
    } else {
      list.insertBefore(row, list.firstElementChild);
    }
    row.classList.add("flash");
    window.setTimeout(function () { row.classList.remove("flash"); }, 1500);
  }

  function insertByActivity(list, row) {
    var at = row.getAttribute("data-activity");
    var rows = list.querySelectorAll(".conversation-row");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-activity") < at) {
        list.insertBefore(row, rows[i]);
        return;
      }
    }
    list.appendChild(row);
  }

  function notify(data) {
    var mine = data.assignee_id === live.userId;
    var fresh = data.kind === "message" && (data.created || data.reopened);
    var customerWrote = data.kind === "message" && data.direction === "in" && mine;
    if (!fresh && !customerWrote) { return; }
    if (fresh && (document.hidden || !document.hasFocus())) {
      unseen += 1;
      document.title = "(" + unseen + ") " + baseTitle;
    }
    var text = fresh ? strings.new_conversation : strings.new_message;
    if (store.getItem("desk.notify") === "on" && "Notification" in window &&
        Notification.permission === "granted" && document.hidden) {
      var note = new Notification(text, { body: data.preview || "", tag: "desk-" + data.id });
      note.onclick = function () { window.focus(); window.location.href = "/conversations/" + data.id + "/"; };
    }
    if (store.getItem("desk.sound") === "on") { beep(); }
  }

  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    var ctx = new Context();
    var tone = ctx.createOscillator();
    var gain = ctx.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.3);
    tone.connect(gain).connect(ctx.destination);
    tone.start();
    tone.stop(ctx.currentTime + 0.3);
  }

  function resetTitle() {
    unseen = 0;
    document.title = baseTitle;
  }
  window.addEventListener("focus", resetTitle);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { resetTitle(); } });

  document.addEventListener("desk:push", function (event) {
    var kind = event.detail.kind;
    var data = event.detail.data;
    if (kind === "read") {
      var row = document.getElementById("row-" + data.conversation_id);
      if (row) { row.classList.remove("unread"); }
      return;
    }
    if (kind === "access") {
      document.dispatchEvent(new CustomEvent("desk:refresh-live"));
      return;
    }
    if (kind === "conversations") {
      // Many conversations changed at once (an auto-resolve batch): the list is fetched once.
      schedule();
      return;
    }
    if ((kind !== "message" && kind !== "message_changed" && kind !== "conversation") || !data.html) {
      return;
    }
    data.kind = kind;
    if (attr("data-q")) {
      schedule();
    } else {
      place(data);
    }
    notify(data);
  });

  var pending = null;
  function schedule() {
    if (pending) { return; }
    pending = window.setTimeout(function () {
      pending = null;
      document.dispatchEvent(new CustomEvent("desk:refresh-live"));
    }, 1000);
  }

  /* Opt-in switches, remembered in this browser. */
  function toggle(id, key, onEnable) {
    var button = document.getElementById(id);
    if (!button) { return; }
    function show() { button.setAttribute("aria-pressed", store.getItem(key) === "on" ? "true" : "false"); }
    show();
    button.addEventListener("click", function () {
      if (store.getItem(key) === "on") {
        store.removeItem(key);
        show();
        return;
      }
      Promise.resolve(onEnable ? onEnable() : true).then(function (ok) {
        if (ok) { store.setItem(key, "on"); }
        show();
      });
    });
  }
  toggle("live-notify", "desk.notify", function () {
    if (!("Notification" in window)) { return false; }
    return Notification.requestPermission().then(function (answer) {
      if (answer !== "granted") { window.alert(strings.notifications_blocked); }
      return answer === "granted";
    });
  });
  toggle("live-sound", "desk.sound", function () { beep(); return true; });

  /* The bulk bar: shown with a count once a row is ticked; "select all" ticks the page. */
  function bulkState() {
    var form = document.getElementById("bulk-form");
    if (!form) { return; }
    var ticked = region.querySelectorAll(".row-select:checked").length;
    form.classList.toggle("active", ticked > 0);
    var count = document.getElementById("bulk-count");
    if (count && ticked) { count.textContent = strings.selected.replace("%(n)s", ticked); }
  }
  region.addEventListener("change", function (event) {
    if (event.target.id === "bulk-all") {
      region.querySelectorAll(".row-select").forEach(function (box) { box.checked = event.target.checked; });
    }
    bulkState();
  });
  region.addEventListener("live:updated", bulkState);

  /* The queue's order for "after resolving, the next conversation opens". */
  function remember() {
    var ids = Array.prototype.map.call(region.querySelectorAll(".conversation-row"), function (row) {
      return row.getAttribute("data-id");
    });
    try {
      window.sessionStorage.setItem("desk.queue", JSON.stringify({ ids: ids, url: window.location.pathname + window.location.search }));
    } catch (err) { /* private mode */ }
  }
  remember();
  region.addEventListener("live:updated", remember);
  document.addEventListener("desk:push", function () { window.setTimeout(remember, 0); });
})();
