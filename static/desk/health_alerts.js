// The admin's channel health banner (channels_app/admin_health.py): asks for the unseen
// warnings and critical alerts at once, then every 20 s (so an alert shows within 60 s without a
// live socket), and at once on a "channel_health" push (realtime, when the page has a socket).
(function () {
  "use strict";
  var box = document.getElementById("health-alerts");
  if (!box) return;
  var url = box.getAttribute("data-url");
  var list = box.querySelector("ul");

  function show(alerts) {
    list.textContent = "";
    alerts.forEach(function (a) {
      var li = document.createElement("li");
      li.className = a.severity >= 2 ? "critical" : "warning";
      var who = document.createElement("strong");
      who.textContent = a.channel + ": ";
      li.appendChild(who);
      li.appendChild(document.createTextNode(a.summary));
      list.appendChild(li);
    });
    box.hidden = alerts.length === 0;
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { alerts: [] }; })
      .then(function (data) { show(data.alerts || []); })
      .catch(function () {});
  }

  document.addEventListener("desk:push", function (e) {
    if (e.detail && e.detail.kind === "channel_health") refresh();
  });
  refresh();
  setInterval(refresh, 20000);
})();
