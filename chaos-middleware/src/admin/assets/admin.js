// chaos admin: keeps the action table current (changes made with the CLI or by another
// operator show within 2 s). The page works without this script; it pauses while rows
// are ticked or the table has the keyboard focus, so nothing is lost mid-selection.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.fetch) { return; }
  function busy() {
    return live.querySelector("input[type=checkbox]:checked") !== null ||
      live.contains(document.activeElement);
  }
  function refresh() {
    if (document.hidden || busy()) { return; }
    fetch(live.getAttribute("data-src"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (text === null || busy()) { return; }
        var holder = document.createElement("div");
        holder.innerHTML = text;
        var fresh = holder.firstElementChild;
        if (fresh && fresh.id === "live" && fresh.innerHTML !== live.innerHTML) {
          live.replaceWith(fresh);
          live = fresh;
        }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  window.setInterval(refresh, 2000);
}());
