// The WhatsApp Flow form: full-screen inside the phone, screens from the Flow JSON, data from
// the business's Flows endpoint (through POST /api/flows/exchange, which does the encryption).
import { el, safeUrl } from "./render.js";
import { icon } from "./icons.js";
import { datePicker } from "./datepicker.js";
import { isBlank, resolve, truthy } from "./expressions.js";

const flowCache = new Map();
let session = 0; // bumps on every open/close: late answers for a closed form are dropped

/** Open the Flow of a ``flow`` interactive message over the chat. */
export async function openFlow({ root, business, customer, message }) {
  const params = message.message?.interactive?.action?.parameters || {};
  const mine = ++session;
  const flowId = params.flow_id || params.flow_name;
  const view = buildShell(root, () => close());
  const state = { stack: [], json: null, pending: false, memory: {} }; // memory: forms left by Back
  const alive = () => mine === session && !root.hidden;

  function close() {
    if (mine === session) session++;
    root.hidden = true;
    root.replaceChildren();
  }

  /** A new screen on the stack; what was typed there before going Back comes back with it
   *  (options no longer offered are dropped when drawn). */
  function push(id, data) {
    state.stack.push({ id, data: data || {}, form: { ...(state.memory[id] || {}) } });
    delete state.memory[id];
  }

  function screenDef(id) { return state.json?.screens?.find((s) => s.id === id); }
  const top = () => state.stack.at(-1);
  const scope = () => ({ data: top()?.data || {}, form: top()?.form || {}, screens: state.stack });

  function setPending(on) {
    state.pending = on;
    view.spinner.hidden = !on;
    view.footer.classList.toggle("loading", on);
    refreshFooter();
  }

  function refreshFooter() {
    const entry = top();
    const missing = (entry?.fields || []).some((f) => f.required && isBlank(entry.form[f.name]));
    view.footer.disabled = state.pending || missing || !entry?.footer;
  }

  function snackbar(text) {
    view.snackbar.textContent = text;
    view.snackbar.hidden = false;
    clearTimeout(view.snackTimer);
    view.snackTimer = setTimeout(() => { view.snackbar.hidden = true; }, 4000);
  }

  function fail(status, text) {
    setPending(false);
    const gone = Number(status) === 427;
    const box = el("div", "flow-error");
    box.dataset.status = String(status ?? "");
    box.append(icon("warn", "flow-error-icon"),
      el("h3", "", gone ? "This form is no longer available" : "Something went wrong"),
      el("p", "", text || (gone ? "Ask the business for a new one." : "Please try again later.")));
    const again = el("button", "primary flow-error-close", "Close");
    again.type = "button";
    again.addEventListener("click", close);
    box.append(again);
    view.body.replaceChildren(box);
    view.footerBar.hidden = true;
    view.back.hidden = true;
  }

  /** Draw the top screen of the stack, keeping what the customer already entered. */
  function render() {
    const entry = top();
    const def = screenDef(entry.id);
    if (!def) { fail(null, `The Flow has no screen “${entry.id}”.`); return; }
    view.title.textContent = resolve(def.title || "", scope()) || "";
    view.snackbar.hidden = true;
    view.back.hidden = state.stack.length < 2;
    view.footerBar.hidden = false;
    entry.fields = [];
    entry.footer = null;
    const body = el("div", "flow-screen");
    body.dataset.screen = entry.id;
    drawChildren(def.layout?.children || [], body, entry);
    view.body.replaceChildren(body);
    view.body.scrollTop = 0;
    view.footer.querySelector(".label").textContent = entry.footer ? resolve(entry.footer.label, scope()) : "";
    refreshFooter();
  }

  function field(entry, name, required, node) {
    entry.fields.push({ name, required: Boolean(required) });
    return node;
  }

  function labelled(c, control, entry) {
    const box = el("label", "flow-field");
    const text = resolve(c.label || "", scope());
    box.append(el("span", "flow-label", `${text}${c.required ? "" : " (optional)"}`), control);
    if (c["helper-text"]) box.append(el("span", "flow-helper", resolve(c["helper-text"], scope())));
    return field(entry, c.name, c.required, box);
  }

  function onValue(entry, name, value, c) {
    if (isBlank(value) && typeof value !== "boolean") delete entry.form[name]; else entry.form[name] = value;
    refreshFooter();
    const action = c?.["on-select-action"] || c?.["on-change-action"];
    if (action) act(action);
  }

  function options(c) {
    const source = resolve(c["data-source"], scope());
    return Array.isArray(source) ? source : [];
  }

  function drawChildren(children, parent, entry) {
    for (const c of children) {
      if (!c || typeof c !== "object") continue;
      if ("visible" in c && !truthy(resolve(c.visible, scope()))) continue;
      const node = draw(c, entry);
      if (node) parent.append(node);
    }
  }

  function draw(c, entry) {
    const s = scope();
    const text = (v) => { const r = resolve(v, s); return Array.isArray(r) ? r.join("\n") : r ?? ""; };
    if (c.name && !(c.name in entry.form) && c["init-value"] !== undefined) {
      const init = resolve(c["init-value"], s);
      if (!isBlank(init)) entry.form[c.name] = init;
    }
    const current = c.name ? entry.form[c.name] : undefined;
    switch (c.type) {
      case "Form": {
        const box = el("div", "flow-form");
        drawChildren(c.children || [], box, entry);
        return box;
      }
      case "TextHeading": return el("h3", "flow-heading", text(c.text));
      case "TextSubheading": return el("h4", "flow-subheading", text(c.text));
      case "TextBody": return el("p", `flow-text${c["font-weight"] === "bold" ? " bold" : ""}`, text(c.text));
      case "TextCaption": return el("p", "flow-caption", text(c.text));
      case "Image": {
        const img = el("img", "flow-image");
        const src = String(resolve(c.src, s) ?? "").trim(); // Meta: base64; a data:image/ or http(s) URL kept
        const url = src.startsWith("data:image/") ? src : safeUrl(src) ||
          (/^[A-Za-z0-9+/=\s]+$/.test(src) ? `data:image/png;base64,${src.replace(/\s/g, "")}` : "");
        if (url) img.src = url; // anything else (javascript:, …) is never put in the src
        img.alt = c["alt-text"] || "";
        return img;
      }
      case "Dropdown": {
        const select = el("select", "flow-select");
        select.name = c.name;
        const placeholder = el("option", "", "Select an option");
        placeholder.value = "";
        select.append(placeholder);
        for (const o of options(c)) {
          const opt = el("option", "", o.title ?? o.id);
          opt.value = String(o.id);
          if (o.enabled === false) opt.disabled = true;
          select.append(opt);
        }
        select.value = current !== undefined ? String(current) : "";
        if (select.value === "" || select.selectedIndex < 0) { // no value, or one no longer offered
          delete entry.form[c.name];
          select.value = "";
        }
        select.disabled = c.enabled === false || options(c).length === 0;
        select.addEventListener("change", () => onValue(entry, c.name, select.value, c));
        return labelled(c, select, entry);
      }
      case "RadioButtonsGroup":
      case "CheckboxGroup": {
        const many = c.type === "CheckboxGroup";
        const box = el("fieldset", "flow-field flow-choices");
        box.append(el("legend", "flow-label", `${text(c.label)}${c.required ? "" : " (optional)"}`));
        for (const o of options(c)) {
          const row = el("label", "flow-choice");
          const input = el("input");
          input.type = many ? "checkbox" : "radio";
          input.name = c.name;
          input.value = String(o.id);
          input.checked = many ? (current || []).includes(String(o.id)) : current === String(o.id);
          input.disabled = o.enabled === false;
          input.addEventListener("change", () => onValue(entry, c.name, many
            ? [...box.querySelectorAll("input:checked")].map((i) => i.value) : input.value, c));
          const t = el("span", "flow-choice-text");
          t.append(el("span", "", o.title ?? o.id));
          if (o.description) t.append(el("span", "flow-helper", o.description));
          row.append(t, input);
          box.append(row);
        }
        return field(entry, c.name, c.required, box);
      }
      case "OptIn": {
        const row = el("label", "flow-field flow-optin");
        const input = el("input");
        input.type = "checkbox";
        input.name = c.name;
        input.checked = current === true;
        input.addEventListener("change", () => onValue(entry, c.name, input.checked, c));
        row.append(input, el("span", "", text(c.label)));
        return field(entry, c.name, c.required, row);
      }
      case "TextInput":
      case "TextArea": {
        const area = c.type === "TextArea";
        const input = el(area ? "textarea" : "input", "flow-input");
        input.name = c.name;
        if (!area) {
          input.type = { number: "number", email: "email", password: "password", passcode: "password",
            phone: "tel" }[c["input-type"]] || "text";
        } else input.rows = 3;
        const max = c["max-chars"] ?? c["max-length"];
        if (max) input.maxLength = Number(max);
        input.value = current ?? "";
        input.addEventListener("input", () => onValue(entry, c.name, input.value));
        return labelled(c, input, entry);
      }
      case "DatePicker": {
        const picker = datePicker({ name: c.name, value: current,
          min: resolve(c["min-date"], s), max: resolve(c["max-date"], s),
          unavailable: resolve(c["unavailable-dates"], s),
          onPick: (iso) => onValue(entry, c.name, iso, c),
          onInvalid: () => delete entry.form[c.name] });
        const box = el("div", "flow-field flow-date");
        box.append(el("span", "flow-label", `${text(c.label)}${c.required ? "" : " (optional)"}`), picker);
        if (c["helper-text"]) box.append(el("span", "flow-helper", text(c["helper-text"])));
        return field(entry, c.name, c.required, box);
      }
      case "EmbeddedLink": {
        const a = el("button", "flow-link", text(c.text));
        a.type = "button";
        a.addEventListener("click", () => act(c["on-click-action"]));
        return a;
      }
      case "Footer":
        entry.footer = c;
        return null;
      default:
        return el("p", "flow-caption muted", `(${c.type} is not supported by the sandbox)`);
    }
  }

  /** What a Footer / link / selection does. */
  function act(action) {
    if (!action || state.pending) return;
    const payload = resolve(action.payload || {}, scope());
    if (action.name === "navigate") {
      const next = action.next?.name;
      if (!screenDef(next)) { snackbar(`Unknown screen ${next}`); return; }
      push(next, payload);
      render();
    } else if (action.name === "update_data") {
      Object.assign(top().data, payload);
      render();
    } else if (action.name === "open_url") {
      const url = safeUrl(resolve(action.url, scope()));
      if (url) window.open(url, "_blank", "noopener"); else snackbar("This link cannot be opened.");
    } else if (action.name === "complete") {
      // WhatsApp ends the Flow itself (the server sends the nfm_reply, answers {completed: true})
      exchange("complete", top().id, payload);
    } else {
      exchange("data_exchange", top().id, payload);
    }
  }

  async function exchange(action, screen, data) {
    setPending(true);
    const body = { business, customer: customer.number, name: customer.name, message_id: message.id,
      flow_id: flowId, flow_token: params.flow_token, action };
    if (screen) body.screen = screen;
    if (data !== undefined) body.data = data;
    let answer;
    try {
      const response = await fetch("/api/flows/exchange", { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const raw = await response.text();
      try { answer = raw ? JSON.parse(raw) : {}; } catch { answer = { error: raw, status: response.status }; }
      if (!response.ok && !answer.error) answer = { error: `HTTP ${response.status}`, status: response.status };
      if (!response.ok && answer.status === undefined) answer.status = response.status;
    } catch (e) {
      answer = { error: `The sandbox server could not be reached (${e.message}).`, status: 0 };
    }
    if (!alive()) return;
    setPending(false);
    if (answer.error) { fail(answer.status, typeof answer.error === "string" ? answer.error : JSON.stringify(answer.error)); return; }
    if (answer.completed || answer.screen === "SUCCESS") {
      close(); // the completion message reaches the chat through the events stream
      return;
    }
    const next = { ...(answer.data || {}) };
    const problem = next.error_message;
    delete next.error_message;
    if (!answer.screen || !screenDef(answer.screen)) {
      if (problem && top()) { Object.assign(top().data, next); render(); snackbar(problem); return; }
      fail(null, `The business answered with an unknown screen “${answer.screen}”.`);
      return;
    }
    if (action === "BACK") {
      state.stack.pop();
      while (state.stack.length > 1 && top().id !== answer.screen) state.stack.pop();
      if (top()?.id === answer.screen) top().data = next;
      else push(answer.screen, next);
    } else if (top()?.id === answer.screen) {
      top().data = { ...top().data, ...next }; // the same screen again: keep what was typed
    } else {
      push(answer.screen, next);
    }
    render();
    if (problem) snackbar(problem);
  }

  view.footer.addEventListener("click", () => { if (!view.footer.disabled) act(top()?.footer?.["on-click-action"]); });
  view.back.addEventListener("click", () => {
    if (state.pending || state.stack.length < 2) return;
    const def = screenDef(top().id);
    if (def?.refresh_on_back) { exchange("BACK", top().id, undefined); return; }
    const left = state.stack.pop();
    state.memory[left.id] = { ...left.form };
    render();
  });

  // open: the Flow JSON, then the first screen (INIT, or navigate's own screen and data)
  root.hidden = false;
  setPending(true);
  try {
    if (!flowId) throw new Error("The message has no flow_id.");
    if (!flowCache.has(flowId)) {
      const response = await fetch(`/api/flows/${encodeURIComponent(flowId)}`);
      if (!response.ok) throw new Error(`The Flow ${flowId} could not be loaded (HTTP ${response.status}).`);
      flowCache.set(flowId, await response.json());
    }
    state.json = flowCache.get(flowId);
  } catch (e) {
    if (alive()) fail(null, e.message);
    return;
  }
  if (!alive()) return;
  if (params.flow_action === "navigate") {
    const start = params.flow_action_payload || {};
    const id = start.screen || state.json.screens?.[0]?.id;
    state.stack.push({ id, data: { ...(start.data || {}) }, form: {} });
    setPending(false);
    render();
  } else {
    await exchange("INIT", undefined, undefined);
  }
}

function buildShell(root, onClose) {
  root.replaceChildren();
  const header = el("div", "flow-header");
  const closeButton = el("button", "flow-close header-icon dark");
  closeButton.type = "button";
  closeButton.id = "flow-close";
  closeButton.setAttribute("aria-label", "Close");
  closeButton.append(icon("close"));
  closeButton.addEventListener("click", onClose);
  const back = el("button", "flow-back header-icon dark");
  back.type = "button";
  back.id = "flow-back";
  back.setAttribute("aria-label", "Back");
  back.append(icon("back"));
  back.hidden = true;
  const title = el("h2", "flow-title", "");
  title.id = "flow-title";
  header.append(closeButton, back, title);
  const body = el("div", "flow-body");
  body.id = "flow-body";
  const snackbar = el("div", "flow-snackbar");
  snackbar.id = "flow-snackbar";
  snackbar.setAttribute("role", "alert");
  snackbar.hidden = true;
  const footerBar = el("div", "flow-footer-bar");
  const footer = el("button", "flow-footer primary");
  footer.type = "button";
  footer.id = "flow-footer";
  footer.append(el("span", "flow-spin"), el("span", "label", ""));
  footerBar.append(footer, el("div", "flow-managed", "Managed by the business. Sandbox form."));
  const spinner = el("div", "flow-spinner");
  spinner.id = "flow-spinner";
  spinner.append(el("span", "spinner"));
  spinner.hidden = true;
  root.append(header, body, snackbar, footerBar, spinner);
  return { header, title, back, body, snackbar, footerBar, footer, spinner };
}
