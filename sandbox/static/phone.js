// The sandbox phone: one chat (history + live events) and the composer. The customer picker
// and the chat list are screens.js; bubbles render.js, bottom sheets sheets.js, Flows flow.js.
import { $, api, store, toast } from "./api.js";
import { renderMessage, refused, summary, timeLabel, dateLabel, dayKey, el } from "./render.js";
import { icon } from "./icons.js";
import { openListSheet, openLocationSheet, openPhotoSheet, closeSheets } from "./sheets.js";
import { openFlow } from "./flow.js";
import { avatarFor, setupScreens, show, showChatList, showCustomerScreen } from "./screens.js";

const TYPING_MS = 25000;
const AGE_HOURS = 25; // "Pretend a day passed": past WhatsApp's 24-hour customer service window

const state = {
  config: { businesses: [], templates: {} },
  customer: store.get("sandbox.customer"), // {name, number}
  business: store.get("sandbox.chat"), // phone_number_id of the open chat
  order: [], byId: new Map(), nodes: new Map(), reactions: new Map(),
  replyTo: null, events: null, opened: false, typingTimer: null, readSent: new Set(),
  localSeq: 0,
};

const chatPath = () => `/api/chats/${encodeURIComponent(state.business)}/${encodeURIComponent(state.customer.number)}`;
const currentBusiness = () => state.config.businesses.find((b) => b.phone_number_id === state.business);
const isReaction = (msg) => msg?.message?.type === "reaction";

// ---- 3. one chat -----------------------------------------------------------------------
const ctx = {
  find: (id) => state.byId.get(id),
  send: (message) => send(message),
  openList: (msg) => openListSheet(msg, (message) => send(message)),
  openFlow: (msg) => openFlow({ root: $("flow"), business: state.business, customer: state.customer,
    message: msg }),
  quote: (msg) => setReplyTo(msg),
  jumpTo: (id) => {
    const node = state.nodes.get(id);
    if (!node) return;
    node.scrollIntoView({ block: "center", behavior: "smooth" });
    node.classList.add("flash");
    setTimeout(() => node.classList.remove("flash"), 1200);
  },
  get templates() { return state.config.templates; },
  get businessName() { return currentBusiness()?.name || "Business"; },
  get reactions() { return state.reactions; },
};

function openChat(businessId) {
  const business = state.config.businesses.find((b) => b.phone_number_id === businessId);
  if (!business) { showChatList(); return; }
  closeChat();
  state.business = businessId;
  store.set("sandbox.chat", businessId);
  $("chat-name").textContent = business.name;
  avatarFor(business.name, $("chat-avatar"));
  setTyping(false);
  state.userScrolled = false;
  show("chat-screen");
  document.title = `${business.name} · ${state.customer.name}`;
  loadHistory(true);
  connectEvents();
  $("composer").focus();
}

function closeChat() {
  if (state.events) state.events.close();
  clearTimeout(state.reconnectTimer);
  state.events = null;
  state.opened = false;
  state.order = [];
  state.byId.clear();
  state.nodes.clear();
  state.reactions.clear();
  state.readSent.clear();
  setReplyTo(null);
  setTyping(false);
  closeSheets();
  $("flow").hidden = true;
  $("messages").replaceChildren();
  $("chat-menu").hidden = true;
  $("attach-menu").hidden = true;
}

function connectEvents() {
  const business = state.business;
  const source = new EventSource(`${chatPath()}/events`);
  state.events = source;
  source.addEventListener("open", () => {
    // listening now: fetch the history again, so nothing sent while connecting (or while
    // disconnected, on a reconnect) is missed; merge() de-duplicates by id
    loadHistory(!state.opened);
    state.opened = true;
  });
  source.addEventListener("message", (event) => {
    try { upsert(JSON.parse(event.data)); } catch (e) { console.error("bad message event", e); }
  });
  source.addEventListener("typing", (event) => {
    try { setTyping(Boolean(JSON.parse(event.data).on)); } catch { setTyping(false); }
  });
  // the page fell behind (events were dropped): the history again, merged by id
  source.addEventListener("reload", () => loadHistory(false));
  // "close": the server is stopping; the stream ends and EventSource reconnects by itself
  // (an "open" then fetches the history again)
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED && state.events === source) {
      state.reconnectTimer = setTimeout(() => {
        if (state.business === business && state.events === source) { state.opened = true; connectEvents(); }
      }, 2000);
    }
  });
}

