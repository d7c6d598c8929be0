// Chat bubbles: one Message (see the server contract) → one `.msg` element, drawn as the
// WhatsApp app draws it. Every piece of text goes in through textContent / text nodes.
import { formatted, plain } from "./format.js";
import { icon } from "./icons.js";

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

const TICKS = {
  sending: ["clock", "Sending"], sent: ["check", "Sent"], delivered: ["checks", "Delivered"],
  read: ["checks", "Read"], failed: ["failed", "Not sent"],
};

export function timeLabel(at) {
  return new Date(at * 1000).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
}

export function dayKey(at) {
  const d = new Date(at * 1000);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function dateLabel(at) {
  const d = new Date(at * 1000), today = new Date();
  const midnight = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((midnight(today) - midnight(d)) / 86400000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  if (days > 1 && days < 7) return d.toLocaleDateString("en-GB", { weekday: "long" });
  return d.toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric" });
}

/** ``url`` as an absolute http(s) URL, or "" for anything else (javascript:, data:, …). */
export function safeUrl(url) {
  if (typeof url !== "string" || !/^https?:\/\//i.test(url.trim())) return "";
  try {
    const parsed = new URL(url.trim());
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : "";
  } catch { return ""; }
}

/** Where a medium is: a ``data:image/`` URL only on the page's own messages (``local``: the
 *  customer's, e.g. a photo that could not be sent), else an http(s) ``link``, else the
 *  sandbox's copy of an uploaded ``id`` (digits only; absolute, so the href works as is). */
export function mediaUrl(media, local = false) {
  const data = media?.data_url;
  if (local && typeof data === "string" && data.startsWith("data:image/")) return data;
  const link = safeUrl(media?.link);
  if (link) return link;
  const id = media?.id == null ? "" : String(media.id);
  return /^\d+$/.test(id) ? new URL(`/media/${id}`, window.location.href).href : "";
}

/** ``a`` opening ``href`` in a new tab; an href that is not http(s) is left off. */
function outLink(a, href) {
  const url = safeUrl(href);
  if (url) a.href = url; else a.classList.add("no-link");
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

/** A bot message Meta refused: at once (``rejected``), or after accepting it (``failed``). */
export const refused = (msg) => msg?.direction !== "in" && ["rejected", "failed"].includes(msg?.status);

/** The template text ("Reminder: your {{1}} …") with {{n}} filled from the parameters. */
function fill(text, parameters) {
  return String(text ?? "").replace(/\{\{\s*(\d+)\s*\}\}/g, (whole, n) => {
    const p = parameters?.[Number(n) - 1];
    if (!p) return whole;
    return p.text ?? p.payload ?? p.date_time?.fallback_value ?? p.currency?.fallback_value ?? whole;
  });
}

/** What a template message looks like: its registered text with the parameters filled in. */
export function templateView(template, templates) {
  const byLang = templates?.[template?.name] || {};
  const code = template?.language?.code;
  const registered = byLang[code] || byLang[String(code).split("_")[0]] ||
    Object.values(byLang)[0] || null;
  const components = Array.isArray(template?.components) ? template.components : [];
  const part = (type) => components.find((c) => String(c.type).toLowerCase() === type);
  const buttonParts = components.filter((c) => String(c.type).toLowerCase() === "button");
  if (!registered) return { missing: true, name: template?.name, code, components };
  const buttons = (registered.buttons || []).map((b, index) => {
    const given = buttonParts.find((c) => Number(c.index) === index);
    const param = given?.parameters?.[0];
    return { ...b, payload: param?.payload ?? b.payload ?? b.text,
      url: b.url ? fill(b.url, given?.parameters) : b.url };
  });
  return { header: registered.header ? fill(registered.header, part("header")?.parameters) : null,
    body: fill(registered.body, part("body")?.parameters), footer: registered.footer, buttons };
}

/** A one-line description of a message (quote blocks, chat-list previews). */
export function summary(msg, templates) {
  const m = msg?.message || {};
  const body = m[m.type] || {};
  if (msg?.status === "rejected" && msg.direction !== "in") return "⚠ Meta refused this message";
  if (refused(msg)) return `⚠ ${summary({ ...msg, status: "" }, templates)}`;
  switch (m.type) {
    case "text": return plain(body.body);
    case "button": return body.text || body.payload || "";
    case "image": return `📷 ${body.caption || "Photo"}`;
    case "document": return `📄 ${body.filename || body.caption || "Document"}`;
    case "location": return `📍 ${body.name || body.address || "Location"}`;
    case "reaction": return `Reacted ${body.emoji || ""}`;
    case "template": {
      const view = templateView(body, templates);
      return plain(view.missing ? `Template ${body.name}` : view.body);
    }
    case "interactive": {
      const reply = body[body.type] || {};
      if (body.type === "nfm_reply") return reply.body || "Sent";
      if (reply.title) return reply.title;
      return plain(body.body?.text || body.header?.text || "");
    }
    default: return m.type ? `Unsupported message: ${m.type}` : "";
  }
}

function ticks(status) {
  const [name, title] = TICKS[status] || TICKS.sent;
  const span = icon(name, "ticks");
  span.dataset.status = status || "";
  span.title = title;
  return span;
}

/** The quoted message id: ``context.id`` in webhooks, ``context.message_id`` in Graph sends. */
export const quotedId = (m) => m?.context?.id || m?.context?.message_id || null;

function quoteBlock(msg, ctx) {
  const id = quotedId(msg.message);
  const quoted = ctx.find(id);
  const block = el("div", "quote");
  block.dataset.quotedId = id;
  block.classList.add(quoted?.direction === "in" ? "quote-in" : "quote-out");
  block.append(el("span", "quote-name", quoted ? (quoted.direction === "in" ? "You" : ctx.businessName)
    : ""), el("span", "quote-text", quoted ? summary(quoted, ctx.templates) : "Original message"));
  block.addEventListener("click", () => ctx.jumpTo(id));
  return block;
}

function documentCard(doc, href) {
  const a = outLink(el("a", "document"), href);
  const name = doc.filename || "Document";
  const ext = (name.match(/\.([a-z0-9]{1,5})$/i)?.[1] || "pdf").toUpperCase();
  const info = el("span", "document-info");
  info.append(el("span", "document-name", name), el("span", "document-kind", ext));
  a.append(icon("pdf", "document-icon"), info);
  return a;
}

function imageBlock(image, local = false) {
  const url = mediaUrl(image, local);
  if (!url) return el("div", "media-placeholder", "📷 Photo unavailable");
  const a = outLink(el("a", "image-link"), url);
  const img = el("img", "image");
  img.src = url;
  img.alt = image.caption || "Photo";
  img.loading = "lazy";
  img.addEventListener("load", () => img.closest(".chat-scroll")?.dispatchEvent(new Event("grown")));
  a.append(img);
  return a;
}

function locationCard(loc) {
  const lat = Number(loc.latitude), lng = Number(loc.longitude);
  const a = outLink(el("a", "location"), `https://maps.google.com/?q=${lat},${lng}`);
  const map = el("span", "location-map");
  map.append(icon("pin", "location-pin"));
  const info = el("span", "location-info");
  if (loc.name) info.append(el("span", "location-name", loc.name));
  if (loc.address) info.append(el("span", "location-address", loc.address));
  info.append(el("span", "location-coords", `${lat.toFixed(5)}, ${lng.toFixed(5)}`));
  a.append(map, info);
  return a;
}

function actionButton(tag, className, iconName, label) {
  const node = el(tag, `bubble-action ${className}`);
  if (tag === "button") node.type = "button";
  node.append(icon(iconName), el("span", "label", label));
  return node;
}

/** Interactive header/body/footer, shared by every interactive kind. */
function interactiveParts(inter, content) {
  const header = inter.header;
  if (header?.type === "text" && header.text) content.append(el("div", "header-text", header.text));
  if (header?.type === "image" && header.image) content.append(imageBlock(header.image));
  if (header?.type === "document" && header.document) {
    content.append(documentCard(header.document, mediaUrl(header.document)));
  }
  if (header?.type === "video") content.append(el("div", "media-placeholder", "🎬 Video"));
  if (inter.body?.text) content.append(formatted(inter.body.text, "div", "text"));
  if (inter.footer?.text) content.append(el("div", "footer-text", inter.footer.text));
}

function renderOut(msg, ctx, content, actions, below) {
  const m = msg.message, body = m[m.type] || {};
  const context = { id: msg.id };
  switch (m.type) {
    case "text": content.append(formatted(body.body, "div", "text")); return true;
    case "image":
      content.append(imageBlock(body));
      if (body.caption) content.append(formatted(body.caption, "div", "text"));
      return true;
    case "document":
      content.append(documentCard(body, mediaUrl(body)));
      if (body.caption) content.append(formatted(body.caption, "div", "text"));
      return true;
    case "location": content.append(locationCard(body)); return true;
    case "template": {
      const view = templateView(body, ctx.templates);
      if (view.missing) {
        content.append(el("div", "header-text", `Template “${view.name}” (${view.code || "?"})`),
          el("div", "text muted", "This template is not registered in the sandbox."));
        return true;
      }
      if (view.header) content.append(el("div", "header-text", view.header));
      content.append(formatted(view.body, "div", "text"));
      if (view.footer) content.append(el("div", "footer-text", view.footer));
      for (const b of view.buttons) {
        if (String(b.type).toUpperCase() === "URL") {
          actions.append(outLink(actionButton("a", "cta-button", "external", b.text), b.url));
        } else {
          const button = actionButton("button", "reply-button template-button", "reply", b.text);
          button.addEventListener("click", () => ctx.send(
            { type: "button", button: { payload: b.payload ?? b.text, text: b.text }, context }));
          actions.append(button);
        }
      }
      return true;
    }
    case "interactive": {
      interactiveParts(body, content);
      const action = body.action || {};
      if (body.type === "button") {
        for (const b of action.buttons || []) {
          const reply = b.reply || {};
          const button = el("button", "reply-button");
          button.type = "button";
          button.append(icon("reply"), el("span", "label", reply.title));
          button.addEventListener("click", () => ctx.send({ type: "interactive", interactive: {
            type: "button_reply", button_reply: { id: reply.id, title: reply.title } }, context }));
          below.append(button);
        }
      } else if (body.type === "list") {
        const button = actionButton("button", "list-button", "list", action.button || "Menu");
        button.addEventListener("click", () => ctx.openList(msg));
        actions.append(button);
      } else if (body.type === "cta_url") {
        const p = action.parameters || {};
        actions.append(outLink(actionButton("a", "cta-button", "external", p.display_text), p.url));
      } else if (body.type === "flow") {
        const p = action.parameters || {};
        const button = actionButton("button", "flow-button", "form", p.flow_cta || "Open");
        button.addEventListener("click", () => ctx.openFlow(msg));
        actions.append(button);
      } else {
        return false;
      }
      return true;
    }
    default: return false;
  }
}

function renderIn(msg, ctx, content) {
  const m = msg.message, body = m[m.type] || {};
  switch (m.type) {
    case "text": content.append(formatted(body.body, "div", "text")); return true;
    case "button": content.append(el("div", "text", body.text || body.payload)); return true;
    case "location": content.append(locationCard(body)); return true;
    case "image":
      content.append(imageBlock(body, true));
      if (body.caption) content.append(formatted(body.caption, "div", "text"));
      return true;
    case "interactive": {
      const reply = body[body.type] || {};
      if (body.type === "nfm_reply") {
        const sent = el("div", "text nfm");
        sent.append(icon("form"), el("span", "", reply.body || "Sent"));
        content.append(sent);
        return true;
      }
      if (body.type === "button_reply" || body.type === "list_reply") {
        content.append(el("div", "text", reply.title));
        if (reply.description) content.append(el("div", "footer-text", reply.description));
        return true;
      }
      return false;
    }
    default: return false;
  }
}

/** The red notice of a refused message: the title, Meta's errors and (``json``) the message. */
function rejected(msg, bubble, json = true) {
  const title = el("div", "rejected-title", "Meta refused this message");
  title.prepend(icon("warn"));
  const list = el("ul", "rejected-errors");
  for (const e of msg.errors || []) {
    const li = el("li");
    li.append(el("b", "", `#${e.code ?? "?"} `), el("span", "", e.title || ""));
    if (e.rule || e.details || e.message) li.append(el("div", "rule", e.rule || e.details || e.message));
    list.append(li);
  }
  if (!list.childNodes.length) list.append(el("li", "", "No error details"));
  if (!json) { // accepted first, refused later: the notice above the content, kept as sent
    const notice = el("div", "refusal");
    notice.append(title, list);
    bubble.prepend(notice);
    return;
  }
  const details = el("details", "rejected-json");
  details.append(el("summary", "", `Show the ${msg.message?.type || ""} message JSON`),
    el("pre", "", JSON.stringify(msg.message, null, 2)));
  bubble.append(title, list, details);
}

/** The element for one message. ``ctx``: {find, send, openList, openFlow, quote, jumpTo,
 *  templates, businessName, reactions: Map(id → emoji)}. */
export function renderMessage(msg, ctx) {
  const m = msg.message || {};
  const row = el("div", `msg ${msg.direction === "in" ? "in" : "out"}`);
  row.dataset.id = msg.id;
  row.dataset.type = m.type || "unknown";
  row.dataset.status = msg.status || "";
  const bubble = el("div", "bubble");
  const content = el("div", "content"), actions = el("div", "bubble-actions");
  const below = el("div", "buttons");
  if (quotedId(m)) bubble.append(quoteBlock(msg, ctx));
  if (refused(msg)) row.classList.add("rejected");
  if (refused(msg) && (msg.status === "rejected" || m.type === "reaction")) {
    rejected(msg, content);
  } else {
    const ok = msg.direction === "in" ? renderIn(msg, ctx, content) : renderOut(msg, ctx, content, actions, below);
    if (!ok) {
      row.classList.add("unsupported");
      content.replaceChildren(el("div", "text muted", `Unsupported message: ${m.type || "unknown"}`));
    }
    if (refused(msg)) { // never reached the customer: shown, but nothing in it can be tapped
      rejected(msg, content, false);
      for (const b of [...actions.querySelectorAll("button"), ...below.querySelectorAll("button")]) b.disabled = true;
      for (const a of actions.querySelectorAll("a[href]")) { a.removeAttribute("href"); a.classList.add("no-link"); }
    }
  }
  // the time (and ticks) sit at the end of the last line, as in WhatsApp
  const meta = el("span", "meta");
  meta.append(el("span", "time", timeLabel(msg.at)));
  if (msg.direction === "in") meta.append(ticks(msg.status));
  const last = content.lastElementChild;
  const spacer = el("span", "spacer");
  if (last && (last.classList.contains("text") || last.classList.contains("footer-text"))) last.append(spacer);
  else content.append(el("div", "spacer-line"));
  content.append(meta);
  bubble.append(content);
  if (actions.childNodes.length) bubble.append(actions);
  const emoji = ctx.reactions?.get(msg.id);
  if (emoji) bubble.append(el("span", "reaction", emoji));
  const stack = el("div", "stack");
  const wrap = el("div", "bubble-wrap");
  wrap.append(bubble);
  const arrow = el("button", "msg-reply");
  arrow.type = "button";
  arrow.title = "Reply";
  arrow.setAttribute("aria-label", "Reply");
  arrow.append(icon("reply"));
  arrow.addEventListener("click", () => ctx.quote(msg));
  wrap.append(arrow);
  stack.append(wrap);
  if (below.childNodes.length) stack.append(below);
  if (msg.direction === "in" && msg.status === "failed") {
    const why = (msg.errors || []).map((e) => e.title || e.message).filter(Boolean).join("; ");
    stack.append(el("div", "failed-note", `Not delivered${why || msg.error ? `: ${why || msg.error}` : ""}`));
  }
  row.append(stack);
  return row;
}
