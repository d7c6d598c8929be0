// Xendit stand-in checkout: live countdown, pay / let-it-expire without leaving the page,
// and the invoice's final state as soon as it has one (paid elsewhere, expired by the
// merchant or by time). Without JavaScript the forms post and the page reloads: same result.
(function () {
  "use strict";
  var card = document.getElementById("checkout");
  if (!card) { return; }
  var countdown = document.getElementById("countdown");
  var errorBox = document.getElementById("error");
  var expiry = Date.parse(card.dataset.expiry);
  var finished = card.dataset.status !== "PENDING";
  var busy = false;
  var lapsed = false;

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function remaining(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var days = Math.floor(s / 86400);
    var text = two(Math.floor(s / 3600) % 24) + ":" + two(Math.floor(s / 60) % 60) + ":" + two(s % 60);
    return days ? days + " d " + text : text;
  }

  function money(amount) {
    return "Rp " + String(Math.trunc(amount)).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  }

  function when(iso) {
    var d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function show(state) {
    if (!state || state.status === "PENDING") { return; }
    finished = true;
    card.dataset.status = state.status;
    var paid = state.status === "PAID" || state.status === "SETTLED";
    var badge = document.getElementById("status-badge");
    badge.textContent = paid ? "PAID" : state.status;
    badge.className = "badge badge-" + (paid ? "paid" : "expired");
    document.getElementById("pay").hidden = true;
    var result = document.getElementById("result");
    result.className = "result result-" + (paid ? "paid" : "expired");
    document.getElementById("result-icon").textContent = paid ? "\u2713" : "\u2715";
    document.getElementById("result-title").textContent = paid ? "Payment successful" : "This invoice has expired";
    document.getElementById("result-detail").textContent = paid
      ? money(state.paid_amount) + " paid with " + state.payment_channel + " on " + when(state.paid_at)
      : "It can no longer be paid. Ask the merchant for a new payment link.";
    var back = document.getElementById("return-link");
    var url = paid ? card.dataset.successUrl : card.dataset.failureUrl;
    back.hidden = !url;
    if (url) { back.href = url; }
    result.hidden = false;
  }

  function refresh() {
    return fetch(card.dataset.stateUrl, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(show)
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }

  function tick() {
    if (finished) { return; }
    var left = expiry - Date.now();
    countdown.textContent = remaining(left);
    countdown.parentNode.classList.toggle("soon", left < 60000);
    if (left <= 0 && !lapsed) {  // the server expires it on the next read
      lapsed = true;
      Array.prototype.forEach.call(document.querySelectorAll("#pay button"), function (b) { b.disabled = true; });
      setTimeout(refresh, 1200);
    }
  }

  function submit(event) {
    var form = event.target;
    event.preventDefault();
    if (busy || finished || lapsed) { return; }
    busy = true;
    var button = form.querySelector("button");
    var label = button.textContent;
    button.disabled = true;
    button.textContent = form.dataset.kind === "pay" ? "Processing\u2026" : "Expiring\u2026";
    errorBox.hidden = true;
    fetch(form.action, {
      method: "POST",
      headers: { Accept: "application/json" },
      body: new URLSearchParams(new FormData(form))
    }).then(function (r) {
      return r.json().then(function (state) {
        if (!r.ok && (!state || !state.status)) { throw new Error(state && state.message || ("HTTP " + r.status)); }
        show(state);
      });
    }).catch(function (err) {
      errorBox.textContent = "Something went wrong: " + err.message + ". Please try again.";
      errorBox.hidden = false;
    }).then(function () {
      busy = false;
      button.disabled = lapsed;
      button.textContent = label;
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-kind]"), function (form) {
    form.addEventListener("submit", submit);
  });
  var at = document.getElementById("expiry-at");
  if (at && !isNaN(expiry)) { at.textContent = "(until " + when(card.dataset.expiry) + ")"; }
  if (!finished) {
    tick();
    setInterval(tick, 1000);
    setInterval(function () { if (!finished && !document.hidden) { refresh(); } }, 3000);
  }
})();
