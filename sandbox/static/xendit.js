// Xendit stand-in dashboard: reload every 3 s while "auto-refresh" is ticked and the tab is
// visible (the choice is remembered). The page itself is plain server-rendered HTML.
(function () {
  "use strict";
  var box = document.getElementById("auto-refresh");
  if (!box) { return; }
  var KEY = "xendit-sandbox-auto-refresh";
  try { box.checked = localStorage.getItem(KEY) !== "off"; } catch (e) { /* private mode */ }
  box.addEventListener("change", function () {
    try { localStorage.setItem(KEY, box.checked ? "on" : "off"); } catch (e) { /* ignore */ }
  });
  setInterval(function () {
    if (box.checked && !document.hidden) { window.location.reload(); }
  }, 3000);
})();
