"""Which language a customer writes in (English or Indonesian), from short, code-mixed chat text.

A small, transparent lexicon model (the word lists are ``language_words.txt`` beside this file):
each known word leans one way with a weight; the heavier side wins. Rules:

* A code-mixed message gets its matrix language: grammar words, particles and honorifics weigh
  more than loaned content words (``kak mau book massage besok`` is ``id``; ``can I book pijat
  bali tomorrow`` is ``en``); Indonesian affixes on any word (``massagenya``, ``dicancel``,
  ``ngebook``) are Indonesian grammar.
* Courtesy words (``terima kasih``, ``makasih``, ``suksma``, ``pagi``, ``halo``; ``thanks``,
  ``sorry``, ``hi``, ``see you``) count only when nothing else in the message tells: alone they
  give their language, beside any other telling word they are outweighed (``terima kasih, see you
  tomorrow`` is ``en``; ``thank you kak`` is ``id``); a tie of courtesy words goes to ``en``
  (tourists sprinkle Indonesian thanks into English).
* ``None`` (says nothing): a tap payload (``/affirm``), no letters (``15:00``, ``👍``, ``2``),
  codes and times (``BK123456``, ``3pm``), names, places and catalog treatment names alone
  (``Wayan``, ``Ubud``, ``Balinese Massage``, ``lulur``), ``ok``/``oke``/``okay``, laughter
  (``haha``, ``hehe``). ``ya``/``iya`` are Indonesian yes and do tell.
* An unknown word is tried elongation-collapsed (``kakk``, ``pleasee``), then with Indonesian
  affixes or English endings stripped, then as a one-slip typo of a known word; else it is
  ignored (most unknown words in this chat are names).
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Optional

from booking.i18n import LANGUAGES  # (re-exported: the languages detection can answer)

WORDS_FILE = Path(__file__).with_name("language_words.txt")
MAX_WORDS = 60  # the first words settle the language; a long message costs no more
MAX_CHARS = 600  # read no further (the address/URL patterns would be slow on a huge word)
MAX_WORD = 30  # a longer "word" is a code, a hash or a keyboard mash: ignored
MAX_PHRASE = 3  # the longest phrase in the word lists, in words

_URL = re.compile(r"\S+@\S+|(?:https?://|www\.)\S+|\S+\.(?:com|id|me|net|org)\S*", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_DIGIT = re.compile(r"\d")
_STRETCH = re.compile(r"(.)\1{2,}")
_HEADER = re.compile(r"^\[(en|id) (1|2|3|courtesy)\]$|^\[(neutral)\]$")
_ID_PREFIXES = ("nge", "di", "ke", "ter", "ber", "meng", "mem", "men", "me", "peng", "pem", "pen",
                "per", "pe", "se")
_ID_SUFFIXES = ("nya", "kan", "in", "an", "lah", "kah", "pun")
_EN_SUFFIXES = ("'s", "s", "es", "ed", "d", "ing", "ly", "er")
_LAUGH = re.compile(r"^(?:w+k+)+w*$|^(?:a?ha)+h?$|^(?:e?he)+h?$|^(?:i?hi)+h?$")

Entry = tuple[str, float]  # (side, weight); side is "en", "id", "en~", "id~" (courtesy) or "-"


def _load(path: Path = WORDS_FILE) -> dict[str, Entry]:
    """The word lists: each word (a phrase joined by ``_``) to its side and weight."""
    words: dict[str, Entry] = {}
    entry: Optional[Entry] = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        header = _HEADER.match(line)
        if header:
            side, weight, neutral = header.groups()
            if neutral:
                entry = ("-", 0.0)
            elif weight == "courtesy":
                entry = (side + "~", 1.0)
            else:
                entry = (side, float(weight))
            continue
        if entry is None:
            raise ValueError(f"{path.name}:{number}: words before a section header")
        for word in line.split():
            if word in words:
                raise ValueError(f"{path.name}:{number}: {word!r} is listed twice")
            words[word] = entry
    return words


def _by_initial(words: dict[str, Entry]) -> dict[str, tuple[str, ...]]:
    """The single words of four letters or more, by first letter (the typo candidates)."""
    index: dict[str, list[str]] = {}
    for word in words:
        if "_" not in word and len(word) >= 4:
            index.setdefault(word[0], []).append(word)
    return {initial: tuple(group) for initial, group in index.items()}


WORDS: dict[str, Entry] = _load()
_PHRASES = frozenset(w for w in WORDS if "_" in w)
_BY_INITIAL = _by_initial(WORDS)


def _tokens(text: str) -> list[str]:
    """Lower-case word tokens, URLs and e-mail addresses left out, known phrases joined by ``_``."""
    text = unicodedata.normalize("NFKC", _URL.sub(" ", text[:MAX_CHARS])).replace("’", "'")
    raw = [t.lower() for t in _TOKEN.findall(text) if len(t) <= MAX_WORD][:MAX_WORDS]
    out: list[str] = []
    i = 0
    while i < len(raw):
        for size in range(min(MAX_PHRASE, len(raw) - i), 1, -1):
            phrase = "_".join(raw[i:i + size])
            if phrase in _PHRASES:
                out.append(phrase)
                i += size
                break
        else:
            out.append(raw[i])
            i += 1
    return out


def _known(word: str) -> Optional[Entry]:
    """A listed word as written or with its letters' elongation collapsed (``kakk``, ``yaaa``)."""
    if word in WORDS:
        return WORDS[word]
    stretched = _STRETCH.search(word) is not None  # a letter typed 3+ times: surely elongation
    for candidate in (_STRETCH.sub(r"\1\1", word), re.sub(r"(.)\1+$", r"\1", word),
                      re.sub(r"(.)\1+", r"\1", word)):
        if candidate in WORDS and (stretched or len(candidate) >= 3):
            return WORDS[candidate]
    return None