async function loadHistory(first) {
  const business = state.business;
  try {
    const data = await api(chatPath());
    if (state.business !== business) return;
    merge(data?.messages || []);
    if (first) scrollToBottom();
  } catch (e) {
    toast(`Could not load the chat: ${e.message}`);
  }
}

const near = () => { const s = $("chat-scroll"); return s.scrollHeight - s.scrollTop - s.clientHeight < 120; };
function scrollToBottom() {
  const s = $("chat-scroll");
  s.scrollTop = s.scrollHeight;
  state.unread = 0;
  $("scroll-down").hidden = true;
}

/** History from the server, merged by id: changed messages replaced in place, and everything
 *  redrawn in order when one was missed or moved in time (e.g. after "Pretend a day passed"). */
function merge(messages) {
  let redraw = false;
  const changed = [];
  for (const msg of messages) {
    const known = state.byId.get(msg.id);
    if (!known) redraw = true;
    else if (JSON.stringify(known) !== JSON.stringify(msg)) {
      changed.push(msg);
      if ((known.at || 0) !== (msg.at || 0)) redraw = true;
    }
  }
  if (!redraw) { changed.forEach((msg) => upsert(msg, true)); return; }
  for (const msg of messages) state.byId.set(msg.id, msg);
  state.order = [...new Set([...state.order, ...messages.map((m) => m.id)])];
  byTime();
  rebuild();
  if (!state.userScrolled) scrollToBottom();
}

function rebuild() {
  const box = $("messages");
  box.replaceChildren();
  state.nodes.clear();
  noteReactions();
  state.order.forEach((id, i) => box.append(...nodesFor(state.byId.get(id), shownBefore(i))));
  afterRender();
}

/** Each message's current reaction: the last one sent for it (an empty emoji removes it);
 *  a reaction Meta refused is not on the message (it is shown as a red bubble instead). */
function noteReactions() {
  state.reactions.clear();
  for (const id of state.order) {
    const msg = state.byId.get(id);
    const r = isReaction(msg) && !refused(msg) ? msg.message.reaction || {} : {};
    if (!r.message_id) continue;
    if (r.emoji) state.reactions.set(r.message_id, r.emoji); else state.reactions.delete(r.message_id);
  }
}

/** The last message before position ``i`` that is drawn as a bubble (reactions are not). */
function shownBefore(i) {
  for (let j = i - 1; j >= 0; j--) {
    const m = state.byId.get(state.order[j]);
    if (!isReaction(m) || refused(m)) return m;
  }
  return undefined;
}

/** The separator (when the day changes) and the bubble for ``msg`` after ``prev``. */
function nodesFor(msg, prev) {
  const out = [];
  if (!prev || dayKey(prev.at) !== dayKey(msg.at)) {
    const sep = el("div", "date-separator");
    sep.append(el("span", "", dateLabel(msg.at)));
    out.push(sep);
  }
  const node = bubble(msg);
  if (!prev || prev.direction !== msg.direction || dayKey(prev.at) !== dayKey(msg.at)) node.classList.add("first");
  out.push(node);
  return out;
}

function bubble(msg) {
  let node;
  if (isReaction(msg) && !refused(msg)) {
    node = el("div", "reaction-event"); // not a bubble: shown as an emoji on the message it reacts to
    node.dataset.id = msg.id;
    node.dataset.type = "reaction";
    node.hidden = true;
  } else {
    node = renderMessage(msg, ctx);
  }
  state.nodes.set(msg.id, node);
  return node;
}

