// Bottom sheets inside the phone: a list message's options, sharing a location, a photo.
import { el } from "./render.js";

const $ = (id) => document.getElementById(id);
const SHEETS = ["list-sheet", "location-sheet", "photo-sheet"];
const LOCATIONS = [
  { name: "Ubud Centre", address: "Jl. Raya Ubud, Ubud, Gianyar, Bali", latitude: -8.5069, longitude: 115.2625 },
  { name: "Canggu Beach", address: "Batu Bolong Beach, Canggu, Badung, Bali", latitude: -8.6594, longitude: 115.1303 },
  { name: "Seminyak", address: "Jl. Kayu Aya, Seminyak, Badung, Bali", latitude: -8.6913, longitude: 115.1682 },
  { name: "Sanur", address: "Jl. Danau Tamblingan, Sanur, Denpasar, Bali", latitude: -8.6783, longitude: 115.2631 },
  { name: "Uluwatu", address: "Jl. Raya Uluwatu, Pecatu, Badung, Bali", latitude: -8.8291, longitude: 115.0849 },
];

export function closeSheets() {
  for (const id of SHEETS) $(id).hidden = true;
  $("sheet-backdrop").hidden = true;
}

function openSheet(id) {
  closeSheets();
  $(id).hidden = false;
  $("sheet-backdrop").hidden = false;
}

let wired = false;
function wire() {
  if (wired) return;
  wired = true;
  $("sheet-backdrop").addEventListener("click", closeSheets);
  for (const id of ["list-close", "location-close", "photo-close"]) $(id).addEventListener("click", closeSheets);
}

/** The sheet of a list message: sections, rows with radio circles, a Send button. */
export function openListSheet(msg, send) {
  wire();
  const interactive = msg.message.interactive || {};
  const action = interactive.action || {};
  $("list-sheet-title").textContent = action.button || "Menu";
  const body = $("list-sheet-body");
  body.replaceChildren();
  const rows = [];
  const group = `list-${msg.id}`;
  for (const section of action.sections || []) {
    const box = el("div", "list-section");
    if (section.title) box.append(el("div", "list-section-title", section.title));
    for (const row of section.rows || []) {
      const label = el("label", "list-row");
      const text = el("span", "list-row-text");
      text.append(el("span", "list-row-title", row.title));
      if (row.description) text.append(el("span", "list-row-description", row.description));
      const radio = el("input", "list-radio");
      radio.type = "radio";
      radio.name = group;
      radio.value = String(rows.length);
      radio.addEventListener("change", () => { $("list-send").disabled = false; });
      label.append(text, radio);
      rows.push(row);
      box.append(label);
    }
    body.append(box);
  }
  const button = $("list-send");
  button.disabled = true;
  button.onclick = () => {
    const chosen = body.querySelector("input.list-radio:checked");
    if (!chosen) return;
    const row = rows[Number(chosen.value)];
    const reply = { id: row.id, title: row.title };
    if (row.description) reply.description = row.description;
    closeSheets();
    send({ type: "interactive", interactive: { type: "list_reply", list_reply: reply }, context: { id: msg.id } });
  };
  openSheet("list-sheet");
}

/** Share a location: a few Bali presets (sent at once) or typed coordinates. */
export function openLocationSheet(send) {
  wire();
  const presets = $("location-presets");
  if (!presets.childNodes.length) {
    for (const place of LOCATIONS) {
      const b = el("button", "location-preset");
      b.type = "button";
      b.append(el("span", "location-preset-name", place.name), el("span", "location-preset-address",
        `${place.address} · ${place.latitude}, ${place.longitude}`));
      b.addEventListener("click", () => { closeSheets(); send({ type: "location", location: { ...place } }); });
      presets.append(b);
    }
    $("location-send").addEventListener("click", () => {
      const lat = Number($("location-lat").value.trim().replace(",", "."));
      const lng = Number($("location-long").value.trim().replace(",", "."));
      const bad = !$("location-lat").value.trim() || !Number.isFinite(lat) || Math.abs(lat) > 90
        ? "Latitude must be a number between -90 and 90."
        : !$("location-long").value.trim() || !Number.isFinite(lng) || Math.abs(lng) > 180
          ? "Longitude must be a number between -180 and 180." : null;
      $("location-error").textContent = bad || "";
      $("location-error").hidden = !bad;
      if (bad) return;
      const location = { latitude: lat, longitude: lng };
      const name = $("location-name").value.trim(), address = $("location-address").value.trim();
      if (name) location.name = name;
      if (address) location.address = address;
      closeSheets();
      send({ type: "location", location });
    });
  }
  $("location-error").hidden = true;
  openSheet("location-sheet");
}

/** Preview a picked image with a caption field; Send posts it as a data URL. */
export function openPhotoSheet(file, send, toast) {
  wire();
  if (!file.type.startsWith("image/")) { toast("Please choose an image."); return; }
  if (file.size > 5 * 1024 * 1024) { toast("That image is over 5 MB."); return; }
  const reader = new FileReader();
  reader.onload = () => {
    const dataUrl = String(reader.result);
    $("photo-preview").src = dataUrl;
    $("photo-caption").value = "";
    $("photo-send").onclick = () => {
      const caption = $("photo-caption").value.trim();
      closeSheets();
      send({ type: "image", image: caption ? { data_url: dataUrl, caption } : { data_url: dataUrl } });
    };
    openSheet("photo-sheet");
    $("photo-caption").focus();
  };
  reader.onerror = () => toast("Could not read that file.");
  reader.readAsDataURL(file);
}
