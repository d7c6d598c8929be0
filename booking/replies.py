"""What a typed answer means, given what the bot just asked: a time from the times offered
("5pm", "17.00", "5 sore", "jm 8 mlm", "setengah 4", "the 3 o'clock one", "the first one",
"earliest", "yg terakhir", "anything after 4"), a position in a list ("2", "the second one"), a
number of people ("for 2", "berdua", "dua orang"), a change of mind ("no, make it 1pm",
"actually friday", "bukan, jumat aja", "mending jam 4"), dropping the order ("never mind",
"gak jadi", "ga usah"), or a question about what a treatment includes ("what's included?").

Pure and total: text in, a reading or None out, never an exception. Names of services and staff
are matched by the caller against the live catalog (``booking.names``); days by
``booking.timeparse``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from typing import Optional, Sequence
from zoneinfo import ZoneInfo

MAX_LENGTH = 120
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4,
             "4th": 4, "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7,
             "eighth": 8, "8th": 8, "ninth": 9, "9th": 9, "tenth": 10, "10th": 10,
             "pertama": 1, "kedua": 2, "ketiga": 3, "keempat": 4, "kelima": 5}
_EARLIEST = re.compile(r"\b(earliest|soonest|first (?:one|time|slot|available)|asap|"
                       r"as soon as possible|paling (?:awal|pagi|cepat|cepet|atas))\b")
_LATEST = re.compile(r"\b(latest|last (?:one|time|slot)|the last|(?:yg|yang) terakhir|"
                     r"paling (?:akhir|terakhir|malam|mlm|sore|telat|bawah))\b")
_ORDINAL = re.compile(r"\b(?:the\s+)?(" + "|".join(_ORDINALS) + r")\b(?:\s+(?:one|option|time|"
                      r"slot|treatment))?")
_NUMBER_ONLY = re.compile(r"^\s*(?:no\.?|number|#|nomor)?\s*(\d{1,2})\s*[.)]?\s*$")
# A clock time: 5pm, 5 pm, 17.00, 17:00, 5 sore, jam 3 sore, jm 8 mlm, 3 o'clock, at 4, 4
_CLOCK = re.compile(
    r"(?:\b(at|jam|jm|pukul|@|after|before|from|past|by|setelah|sebelum|lewat|than)\s*)?"
    r"\b(\d{1,2})(?:[:.](\d{2}))?\s*"
    r"(am|pm|a\.m\.|p\.m\.|pagi|siang|sore|malam|mlm|o'?\s?clock|oclock|h)?\b")
# "setengah 4" is half before 4: 3.30 (15:30 for a spa, like "3.30"; "setengah 8 malam" 19:30)
_HALF = re.compile(r"\bsetengah\s*(\d{1,2})\b")
_AFTER = re.compile(r"\b(?:after|later than|from|past|setelah|lewat)\s+")
_BEFORE = re.compile(r"\b(?:before|earlier than|by|sebelum)\s+")
_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                 "satu": 1, "dua": 2, "tiga": 3, "empat": 4, "lima": 5, "enam": 6}
_COUNT = r"(\d{1,2}|" + "|".join(_WORD_NUMBERS) + ")"
_UNITS = r"(?:people|persons|pax|of us|orang|org|guests)"
# "for 2 people", "3 pax", "untuk 2", "dua orang", "2 org", and "berdua"/"ber3" (the 2/3 of us)
_PEOPLE = re.compile(r"\b(?:for|untuk|buat)\s+" + _COUNT + r"\s*" + _UNITS + r"?\b|\b" + _COUNT
                     + r"\s+" + _UNITS + r"\b|\bber(dua|tiga|empat|lima|enam|[2-6])\b")
_NEVER_MIND = re.compile(
    r"^\s*(?:ok(?:ay)?,?\s*|oh,?\s*|no,?\s*)?(?:never\s?mind|nevermind|forget (?:it|that|about it)|"
    r"cancel (?:that|this|it)|scrap (?:it|that)|don'?t bother|not anymore)\b|"
    r"^\s*stop(?:\s+(?:it|that))?\W*$")
# The Indonesian ones only as the whole message, give or take "eh", "aja", "deh", "kak": "gak
# jadi, makasih", "ga usah deh", "batal aja"; not "batal booking", "ga jadi dateng, batalin aja
# bookingnya" (cancelling a booking: an intent of its own)
_NEVER_MIND_ID = re.compile(
    r"^\W*(?:(?:eh|oh|ok|oke|okay|ya|yaudah|ya udah|yadah|hmm+|maaf|kak|sorry|kayaknya|kyknya|"
    r"sepertinya)\W+)*"
    r"(?:(?:(?:ga|gak|gk|nggak|ngga|enggak|engga|ndak|nda|tidak|tdk)\s?(?:jadi|jd|usah)|gajadi|"
    r"gausah|gausa|gajd)(?:\s+(?:booking|book|pesan|pesen|reservasi)(?:nya)?)?|batal|batalkan)"
    r"(?:\W+(?:aja|ajah|aj|saja|deh|dong|ya|yah|kak|kakak|dulu|sih|nih|mas|mbak|bli|gan|sis|lah|"
    r"dah|kok|makasih|makasi|terima kasih|trims|thanks|thx|ok|oke))*\W*$")
# "What's included?" about the treatment at hand, or about one the message must name ("tell me
# about the hot stone": "tell me about the payment" is no question about a treatment)
_DETAILS_OF_THIS = re.compile(
    r"\bwhat'?s?\s+(?:is\s+)?(?:included|includes|in it|involved)\b|\bwhats included\b|"
    r"\bwhat (?:does|do|did) (?:it|that|this|they) (?:include|involve|come with|consist of)\b|"
    r"\btell me more\b(?! about)|\btell me (?:more )?about (?:it|this|that|this one|that one)\b|"
    r"\btermasuk apa|\bapa (?:saja )?yang termasuk|\bdetailnya\b")
_DETAILS_OF_NAMED = re.compile(
    r"\bwhat (?:does|do|did) the [a-z ]{3,40}? (?:include|involve|come with|consist of)\b|"
    r"\btell me (?:more )?about\b|\b(?:more )?(?:info|information|details?) (?:about|on|of)\b|"
    r"\b(?:is|are) [a-z ]{2,30} included\b|\bwhat happens (?:in|during)\b|"
    r"\b(?:detail|penjelasan|info)(?:nya)? (?:tentang|soal|untuk)\b")
# A change of mind, in English and as chatted in Indonesian: "bukan, jumat aja" (no, friday
# then), "mending jam 4" (rather at 4), "ganti jam 4", "jam 4 aja deh" ("<x> aja" is "make it
# <x>", but "iya jam 3 aja" agrees), "kalau jam 4?" (how about 4?)
_CORRECTION = re.compile(r"^\s*(?:no|nope|nah|actually|instead|wait|sorry|hmm+|oh|eh|"
                         r"tidak|nggak|gak|ga|bukan|maaf|kalau|kalo|klo|gimana kalau|gmn kalo)\b|"
                         r"\b(?:instead|make it|change it to|rather|can it be|could it be|"
                         r"how about|what about|ganti|diganti|mending|mendingan|pindah|ubah)\b|"
                         r"^(?!\W*(?:iya|iyaa|ya|yes|ok|oke|okay|sip|boleh|betul|bener)\b)"
                         r".*\b(?:aja|saja|ajah)\b")


@dataclass(frozen=True)
class TimeReading:
    """A time answer: ``start`` when it names an offered time, else ``at`` (a clock time that
    may not be free: the caller offers the nearest), else nothing usable."""

    start: Optional[datetime] = None
    at: Optional[time] = None


def _clean(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())[:MAX_LENGTH]


def position(text: str, count: int) -> Optional[int]:
    """A 0-based position in a list of ``count`` from "2", "the second one", "the last one",
    "yg terakhir", "paling pagi"; None for anything else."""
    words = _clean(text)
    if count <= 0 or not words:
        return None
    if _LATEST.search(words):
        return count - 1
    if _EARLIEST.search(words):
        return 0
    match = _ORDINAL.search(words)
    if match:
        index = _ORDINALS[match.group(1)] - 1
        return index if index < count else None
    match = _NUMBER_ONLY.match(words)
    if match:
        index = int(match.group(1)) - 1
        return index if 0 <= index < count else None
    return None


def clock(text: str) -> Optional[time]:
    """The one clock time a message names, read as a spa's day: "5pm", "17.00", "5 sore",
    "jam 3 sore", "the 3 o'clock one", "at 4"; a bare hour 1–7 is the afternoon, 8–11 the
    morning; "setengah 4" is 15:30. None when it names none, or two different ones."""
    words = _half_before(_clean(text))
    if re.search(r"\d\s*(?:am|pm)?\s*(?:or|atau|/|-)\s*\d", words):
        return None  # "3 or 5pm": two times, not one
    found: set[time] = set()
    for match in _CLOCK.finditer(words):
        prefixed, hour, minute, suffix = (bool(match.group(1)), int(match.group(2)),
                                          int(match.group(3) or 0), match.group(4))
        if not (suffix or prefixed or match.group(3) or words.strip() == match.group(0).strip()):
            continue  # a number that is not said as a time ("2 people", "no 3")
        moment = _as_time(hour, minute, (suffix or "").replace(".", "").replace(" ", ""))
        if moment is not None:
            found.add(moment)
    return found.pop() if len(found) == 1 else None


def _half_before(words: str) -> str:
    """ "setengah 4" as "3.30", "setengah 1" as "12.30" (half before the hour)."""
    return _HALF.sub(lambda m: f"{int(m.group(1)) - 1 or 12}.30" if 1 <= int(m.group(1)) <= 24
                     else m.group(0), words)


def _as_time(hour: int, minute: int, suffix: str) -> Optional[time]:
    if minute > 59 or hour > 24:
        return None
    if suffix in ("pm", "sore", "malam", "mlm") and hour < 12:
        hour += 12
    elif suffix in ("am", "pagi") and hour == 12:
        hour = 0
    elif suffix == "siang" and hour < 6:
        hour += 12
    elif not suffix or suffix in ("oclock", "o'clock", "h"):
        if 1 <= hour <= 7:
            hour += 12  # nobody books a massage at 3 in the night
    if hour == 24:
        return None
    return time(hour, minute)


def pick_time(text: str, offered: Sequence[datetime], tz: ZoneInfo) -> Optional[TimeReading]:
    """A typed answer to "which time?" among ``offered`` (UTC instants, in order)."""
    words = _clean(text)
    if not words:
        return None
    after, before = _AFTER.search(words), _BEFORE.search(words)
    at = clock(words)
    if at is not None and (after or before):
        local = [(s, s.astimezone(tz).time()) for s in offered]
        chosen = ([s for s, t in local if t >= at] if after
                  else [s for s, t in reversed(local) if t < at])
        return TimeReading(start=chosen[0]) if chosen else TimeReading(at=at)
    if at is not None:  # a bare "4" is 16:00 (the lists show times, not numbers)
        match = next((s for s in offered if s.astimezone(tz).time() == at), None)
        return TimeReading(start=match) if match else TimeReading(at=at)
    index = position(words, len(offered))
    if index is not None:
        return TimeReading(start=offered[index])
    return None


def people(text: str) -> Optional[int]:
    """How many people a message says the booking is for ("for 2 people", "3 pax", "berdua",
    "2 org", "tiga orang")."""
    match = _PEOPLE.search(_clean(text))
    if not match:
        return None
    raw = match.group(1) or match.group(2) or match.group(3)
    count = _WORD_NUMBERS.get(raw) or (int(raw) if raw.isdigit() else 0)
    return count if 1 <= count <= 20 else None


def never_mind(text: str) -> bool:
    """Whether the customer drops what they were doing ("never mind", "cancel that", "gak
    jadi", "ga usah deh", "batal aja")."""
    words = _clean(text)
    return bool(_NEVER_MIND.search(words) or _NEVER_MIND_ID.search(words))


def asks_details(text: str) -> str:
    """Whether a message asks what a treatment is or includes: ``"this"`` for the one at hand
    ("what's included?", "tell me more", "termasuk apa?"), ``"named"`` when it counts only if
    the message names a treatment ("tell me about the hot stone", "is oil included in the
    facial?"), else ``""``."""
    words = _clean(text)
    if _DETAILS_OF_THIS.search(words):
        return "this"
    return "named" if _DETAILS_OF_NAMED.search(words) else ""


def corrects(text: str) -> bool:
    """Whether a message reads as a change of mind ("no, make it 1pm", "actually friday",
    "with Wayan instead", "bukan, jumat aja", "jam 4 aja deh") rather than a plain answer."""
    return bool(_CORRECTION.search(_clean(text)))


def without_clock(text: str) -> str:
    """The message without its clock times (to find a day it may also name)."""
    return _CLOCK.sub(lambda m: " " if (m.group(1) or m.group(3) or m.group(4)) else m.group(0),
                      _half_before(_clean(text)))
