// asterisk-bridge web console: live wallboard updates over Server-Sent Events. No libraries.
(function () {
  "use strict";
  var body = document.body;
  var liveUrl = body.getAttribute("data-live");
  if (!liveUrl) return;
  var threshold = parseFloat(body.getAttribute("data-threshold")) || 20;
  var zone = body.getAttribute("data-timezone") || undefined;
  var lang = document.documentElement.lang || "ru";
  var status = document.getElementById("live");
  var statusText = status && status.querySelector(".text");
  var clock = document.getElementById("clock");
  var banner = document.getElementById("ami-banner");
  var values = {}, waits = {}, levels = {}, rows = {};
  var skew = (parseFloat(body.getAttribute("data-now")) || Date.now() / 1000) * 1000 - Date.now();
  var since = {};
  var clockFormat;
  try {
    clockFormat = new Intl.DateTimeFormat(lang, { timeZone: zone, hour: "2-digit", minute: "2-digit" });
  } catch (e) {
    clockFormat = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-v]"), function (el) { values[el.getAttribute("data-v")] = el; });
  Array.prototype.forEach.call(document.querySelectorAll("[data-wait]"), function (el) {
    var id = el.getAttribute("data-wait");
    waits[id] = el;
    var s = el.getAttribute("data-since");
    since[id] = s ? parseFloat(s) : null;
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-level]"), function (el) { levels[el.getAttribute("data-level")] = el; });
  Array.prototype.forEach.call(document.querySelectorAll("[data-row]"), function (el) { rows[el.getAttribute("data-row")] = el; });

  function say(state) {
    if (!status) return;
    status.className = "live " + (state === "live" ? "on" : "off");
    if (statusText) statusText.textContent = status.getAttribute("data-" + state) || state;
  }

  function mmss(seconds) {
    var t = Math.max(0, Math.floor(seconds)), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = t % 60;
    var ss = (s < 10 ? "0" : "") + s;
    return h ? h + ":" + (m < 10 ? "0" : "") + m + ":" + ss : m + ":" + ss;
  }

  function bump(el) {
    el.classList.remove("bump");
    void el.offsetWidth; // restart the animation
    el.classList.add("bump");
  }

  function tick() {
    var now = (Date.now() + skew) / 1000;
    Object.keys(waits).forEach(function (id) {
      var el = waits[id], start = since[id];
      if (start === null || start === undefined) return;
      var waited = now - start;
      el.textContent = mmss(waited);
      el.classList.toggle("late", waited > threshold && waited <= 3 * threshold);
      el.classList.toggle("very-late", waited > 3 * threshold);
    });
  }

  function apply(data) {
    skew = data.at * 1000 - Date.now();
    if (clock) clock.textContent = clockFormat.format(new Date(data.at * 1000)); // the service's own clock
    var missing = false;
    Object.keys(data.values).forEach(function (key) {
      var el = values[key];
      if (!el) { missing = true; return; }
      if (key.slice(-13) === "|longest_wait") return; // ticked below
      if (el.textContent !== data.values[key]) { el.textContent = data.values[key]; bump(el); }
    });
    Object.keys(data.waits).forEach(function (id) {
      var el = waits[id];
      if (!el) { missing = true; return; }
      since[id] = data.waits[id];
      if (data.waits[id] === null) { el.textContent = data.values[id + "|longest_wait"]; el.classList.remove("late", "very-late"); }
    });
    Object.keys(data.levels).forEach(function (id) {
      var el = levels[id];
      if (el) { el.classList.remove("good", "warn", "bad"); if (data.levels[id]) el.classList.add(data.levels[id]); }
    });
    Object.keys(data.idle).forEach(function (id) { if (rows[id]) rows[id].classList.toggle("idle", data.idle[id]); });
    Object.keys(data.states || {}).forEach(function (id) { if (rows[id]) rows[id].setAttribute("data-state", data.states[id]); });
    if (banner) banner.hidden = data.ami !== "down";
    if (missing) window.location.reload(); // a new line or queue appeared: draw the board again
    tick();
  }

  var source = null, retry = 2000;
  function connect() {
    source = new EventSource(liveUrl);
    source.addEventListener("board", function (e) { retry = 2000; say("live"); apply(JSON.parse(e.data)); });
    source.onerror = function () {
      say("lost");
      if (source.readyState !== EventSource.CLOSED) return; // the browser reconnects by itself
      source.close();
      // Refused (not a network error): a restart ended the session? The page itself tells.
      fetch(window.location.href, { redirect: "manual", cache: "no-store", credentials: "same-origin" }).then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 401) { window.location.reload(); return; }
        setTimeout(connect, retry);
      }, function () { setTimeout(connect, retry); });
      retry = Math.min(retry * 2, 30000);
    };
  }
  connect();
  setInterval(tick, 1000);
  tick();
})();