const byTime = () => state.order.sort((a, b) => (state.byId.get(a).at || 0) - (state.byId.get(b).at || 0));

/** A new message (append) or a new version of one already shown (replace in place). */
function upsert(msg, quiet = false) {
  if (!msg || !msg.id) return;
  const known = state.byId.get(msg.id);
  if (msg.direction === "out" && !known) setTyping(false);
  state.byId.set(msg.id, msg);
  if (known) {
    // moved in time, or a reaction turned into a red bubble (or back): redraw everything
    if ((known.at || 0) !== (msg.at || 0) || (isReaction(msg) && refused(known) !== refused(msg))) {
      byTime();
      rebuild();
      return;
    }
    redraw(msg.id);
  } else {
    const last = state.byId.get(state.order.at(-1));
    state.order.push(msg.id);
    if (last && (msg.at || 0) < (last.at || 0) - 1) { byTime(); rebuild(); return; } // out of order
    const stick = near() || msg.direction === "in";
    $("messages").append(...nodesFor(msg, shownBefore(state.order.length - 1)));
    if (!quiet && !isReaction(msg)) {
      if (stick) scrollToBottom();
      else {
        state.unread = (state.unread || 0) + 1;
        $("unread-badge").textContent = String(state.unread);
        $("unread-badge").hidden = false;
        $("scroll-down").hidden = false;
      }
    }
  }
  if (isReaction(msg)) { noteReactions(); redraw(msg.message.reaction?.message_id); }
  afterRender();
}

/** Draw one shown message again where it is. */
function redraw(id) {
  const old = state.nodes.get(id), msg = state.byId.get(id);
  if (!old || !msg) return;
  const node = bubble(msg);
  node.classList.toggle("first", old.classList.contains("first"));
  old.replaceWith(node);
}

function afterRender() {
  markRead();
}

/** Tell the server which bot messages the customer has now seen (blue ticks for the bot). */
function markRead() {
  if (document.visibilityState !== "visible" || $("chat-screen").hidden || !state.business) return;
  const ids = state.order.filter((id) => {
    const m = state.byId.get(id);
    return m.direction === "out" && m.status !== "read" && !refused(m) && !state.readSent.has(id) &&
      !String(id).startsWith("local-");
  });
  if (!ids.length) return;
  ids.forEach((id) => state.readSent.add(id));
  api(`${chatPath()}/read`, { method: "POST", body: { ids } })
    .catch(() => ids.forEach((id) => state.readSent.delete(id)));
}

function setTyping(on) {
  clearTimeout(state.typingTimer);
  const typing = $("typing");
  const stick = near();
  typing.hidden = !on;
  $("chat-status").textContent = on ? "typing…" : "online";
  $("chat-status").classList.toggle("typing", on);
  if (on) {
    state.typingTimer = setTimeout(() => setTyping(false), TYPING_MS);
    if (stick) scrollToBottom();
  }
}

function setReplyTo(msg) {
  state.replyTo = msg;
  $("reply-preview").hidden = !msg;
  if (!msg) return;
  $("reply-preview-name").textContent = msg.direction === "in" ? "You" : ctx.businessName;
  $("reply-preview").querySelector(".quote").className = `quote ${msg.direction === "in" ? "quote-in" : "quote-out"}`;
  $("reply-preview-text").textContent = summary(msg, state.config.templates);
  $("composer").focus();
}

/** Send one customer message (M without from/id/timestamp) to the bot through the server. */
async function send(message) {
  if (!state.business) return null;
  if (state.replyTo && !message.context) message = { ...message, context: { id: state.replyTo.id } };
  setReplyTo(null);
  try {
    const msg = await api(`${chatPath()}/send`, { method: "POST",
      body: { name: state.customer.name, message } });
    upsert(msg);
    return msg;
  } catch (e) {
    upsert({ id: `local-${Date.now()}-${state.localSeq++}`, direction: "in", at: Date.now() / 1000,
      name: state.customer.name, status: "failed", message, errors: [{ title: e.message }] });
    return null;
  }
}

