// WhatsApp text formatting, built as DOM nodes: text only ever goes in through text nodes
// (createTextNode / textContent), so bot or customer text can never become markup.
//   *bold*  _italic_  ~strike~  `code`  ```mono```  links auto-linked, line breaks kept
//   (the caller styles the container with white-space: pre-wrap).

const MONO = /```([\s\S]+?)```/g;
const CODE = /`([^`\n]+)`/g;
// An emphasis marker opens after start/space/punctuation and before a non-space, and closes
// after a non-space and before end/space/punctuation (as WhatsApp does: 2*3*4 stays as is).
const EMPHASIS = /(^|[\s\p{P}\p{S}])([*_~])(?=\S)([^\n]*?\S)\2(?=$|[\s\p{P}\p{S}])/u;
const TAGS = { "*": "strong", "_": "em", "~": "s" };
const URL = /\b(?:https?:\/\/|www\.)[^\s<>"]+/gi;
const TRAILING = /[.,:;!?'")\]}*_~]+$/;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const MASK = /\uE000(\d+)\uE001/g;

/** Links are found first and masked (so `_` or `*` inside a URL never formats it), then put
 *  back as <a target=_blank> once the emphasis around them is known. */
function mask(text, urls) {
  return text.replace(URL, (found) => {
    const trail = found.match(TRAILING);
    const url = trail ? found.slice(0, -trail[0].length) : found;
    if (!url) return found;
    urls.push(url);
    return `\uE000${urls.length - 1}\uE001${trail ? trail[0] : ""}`;
  });
}

function leaf(text, out, urls) {
  let last = 0;
  for (const match of text.matchAll(MASK)) {
    if (match.index > last) out.push(document.createTextNode(text.slice(last, match.index)));
    const url = urls[Number(match[1])];
    const a = el("a", "link", url);
    a.href = /^www\./i.test(url) ? `https://${url}` : url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    out.push(a);
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
}

/** Bold / italic / strike (nested), then links, for a piece without code spans. */
function emphasis(text, out, urls) {
  let rest = text;
  while (rest) {
    const match = rest.match(EMPHASIS);
    if (!match) { leaf(rest, out, urls); return; }
    const start = match.index + match[1].length;
    if (start > 0) leaf(rest.slice(0, start), out, urls);
    const node = el(TAGS[match[2]]);
    const inner = [];
    emphasis(match[3], inner, urls);
    node.append(...inner);
    out.push(node);
    rest = rest.slice(match.index + match[0].length);
  }
}

function split(text, pattern, onMatch, onText, out) {
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) onText(text.slice(last, match.index), out);
    onMatch(match[1], out);
    last = match.index + match[0].length;
  }
  if (last < text.length) onText(text.slice(last), out);
}

/** WhatsApp-formatted ``text`` as an array of DOM nodes. */
export function formatNodes(text) {
  const out = [];
  const prose = (piece, acc) => { const urls = []; emphasis(mask(piece, urls), acc, urls); };
  const inline = (piece, acc) => split(piece, CODE, (code, o) => o.push(el("code", "code", code)),
    prose, acc);
  split(String(text ?? ""), MONO, (mono, o) => o.push(el("code", "mono", mono)), inline, out);
  return out;
}

/** A container element (default <span class="text">) holding the formatted text. */
export function formatted(text, tag = "span", className = "text") {
  const node = el(tag, className);
  node.append(...formatNodes(text));
  return node;
}

/** The text with its formatting markers removed (for quotes and chat-list previews). */
export function plain(text) {
  return String(text ?? "")
    .replace(/```([\s\S]+?)```/g, "$1")
    .replace(/`([^`\n]+)`/g, "$1")
    .replace(new RegExp(EMPHASIS.source, "gu"), "$1$3");
}
