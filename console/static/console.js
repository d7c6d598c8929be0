// Progressive enhancement only: every page works without it.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.dataset && form.dataset.confirm;
  if (question && !window.confirm(question)) { event.preventDefault(); return; }
  // A form that sends a message is sent once (the server also drops a second post of it).
  if (form.dataset && "once" in form.dataset) {
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  }
});

// Live parts (the inbox list, a conversation's transcript, the nav badge) poll the URL in their
// data-live attribute; without JavaScript a reload shows the same.
const LIVE_MS = 3000, BADGE_MS = 10000;

function poll(url, every, apply) {
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        const answer = await fetch(url, {credentials: "same-origin", headers: {accept: "application/json"}});
        if (!(answer.headers.get("content-type") || "").includes("application/json")) {
          stopped = true;  // signed out (the login page answered) or gone: stop asking
          return;
        }
        apply(await answer.json());
      } catch (error) {
        // offline for a moment: try again at the next tick
      }
    }
    window.setTimeout(tick, every);
  };
  tick();
}

function showWaiting(count) {
  const badge = document.getElementById("inbox-badge");
  if (!badge || typeof count !== "number") return;
  badge.textContent = count ? String(count) : "";
  badge.hidden = !count;
}

function liveInbox(list) {
  let shown = "";
  poll(list.dataset.live, LIVE_MS, (data) => {
    showWaiting(data.waiting);
    if (typeof data.html === "string" && data.html !== shown) {
      list.innerHTML = data.html;
      shown = data.html;
    }
  });
}

function replyInProgress() {
  const reply = document.getElementById("reply");
  return Boolean(reply && (reply.value.trim() !== "" || document.activeElement === reply));
}

function liveConversation(transcript) {
  let shown = "";
  transcript.scrollTop = transcript.scrollHeight;
  poll(transcript.dataset.live, LIVE_MS, (data) => {
    showWaiting(data.waiting);
    if (typeof data.html === "string" && data.html !== shown) {
      const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80;
      transcript.innerHTML = data.html;  // the transcript only: never the reply box
      if (atBottom) transcript.scrollTop = transcript.scrollHeight;
      shown = data.html;
    }
    if (data.version !== undefined && String(data.version) !== transcript.dataset.version) {
      // taken, handed back or flagged elsewhere: the actions on the page are out of date
      if (replyInProgress()) document.getElementById("changed").hidden = false;
      else window.location.replace(window.location.pathname);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const list = document.getElementById("inbox-list");
  const transcript = document.getElementById("transcript");
  const badge = document.getElementById("inbox-badge");
  if (list && list.dataset.live) liveInbox(list);
  else if (transcript && transcript.dataset.live) liveConversation(transcript);
  else if (badge && badge.dataset.live) poll(badge.dataset.live, BADGE_MS, (data) => showWaiting(data.waiting));
});
