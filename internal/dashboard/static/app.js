// vmo-cue dashboard: live updates (server-sent events) and keyboard navigation. No inline script
// anywhere: the Content-Security-Policy allows only this file.
(function () {
  "use strict";
  var stateEl = function () { return document.getElementById("live-state"); };
  function refresh() {
    if (document.querySelector("form.vmform")) { return; } // never under a form being filled
    var a = document.activeElement;
    if (a && a.closest && a.closest("#main form")) { return; } // nor while typing a search
    fetch(location.href, { credentials: "same-origin", headers: { "X-Requested-With": "vmo-cue" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main"), cur = document.getElementById("main");
        if (!fresh || !cur) { return; }
        var focused = document.activeElement && document.activeElement.getAttribute("data-href");
        var open = Array.prototype.map.call(cur.querySelectorAll("details:not([open])"), function (d) { return d.textContent.slice(0, 80); });
        cur.replaceWith(document.importNode(fresh, true));
        Array.prototype.forEach.call(document.querySelectorAll("#main details"), function (d) {
          if (open.indexOf(d.textContent.slice(0, 80)) >= 0) { d.removeAttribute("open"); }
        });
        if (focused) {
          var row = document.querySelector('#main tr[data-href="' + CSS.escape(focused) + '"]');
          if (row) { row.focus(); }
        }
        var s = stateEl(); if (s) { s.textContent = "live, updated " + new Date().toLocaleTimeString(); }
      })
      .catch(function () { var s = stateEl(); if (s) { s.textContent = "update failed, retrying"; } });
  }
  if (window.EventSource) {
    var es = new EventSource("/events");
    es.addEventListener("refresh", refresh);
    es.onerror = function () { var s = stateEl(); if (s) { s.textContent = "reconnecting"; } };
  }
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#main tr[data-href]")); }
  document.addEventListener("keydown", function (e) {
    var t = e.target, tag = t && t.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || e.altKey || e.ctrlKey || e.metaKey) { return; }
    if (e.key === "/") {
      e.preventDefault();
      var q = document.getElementById("search-q") || document.getElementById("quick-q");
      if (q) { q.focus(); q.select(); }
      return;
    }
    var list = rows();
    if (!list.length) { return; }
    var i = list.indexOf(document.activeElement);
    if (e.key === "j" || e.key === "ArrowDown" && i >= 0) { e.preventDefault(); list[Math.min(i + 1, list.length - 1)].focus(); }
    else if (e.key === "k" || e.key === "ArrowUp" && i >= 0) { e.preventDefault(); list[Math.max(i - 1, 0)].focus(); }
    else if (e.key === "Enter" && i >= 0) { e.preventDefault(); location.href = list[i].getAttribute("data-href"); }
  });
})();
