// The sandbox phone: who is holding it, the chat list, one chat (history + live events),
// the composer. Bubbles are drawn by render.js, bottom sheets by sheets.js, Flows by flow.js.
import { renderMessage, summary, timeLabel, dateLabel, dayKey, el } from "./render.js";
import { icon } from "./icons.js";
import { openListSheet, openLocationSheet, openPhotoSheet, closeSheets } from "./sheets.js";
import { openFlow } from "./flow.js";

const $ = (id) => document.getElementById(id);
const PRESETS = [["Ayu", "6281234567890"], ["Ben", "6289876543210"], ["Citra", "6285712345678"]];
const TYPING_MS = 25000;
const store = {
  get: (key) => { try { return JSON.parse(sessionStorage.getItem(key)); } catch { return null; } },
  set: (key, value) => value == null ? sessionStorage.removeItem(key)
    : sessionStorage.setItem(key, JSON.stringify(value)),
};

const state = {
  config: { businesses: [], templates: {} },
  customer: store.get("sandbox.customer"), // {name, number}
  business: store.get("sandbox.chat"), // phone_number_id of the open chat
  order: [], byId: new Map(), nodes: new Map(), reactions: new Map(),
  replyTo: null, events: null, opened: false, typingTimer: null, readSent: new Set(),
  localSeq: 0,
};

export function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 3500);
}

async function api(path, options = {}) {
  const init = { ...options, headers: { "Content-Type": "application/json", ...(options.headers || {}) } };
  if (init.body && typeof init.body !== "string") init.body = JSON.stringify(init.body);
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (!response.ok) {
    const error = new Error((data && (data.error || data.message)) || `HTTP ${response.status}`);
    error.status = response.status;
    error.data = data;
    throw error;
  }
  return data;
}

const chatPath = () => `/api/chats/${encodeURIComponent(state.business)}/${encodeURIComponent(state.customer.number)}`;
const currentBusiness = () => state.config.businesses.find((b) => b.phone_number_id === state.business);

function show(screen) {
  for (const id of ["customer-screen", "chats-screen", "chat-screen"]) $(id).hidden = id !== screen;
}

// ---- 1. the customer -------------------------------------------------------------------
function normalizeNumber(raw) {
  return String(raw || "").trim().replace(/^\+/, "").replace(/[\s\-().]/g, "");
}

function showCustomerScreen() {
  closeChat();
  state.business = null;
  store.set("sandbox.chat", null);
  $("customer-name").value = state.customer?.name || "";
  $("customer-number").value = state.customer?.number || "";
  $("customer-error").hidden = true;
  show("customer-screen");
  document.title = "Sandbox WhatsApp phone";
}

function startAsCustomer(event) {
  event.preventDefault();
  const name = $("customer-name").value.trim();
  const number = normalizeNumber($("customer-number").value);
  const error = !name ? "Please enter your name."
    : !/^\d+$/.test(number) ? "The phone number may contain digits only."
      : !/^\d{8,15}$/.test(number) ? "The phone number must have 8 to 15 digits." : null;
  const box = $("customer-error");
  box.textContent = error || "";
  box.hidden = !error;
  $(name ? "customer-number" : "customer-name").setAttribute("aria-invalid", String(Boolean(error)));
  if (error) return;
  state.customer = { name, number };
  store.set("sandbox.customer", state.customer);
  showChatList();
}

// ---- 2. the chat list ------------------------------------------------------------------
function avatarFor(name, node) {
  node.textContent = (name || "?").trim().charAt(0).toUpperCase();
  node.style.setProperty("--hue", [...(name || "")].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 140));
  return node;
}

function showChatList() {
  closeChat();
  state.business = null;
  store.set("sandbox.chat", null);
  const me = $("me");
  me.replaceChildren(icon("person"), el("span", "me-text", `${state.customer.name} · +${state.customer.number}`));
  const change = el("button", "link-button", "Change");
  change.type = "button";
  change.addEventListener("click", showCustomerScreen);
  me.append(change);
  const list = $("chat-list");
  list.replaceChildren();
  $("chat-list-empty").hidden = state.config.businesses.length > 0;
  for (const b of state.config.businesses) {
    const row = el("button", "chat-row");
    row.type = "button";
    row.dataset.business = b.phone_number_id;
    const text = el("span", "chat-row-text");
    const top = el("span", "chat-row-top");
    top.append(el("span", "chat-row-name", b.name), el("span", "chat-row-time", ""));
    text.append(top, el("span", "chat-row-preview", b.display_phone_number));
    row.append(avatarFor(b.name, el("span", "avatar")), text);
    row.addEventListener("click", () => openChat(b.phone_number_id));
    list.append(row);
    api(`/api/chats/${encodeURIComponent(b.phone_number_id)}/${encodeURIComponent(state.customer.number)}`)
      .then((data) => {
        const last = (data?.messages || []).filter((m) => m.message?.type !== "reaction").at(-1);
        if (!last) return;
        row.querySelector(".chat-row-preview").textContent =
          `${last.direction === "in" ? "You: " : ""}${summary(last, state.config.templates)}`;
        row.querySelector(".chat-row-time").textContent = timeLabel(last.at);
      }).catch(() => {});
  }
  show("chats-screen");
  document.title = `WhatsApp · ${state.customer.name}`;
}

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

