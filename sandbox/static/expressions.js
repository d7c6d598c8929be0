// Flow JSON expressions: ``${data.x}``, ``${form.x}`` and ``${screen.ID.form.x}`` resolved
// against the screen being shown, as the WhatsApp client does before drawing or sending.

/** Nothing entered: undefined, null, false, a blank string or an empty list. */
export const isBlank = (v) => v === undefined || v === null || v === false ||
  (typeof v === "string" && !v.trim()) || (Array.isArray(v) && !v.length);

/** A ``visible`` / ``enabled`` value that counts as true. */
export const truthy = (v) => !(v === false || v === "false" || v === 0 || v === null || v === undefined ||
  v === "");

/** ``value`` with every expression resolved. A string that is exactly one expression keeps the
 *  value's type (arrays for data sources, booleans...); ``scope``: {data, form, screens}. */
export function resolve(value, scope) {
  if (typeof value === "string") {
    const whole = value.match(/^\s*\$\{([^}]+)\}\s*$/);
    if (whole) return lookup(whole[1], scope);
    return value.replace(/\$\{([^}]+)\}/g, (_, path) => {
      const v = lookup(path, scope);
      return v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, scope));
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      const r = resolve(v, scope);
      if (r !== undefined) out[k] = r; // an empty optional field is left out, as Meta does
    }
    return out;
  }
  return value;
}

/** One dotted path: ``data.…``, ``form.…`` or ``screen.<ID>.(data|form).…``. */
function lookup(path, scope) {
  let parts = path.trim().split(".");
  let root;
  if (parts[0] === "data") root = scope.data;
  else if (parts[0] === "form") root = scope.form;
  else if (parts[0] === "screen") {
    const entry = scope.screens?.find((s) => s.id === parts[1]);
    root = entry?.[parts[2]];
    parts = parts.slice(2);
  } else return undefined;
  let v = root;
  for (const p of parts.slice(1)) v = v == null ? undefined : v[p];
  if (parts[0] === "form" && typeof v === "string" && !v) return undefined;
  return v;
}
