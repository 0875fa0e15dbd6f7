/* The conversation page, live (realtime/, docs/realtime.md).

   New messages (the customer's and colleagues' replies), edits and notes: the page fetches the
   latest page of the thread (the access-checked fragment the server renders for this user) and
   merges it by row id. Ticks move in place from the push alone. Status, assignee, tags, topics
   and notes: the page fetches itself and swaps the header's state and the side panel (a form
   being typed in is left alone). Viewers and typing come from the socket. Sending a reply after
   a colleague's newer reply landed asks first. Without the socket it polls every 10 s. */
(function () {
  "use strict";

  var live = window.deskLive;
  var timeline = document.getElementById("timeline");
  var config = document.getElementById("desk-live-config");
  var settings = config ? JSON.parse(config.textContent) : {};
  var id = settings.conversation_id;
  if (!live || !timeline || !id) { return; }
  var strings = live.strings;
  var colleagueReplied = false;
  var latest = !document.getElementById("thread-later");
  var busy = false;
  var again = false;

  function csrf() {
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function get(url) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { "HX-Request": "true", "X-Requested-With": "XMLHttpRequest" }
    }).then(function (response) {
      if (!response.ok || response.redirected) { throw new Error("live: " + response.status); }
      return response.text();
    });
  }

  /* Merge the latest page of the thread: replace rows by id, append the new ones in order. */
  function mergeThread() {
    if (!latest) { return Promise.resolve(); }
    if (busy) { again = true; return Promise.resolve(); }
    busy = true;
    return get(window.location.pathname + "?fragment=thread").then(function (html) {
      var holder = document.createElement("ol");
      holder.innerHTML = html;
      var nearBottom = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 80;
      var empty = timeline.querySelector("li.empty");
      Array.prototype.forEach.call(holder.querySelectorAll("li[id^='message-'], li[id^='note-']"), function (row) {
        var mine = document.getElementById(row.id);
        if (mine) {
          if (mine.innerHTML !== row.innerHTML) { mine.replaceWith(row); }
        } else {
          timeline.appendChild(row);
          row.classList.add("flash");
          if (empty) { empty.remove(); empty = null; }
        }
      });
      if (nearBottom) { window.scrollTo(0, document.documentElement.scrollHeight); }
    }).catch(function () { /* the next push or poll tries again */ }).then(function () {
      busy = false;
      if (again) { again = false; mergeThread(); }
    });
  }

  /* Status, assignee, labels, notes: the page as the server renders it now, parts swapped. */
  function refreshState() {
    return get(window.location.pathname).then(function (html) {
      var page = new DOMParser().parseFromString(html, "text/html");
      var swap = function (selector) {
        var mine = document.querySelector(selector);
        var theirs = page.querySelector(selector);
        if (mine && theirs && !mine.contains(document.activeElement)) { mine.replaceWith(theirs); }
      };
      swap(".conv-state");
      var cards = document.querySelectorAll("aside.side > section");
      var fresh = page.querySelectorAll("aside.side > section");
      if (cards.length === fresh.length) {
        Array.prototype.forEach.call(cards, function (card, i) {
          var typing = card.querySelector("textarea") && card.querySelector("textarea").value;
          if (!card.contains(document.activeElement) && !typing) { card.replaceWith(fresh[i]); }
        });
      }
      var composer = document.querySelector(".composer");
      var theirComposer = page.querySelector(".composer");
      var body = document.getElementById("id_reply_body");
      if (composer && theirComposer && !(body && body.value) && !composer.contains(document.activeElement)) {
        composer.replaceWith(theirComposer);
        wireComposer();
  if (live.connected) { view(); }  // the socket opened before this script ran
      }
    }).catch(function () {});
  }

  function ticks(data) {
    var labels = data.labels || {};
    Object.keys(data.deliveries || {}).forEach(function (messageId) {
      var state = data.deliveries[messageId];
      var el = document.querySelector("#message-" + messageId + " .delivery");
      if (!el) { return; }
      el.className = "delivery delivery-" + state;
      el.textContent = labels[state] || state;
    });
    if (Object.keys(data.deliveries || {}).some(function (m) { return data.deliveries[m] === "failed"; })) {
      mergeThread();  // the failure reason and the Retry button come with the row
    }
  }

  function markRead() {
    if (document.hidden || !settings.urls) { return; }
    fetch(settings.urls.read.replace("/0/", "/" + id + "/"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf() }
    }).catch(function () {});
  }

  document.addEventListener("desk:push", function (event) {
    var kind = event.detail.kind;
    var data = event.detail.data;
    if (kind === "viewer") { viewer(data); return; }
    if (kind === "access") { refreshState(); mergeThread(); return; }
    if (kind === "conversations") {
      if (data.ids && data.ids.indexOf(id) >= 0) { refreshState(); }
      return;
    }
    var conversation = data.conversation_id || data.id;
    if (conversation !== id) { return; }
    if (kind === "delivery") { ticks(data); return; }
    if (kind === "message") {
      if (data.direction === "out" && data.author_id && data.author_id !== live.userId) {
        colleagueReplied = true;
      }
      mergeThread().then(function () { if (data.direction === "in") { markRead(); } });
      if (data.direction === "in") { refreshState(); }  // the reply window may have opened
      return;
    }
    if (kind === "message_changed") { mergeThread(); return; }
    if (kind === "conversation") {
      refreshState();
      if (data.change === "note_added") { mergeThread(); }
    }
  });

  /* Viewers and typing: one line under the header. */
  var viewers = {};
  var line = document.createElement("p");
  line.id = "viewers";
  line.className = "viewers muted";
  line.setAttribute("aria-live", "polite");
  var head = document.querySelector(".conv-head");
  if (head) { head.appendChild(line); }

  function viewer(data) {
    if (data.user_id === live.userId && data.state !== "left") { /* another tab of mine */ }
    if (data.state === "left") { delete viewers[data.page]; } else { viewers[data.page] = data; }
    var parts = [];
    var seen = {};
    Object.keys(viewers).forEach(function (page) {
      var v = viewers[page];
      if (v.user_id === live.userId) { return; }
      var text = (v.state === "typing" ? strings.typing : strings.viewing).replace("%(name)s", v.name);
      if (!seen[v.user_id] || v.state === "typing") { seen[v.user_id] = text; }
    });
    Object.keys(seen).forEach(function (k) { parts.push(seen[k]); });
    line.textContent = parts.join(" · ");
  }

  function view() { live.send({ type: "view", conversation_id: id }); }

  document.addEventListener("desk:live", function (event) {
    if (event.detail.state === "open") {
      viewers = {};
      view();
      if (event.detail.reconnected) { mergeThread(); refreshState(); }
    }
  });

  /* Typing: said when it starts, and again when it stops (5 s without a key). */
  var typingTimer = null;
  var typing = false;
  function wireComposer() {
    var body = document.getElementById("id_reply_body");
    var form = document.getElementById("reply-box");
    if (!body || !form) { return; }
    body.addEventListener("input", function () {
      if (!typing) { typing = true; live.send({ type: "typing", typing: true }); }
      window.clearTimeout(typingTimer);
      typingTimer = window.setTimeout(function () {
        typing = false;
        live.send({ type: "typing", typing: false });
      }, 5000);
    });
    form.addEventListener("submit", function (event) {
      if (colleagueReplied && !window.confirm(strings.colleague_replied)) {
        event.preventDefault();
        return;
      }
      colleagueReplied = false;
      if (typing) { typing = false; live.send({ type: "typing", typing: false }); }
    });
  }
  wireComposer();
  if (live.connected) { view(); }  // the socket opened before this script ran

  /* The polling fallback: while the socket is down, the thread and the state every 10 s. */
  window.setInterval(function () {
    if (!live.connected && !document.hidden) { mergeThread(); }
  }, 10000);

  markRead();
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { markRead(); } });
})();