/** History from the server, merged by id: changed messages replaced, missed ones added. */
function merge(messages) {
  let missing = false;
  for (const msg of messages) {
    if (!state.byId.has(msg.id)) missing = true;
    else if (JSON.stringify(state.byId.get(msg.id)) !== JSON.stringify(msg)) upsert(msg, true);
  }
  if (!missing) return;
  for (const msg of messages) state.byId.set(msg.id, msg);
  const ids = new Set([...state.order, ...messages.map((m) => m.id)]);
  state.order = [...ids].sort((a, b) => (state.byId.get(a).at || 0) - (state.byId.get(b).at || 0));
  rebuild();
  if (!state.userScrolled) scrollToBottom();
}

function rebuild() {
  const box = $("messages");
  box.replaceChildren();
  state.nodes.clear();
  state.reactions.clear();
  for (const id of state.order) {
    const msg = state.byId.get(id);
    if (msg.message?.type === "reaction") noteReaction(msg);
  }
  state.order.forEach((id, i) => box.append(...nodesFor(state.byId.get(id), shownBefore(i))));
  afterRender();
}

function noteReaction(msg) {
  const r = msg.message.reaction || {};
  if (!r.message_id) return;
  if (r.emoji) state.reactions.set(r.message_id, r.emoji); else state.reactions.delete(r.message_id);
}

/** The last message before position ``i`` that is drawn as a bubble (reactions are not). */
function shownBefore(i) {
  for (let j = i - 1; j >= 0; j--) {
    const m = state.byId.get(state.order[j]);
    if (m.message?.type !== "reaction" || m.status === "rejected") return m;
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
  if (msg.message?.type === "reaction" && msg.status !== "rejected") {
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

/** A new message (append) or a new version of one already shown (replace in place). */
function upsert(msg, quiet = false) {
  if (!msg || !msg.id) return;
  if (msg.direction === "out" && !state.byId.has(msg.id)) setTyping(false);
  const known = state.byId.has(msg.id);
  state.byId.set(msg.id, msg);
  if (msg.message?.type === "reaction") {
    noteReaction(msg);
    const target = state.byId.get(msg.message.reaction?.message_id);
    if (target && state.nodes.has(target.id)) upsert(target, true);
  }
  if (known) {
    const old = state.nodes.get(msg.id);
    const node = bubble(msg);
    if (old) { node.classList.toggle("first", old.classList.contains("first")); old.replaceWith(node); }
    afterRender();
    return;
  }
  const last = state.byId.get(state.order.at(-1));
  const prev = shownBefore(state.order.length);
  if (last && (msg.at || 0) < (last.at || 0) - 1) { // arrived out of order: redraw in order
    state.order.push(msg.id);
    state.order.sort((a, b) => (state.byId.get(a).at || 0) - (state.byId.get(b).at || 0));
    rebuild();
    return;
  }
  const stick = near() || msg.direction === "in";
  state.order.push(msg.id);
  $("messages").append(...nodesFor(msg, prev));
  if (!quiet && msg.message?.type !== "reaction") {
    if (stick) scrollToBottom();
    else {
      state.unread = (state.unread || 0) + 1;
      $("unread-badge").textContent = String(state.unread);
      $("unread-badge").hidden = false;
      $("scroll-down").hidden = false;
    }
  }
  afterRender();
}

function afterRender() {
  markRead();
}

/** Tell the server which bot messages the customer has now seen (blue ticks for the bot). */
function markRead() {
  if (document.visibilityState !== "visible" || $("chat-screen").hidden || !state.business) return;
  const ids = state.order.filter((id) => {
    const m = state.byId.get(id);
    return m.direction === "out" && !["read", "rejected"].includes(m.status) && !state.readSent.has(id) &&
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

// ---- start -----------------------------------------------------------------------------
function wire() {
  const put = (id, name) => $(id).append(icon(name));
  put("switch-customer", "person"); put("chat-back", "back"); put("chat-menu-button", "dots");
  put("reply-cancel", "close"); put("attach", "clip"); put("send", "send"); put("scroll-down", "down");
  put("list-close", "close"); put("location-close", "close"); put("photo-close", "close"); put("lock-icon", "lock");
  for (const [name, number] of PRESETS) {
    const chip = el("button", "preset", `${name} · ${number}`);
    chip.type = "button";
    chip.addEventListener("click", () => { $("customer-name").value = name; $("customer-number").value = number; $("customer-start").focus(); });
    $("customer-presets").append(chip);
  }
  $("customer-form").addEventListener("submit", startAsCustomer);
  $("switch-customer").addEventListener("click", showCustomerScreen);
  $("chat-back").addEventListener("click", showChatList);
  $("chat-menu-button").addEventListener("click", (e) => { e.stopPropagation(); $("chat-menu").hidden = !$("chat-menu").hidden; });
  $("menu-chats").addEventListener("click", showChatList);
  $("menu-switch").addEventListener("click", showCustomerScreen);
  $("menu-reload").addEventListener("click", () => { $("chat-menu").hidden = true; loadHistory(false); });
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
