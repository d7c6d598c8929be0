// The Flow DatePicker: a month grid. Days before min-date, after max-date or in
// unavailable-dates are greyed (struck through when unavailable), carry aria-disabled="true"
// and cannot be picked. Every day cell has data-date="YYYY-MM-DD".
import { el } from "./render.js";
import { icon } from "./icons.js";

const pad = (n) => String(n).padStart(2, "0");
const iso = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

/** "YYYY-MM-DD" (Flow JSON ≥ 5.0) or epoch milliseconds (older Flows) → "YYYY-MM-DD". */
export function toIso(value) {
  if (value === undefined || value === null || value === "") return null;
  const s = String(value).trim();
  if (/^\d{4}-\d{2}-\d{2}/.test(s)) return s.slice(0, 10);
  if (/^\d{9,}$/.test(s)) return iso(new Date(Number(s)));
  return null;
}

const fromIso = (s) => { const [y, m, d] = s.split("-").map(Number); return new Date(y, m - 1, d); };
const WEEKDAYS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"];

export function datePicker({ name, value, min, max, unavailable, onPick, onInvalid }) {
  const minIso = toIso(min), maxIso = toIso(max);
  const blocked = new Set((Array.isArray(unavailable) ? unavailable : []).map(toIso).filter(Boolean));
  let selected = toIso(value);
  const todayIso = iso(new Date());
  const why = (day) => (minIso && day < minIso) || (maxIso && day > maxIso) ? "out-of-range"
    : blocked.has(day) ? "unavailable" : null;
  if (selected && why(selected)) { selected = null; onInvalid?.(); } // no longer bookable
  let start = selected || (minIso && minIso > todayIso ? minIso : null) || todayIso;
  if (maxIso && start > maxIso) start = maxIso;
  if (!selected) { // open on the month of the first day that can be chosen
    const day = fromIso(start);
    for (let i = 0; i < 400 && why(iso(day)); i++) day.setDate(day.getDate() + 1);
    if (!why(iso(day))) start = iso(day);
  }
  let month = fromIso(start);
  month.setDate(1);

  const box = el("div", "datepicker");
  box.dataset.name = name;
  const hidden = el("input");
  hidden.type = "hidden";
  hidden.name = name;
  hidden.value = selected || "";
  const shown = el("div", "date-value");
  const head = el("div", "cal-head");
  const prev = el("button", "cal-prev header-icon small dark");
  prev.type = "button";
  prev.setAttribute("aria-label", "Previous month");
  prev.append(icon("prev"));
  const next = el("button", "cal-next header-icon small dark");
  next.type = "button";
  next.setAttribute("aria-label", "Next month");
  next.append(icon("chevron"));
  const title = el("span", "cal-month");
  head.append(prev, title, next);
  const grid = el("div", "cal-grid");
  grid.setAttribute("role", "grid");
  box.append(shown, head, grid, hidden);

  function draw() {
    shown.textContent = selected
      ? fromIso(selected).toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short", year: "numeric" })
      : "Select a date";
    shown.classList.toggle("placeholder", !selected);
    title.textContent = month.toLocaleDateString("en-GB", { month: "long", year: "numeric" });
    const first = iso(month), last = iso(new Date(month.getFullYear(), month.getMonth() + 1, 0));
    prev.disabled = Boolean(minIso && first <= minIso);
    next.disabled = Boolean(maxIso && last >= maxIso);
    grid.replaceChildren(...WEEKDAYS.map((d) => el("span", "cal-dow", d)));
    const lead = (month.getDay() + 6) % 7; // Monday first
    for (let i = 0; i < lead; i++) grid.append(el("span", "cal-blank"));
    const days = new Date(month.getFullYear(), month.getMonth() + 1, 0).getDate();
    for (let d = 1; d <= days; d++) {
      const day = iso(new Date(month.getFullYear(), month.getMonth(), d));
      const cell = el("button", "cal-day", String(d));
      cell.type = "button";
      cell.dataset.date = day;
      const reason = why(day);
      if (reason) {
        cell.classList.add(reason);
        cell.setAttribute("aria-disabled", "true");
        cell.tabIndex = -1;
        cell.title = reason === "unavailable" ? "Not available" : "Outside the bookable range";
      }
      if (day === todayIso) cell.classList.add("today");
      if (day === selected) { cell.classList.add("selected"); cell.setAttribute("aria-pressed", "true"); }
      cell.addEventListener("click", () => {
        if (why(day)) return; // greyed days cannot be chosen
        selected = day;
        hidden.value = day;
        draw();
        onPick(day);
      });
      grid.append(cell);
    }
  }
  prev.addEventListener("click", () => { month = new Date(month.getFullYear(), month.getMonth() - 1, 1); draw(); });
  next.addEventListener("click", () => { month = new Date(month.getFullYear(), month.getMonth() + 1, 1); draw(); });
  draw();
  return box;
}