function sendText(event) {
  event.preventDefault();
  const input = $("composer");
  const body = input.value.trim();
  if (!body) return;
  input.value = "";
  send({ type: "text", text: { body } });
}

/** "Pretend a day passed": the sandbox moves this chat 25 hours into the past, so the bot is
 *  outside WhatsApp's 24-hour window (only templates get through); then the history again. */
async function ageChat() {
  const business = state.business;
  if (!business) return;
  try {
    await api(`${chatPath()}/age`, { method: "POST", body: { hours: AGE_HOURS } });
  } catch (e) {
    toast(`Could not move the chat back in time: ${e.message}`);
    return;
  }
  if (state.business !== business) return;
  toast(`${AGE_HOURS} hours later: the bot may now send only templates.`);
  await loadHistory(false);
}

// ---- start -----------------------------------------------------------------------------
function wire() {
  const put = (id, name) => $(id).append(icon(name));
  put("switch-customer", "person"); put("chat-back", "back"); put("chat-menu-button", "dots");
  put("reply-cancel", "close"); put("attach", "clip"); put("send", "send"); put("scroll-down", "down");
  put("list-close", "close"); put("location-close", "close"); put("photo-close", "close"); put("lock-icon", "lock");
  setupScreens({ state, closeChat, openChat });
  $("chat-back").addEventListener("click", showChatList);
  $("chat-menu-button").addEventListener("click", (e) => { e.stopPropagation(); $("chat-menu").hidden = !$("chat-menu").hidden; });
  $("menu-chats").addEventListener("click", showChatList);
  $("menu-switch").addEventListener("click", showCustomerScreen);
  $("menu-reload").addEventListener("click", () => { $("chat-menu").hidden = true; loadHistory(false); });
  $("menu-age").addEventListener("click", () => { $("chat-menu").hidden = true; ageChat(); });
  document.addEventListener("click", (e) => {
    if (!e.target.closest("#chat-menu")) $("chat-menu").hidden = true;
    if (!e.target.closest("#attach-menu, #attach")) $("attach-menu").hidden = true;
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { closeSheets(); $("chat-menu").hidden = true; $("attach-menu").hidden = true; }
  });
  $("composer-form").addEventListener("submit", sendText);
  $("reply-cancel").addEventListener("click", () => setReplyTo(null));
  $("attach").addEventListener("click", () => { $("attach-menu").hidden = !$("attach-menu").hidden; });
  $("attach-photo").addEventListener("click", () => { $("attach-menu").hidden = true; $("photo-input").click(); });
  $("attach-location").addEventListener("click", () => { $("attach-menu").hidden = true; openLocationSheet(send); });
  $("photo-input").addEventListener("change", (e) => {
    const file = e.target.files?.[0];
    e.target.value = "";
    if (file) openPhotoSheet(file, send, toast);
  });
  $("scroll-down").addEventListener("click", scrollToBottom);
  $("chat-scroll").addEventListener("scroll", () => {
    state.userScrolled = !near();
    if (!state.userScrolled) { $("scroll-down").hidden = true; state.unread = 0; }
  });
  $("chat-scroll").addEventListener("grown", () => { if (!state.userScrolled) scrollToBottom(); });
  document.addEventListener("visibilitychange", markRead);
  const tick = () => { $("clock").textContent = timeLabel(Date.now() / 1000); };
  tick();
  setInterval(tick, 30000);
}

async function start() {
  wire();
  try {
    state.config = { businesses: [], templates: {}, ...(await api("/api/config")) };
  } catch (e) {
    toast(`Could not reach the sandbox server: ${e.message}`);
  }
  if (!state.customer?.number) showCustomerScreen();
  else if (state.business && state.config.businesses.some((b) => b.phone_number_id === state.business)) openChat(state.business);
  else showChatList();
}

start();
