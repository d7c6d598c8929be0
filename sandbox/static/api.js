// What every part of the phone page shares: the element lookup, the tab's storage, the toast
// and the JSON calls to the sandbox server.

export const $ = (id) => document.getElementById(id);

/** This tab's own storage (each tab is its own phone). */
export const store = {
  get: (key) => { try { return JSON.parse(sessionStorage.getItem(key)); } catch { return null; } },
  set: (key, value) => value == null ? sessionStorage.removeItem(key)
    : sessionStorage.setItem(key, JSON.stringify(value)),
};

export function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 3500);
}

/** A JSON call: the answer (null for 204), or an Error with ``status`` and ``data``. */
export async function api(path, options = {}) {
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