def _affixed(word: str) -> Optional[Entry]:
    """Indonesian affixes on a known stem (``dicancel``, ``bookingan``), or English endings."""
    if word.endswith("nya") and len(word) > 4:
        return ("id", 2.0)
    stems = [word[len(p):] for p in _ID_PREFIXES if word.startswith(p)]
    stems += [s[:-len(x)] for s in (word, *stems) for x in _ID_SUFFIXES if s.endswith(x)]
    for stem in stems:
        found = _known(stem) if len(stem) >= 3 else None
        if found and (found[0] in ("id", "-") or word.startswith(("di", "nge"))):
            return ("id", 2.0)
    for ending in _EN_SUFFIXES:
        stem = word[:-len(ending)]
        found = _known(stem) if word.endswith(ending) and len(stem) >= 3 else None
        if found and found[0] in ("en", "en~"):
            return ("en", 1.0)
    return None


@lru_cache(maxsize=4096)
def _lookup(word: str) -> Optional[Entry]:
    """What a token says: listed, affixed, or one slip from a listed word; None if unknown."""
    if _DIGIT.search(word):
        found = WORDS.get(word)
        if found is None and word.endswith("2") and not _DIGIT.search(word[:-1]):
            found = _known(word[:-1])  # reduplication: anak2, kira2
        return found
    if _LAUGH.match(word):
        return WORDS.get(word, ("id", 3.0) if word.startswith("w") else ("-", 0.0))
    found = _known(word) or _affixed(word)
    if found is None and len(word) >= 5:
        near = [w for w in _BY_INITIAL.get(word[0], ()) if abs(len(w) - len(word)) <= 1]
        close = difflib.get_close_matches(word, near, n=1, cutoff=0.85)
        if close:
            side, weight = WORDS[close[0]]
            found = (side, min(weight, 1.0))
    return found


def detect(text: str) -> Optional[str]:
    """``"en"``, ``"id"``, or ``None`` when the message says nothing about the language."""
    if not isinstance(text, str) or text.lstrip().startswith("/"):
        return None
    score = {"en": 0.0, "id": 0.0, "en~": 0.0, "id~": 0.0, "-": 0.0}
    for word in _tokens(text):
        found = _lookup(word)
        if found:
            score[found[0]] += found[1]
    if score["en"] or score["id"]:
        # A tie goes to Indonesian: English loans in Indonesian chat are commoner than the reverse.
        return "en" if score["en"] > score["id"] else "id"
    if score["en~"] or score["id~"]:
        return "en" if score["en~"] >= score["id~"] else "id"
    return None


def decide(current: Optional[str], chosen: bool, text: str, default: str) -> str:
    """The language after ``text``: the chosen one, else text's, else the current, else default.

    One word sets a first language but does not leave an established one: an Indonesian
    customer answering "yes" or "done" at the card, or an English one writing "sip", is
    still who they were (both languages borrow such words); two telling words do."""
    known = current if current is not None and current in LANGUAGES else None
    if known is not None and chosen:
        return known
    found = detect(text)
    if found is not None and (known is None or found == known or len(text.split()) > 1):
        return found
    return known or default
