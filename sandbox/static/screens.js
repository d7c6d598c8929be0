// The phone's first two screens: who is holding it (the customer picker) and the chat list.
// phone.js owns the state and the open chat; it hands both in through setupScreens().
import { $, api, store } from "./api.js";
import { summary, timeLabel, el } from "./render.js";
import { icon } from "./icons.js";

const PRESETS = [["Ayu", "6281234567890"], ["Ben", "6289876543210"], ["Citra", "6285712345678"]];
let app = null; // {state, closeChat(), openChat(businessId)}

export function show(screen) {
  for (const id of ["customer-screen", "chats-screen", "chat-screen"]) $(id).hidden = id !== screen;
}

/** The round avatar: the first letter on a colour derived from the name. */
export function avatarFor(name, node) {
  node.textContent = (name || "?").trim().charAt(0).toUpperCase();
  node.style.setProperty("--hue", [...(name || "")].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 140));
  return node;
}

function leaveChat() {
  app.closeChat();
  app.state.business = null;
  store.set("sandbox.chat", null);
}

// ---- 1. the customer -------------------------------------------------------------------
function normalizeNumber(raw) {
  return String(raw || "").trim().replace(/^\+/, "").replace(/[\s\-().]/g, "");
}

export function showCustomerScreen() {
  leaveChat();
  const customer = app.state.customer;
  $("customer-name").value = customer?.name || "";
  $("customer-number").value = customer?.number || "";
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
  app.state.customer = { name, number };
  store.set("sandbox.customer", app.state.customer);
  showChatList();
}

// ---- 2. the chat list ------------------------------------------------------------------
export function showChatList() {
  leaveChat();
  const { customer, config } = app.state;
  const me = $("me");
  me.replaceChildren(icon("person"), el("span", "me-text", `${customer.name} · +${customer.number}`));
  const change = el("button", "link-button", "Change");
  change.type = "button";
  change.addEventListener("click", showCustomerScreen);
  me.append(change);
  const list = $("chat-list");
  list.replaceChildren();
  $("chat-list-empty").hidden = config.businesses.length > 0;
  for (const b of config.businesses) {
    const row = el("button", "chat-row");
    row.type = "button";
    row.dataset.business = b.phone_number_id;
    const text = el("span", "chat-row-text");
    const top = el("span", "chat-row-top");
    top.append(el("span", "chat-row-name", b.name), el("span", "chat-row-time", ""));
    text.append(top, el("span", "chat-row-preview", b.display_phone_number));
    row.append(avatarFor(b.name, el("span", "avatar")), text);
    row.addEventListener("click", () => app.openChat(b.phone_number_id));
    list.append(row);
    api(`/api/chats/${encodeURIComponent(b.phone_number_id)}/${encodeURIComponent(customer.number)}`)
      .then((data) => {
        const last = (data?.messages || []).filter((m) => m.message?.type !== "reaction").at(-1);
        if (!last) return;
        row.querySelector(".chat-row-preview").textContent =
          `${last.direction === "in" ? "You: " : ""}${summary(last, config.templates)}`;
        row.querySelector(".chat-row-time").textContent = timeLabel(last.at);
      }).catch(() => {});
  }
  show("chats-screen");
  document.title = `WhatsApp · ${customer.name}`;
}

/** Wire the two screens once; ``hooks``: {state, closeChat, openChat}. */
export function setupScreens(hooks) {
  app = hooks;
  for (const [name, number] of PRESETS) {
    const chip = el("button", "preset", `${name} · ${number}`);
    chip.type = "button";
    chip.addEventListener("click", () => {
      $("customer-name").value = name;
      $("customer-number").value = number;
      $("customer-start").focus();
    });
    $("customer-presets").append(chip);
  }
  $("customer-form").addEventListener("submit", startAsCustomer);
  $("switch-customer").addEventListener("click", showCustomerScreen);
}
