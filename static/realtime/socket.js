/* The live socket of a desk page (realtime/, docs/realtime.md).

   One WebSocket per page to /ws/desk/. Every push arrives as {kind, data} and is dispatched as a
   "desk:push" CustomEvent on document (detail = {kind, data}); page scripts listen for it.
   "desk:live" events tell the state: {state: "open", reconnected} or {state: "closed"}.
   While the socket is down the pages poll as before (static/desk/live.js asks
   window.deskLive.connected); after a reconnect they fetch what they show once (catch-up).
   Reconnects back off from 1 s to 30 s; a 4401 close (logged out) stops trying. */
(function () {
  "use strict";

  var config = document.getElementById("desk-live-config");
  var settings = config ? JSON.parse(config.textContent) : {};
  var heartbeat = (settings.heartbeat || 25) * 1000;
  var live = {
    connected: false,
    userId: settings.user_id || null,
    strings: settings.strings || {},
    send: function (message) {
      if (socket && socket.readyState === 1) {
        socket.send(JSON.stringify(message));
        return true;
      }
      return false;
    }
  };
  window.deskLive = live;

  var socket = null;
  var delay = 1000;
  var everOpened = false;
  var beat = null;
  var lastActive = 0;

  function emit(name, detail) {
    document.dispatchEvent(new CustomEvent(name, { detail: detail }));
  }

  /* The status line of realtime/_live.html: "Live", or reconnecting with polling meanwhile. */
  function show(state) {
    var label = document.getElementById("live-state");
    if (label) {
      label.textContent = label.getAttribute(state === "open" ? "data-open" : "data-closed");
      label.className = "live-state live-" + state;
    }
  }

  function url() {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    var lang = document.documentElement.getAttribute("lang") || "";
    return scheme + "//" + window.location.host + "/ws/desk/?lang=" + encodeURIComponent(lang);
  }

  function connect() {
    try {
      socket = new WebSocket(url());
    } catch (err) {
      retry();
      return;
    }
    socket.addEventListener("open", function () {
      live.connected = true;
      delay = 1000;
      var reconnected = everOpened;
      everOpened = true;
      document.documentElement.setAttribute("data-live", "open");
      show("open");
      beat = window.setInterval(function () { live.send({ type: "ping" }); }, heartbeat);
      emit("desk:live", { state: "open", reconnected: reconnected });
    });
    socket.addEventListener("message", function (event) {
      var push;
      try {
        push = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (push && push.kind && push.kind !== "pong") {
        emit("desk:push", { kind: push.kind, data: push.data || {} });
      }
    });
    socket.addEventListener("close", function (event) {
      var wasOpen = live.connected;
      live.connected = false;
      socket = null;
      window.clearInterval(beat);
      document.documentElement.setAttribute("data-live", "closed");
      show("closed");
      if (wasOpen || !everOpened) {
        emit("desk:live", { state: "closed", code: event.code });
      }
      if (event.code !== 4401) {
        retry();
      }
    });
  }

  function retry() {
    window.setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30000);
  }

  /* The agent did something: routing's idle timer hears it, at most once a minute. */
  function active() {
    var now = Date.now();
    if (now - lastActive > 60000 && live.send({ type: "active" })) {
      lastActive = now;
    }
  }
  ["keydown", "pointerdown"].forEach(function (name) {
    document.addEventListener(name, active, { passive: true });
  });

  if ("WebSocket" in window && settings.enabled !== false) {
    connect();
  } else {
    document.documentElement.setAttribute("data-live", "closed");
    show("closed");
  }
})();
