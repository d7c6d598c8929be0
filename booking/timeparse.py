"""Date and time expressions as customers type them ("tmrw 3pm", "next friday morning",
"25/10", "in 2 hours"), resolved in the business time zone with ``dateparser``.

Pure: the caller passes "now". ``dateparser`` does the heavy lifting; this module adds what it
lacks for chat: phone short forms, "next <weekday>", parts of the day as time windows, and
Indonesian as it is chatted ("bsk jm 3", "lusa jam 2 siang", "jumat sore", "tgl 25", "senin
dpn", "jam 8 mlm", "ntar sore", "2 jam lagi", "setengah 4 sore"), read into the English the rest
of the module understands.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

import dateparser

PARTS_OF_DAY: dict[str, tuple[time, time]] = {
    "morning": (time(8, 0), time(12, 0)),
    "noon": (time(12, 0), time(13, 0)),
    "lunch": (time(12, 0), time(14, 0)),
    "afternoon": (time(12, 0), time(17, 0)),
    "evening": (time(17, 0), time(21, 0)),
    "night": (time(18, 0), time(22, 0)),
}
_SHORT_FORMS = {
    r"\b(tmrw|tmrrw|tmr|tmw|tomoro|tomorow|tommorow|tommorrow|2moro|2morrow)\b": "tomorrow",
    r"\b(tdy|tday)\b": "today",
    r"\b(tonite|tonight)\b": "today evening",
    r"\bnxt\b": "next",
    r"\bday after tomorrow\b": "in 2 days",
}
# Indonesian as people chat it, said in English for the rest of this module: short forms ("bsk",
# "jm", "mlm", "dpn"), "<n> jam lagi" (in n hours), weekdays and months, "<weekday> depan"
# (next), "tgl 25", and pagi/siang/sore/malam, as a clock time's am/pm ("jam 8 malam" is 20:00)
# or else as a part of the day ("besok sore"). "minggu" is Sunday, except "minggu depan" (next
# week) and "<n> minggu lagi"; "minggu ini" stays Sunday: there are no week windows here
_INDONESIAN = {
    r"\bjm\b": "jam", r"\bmlm\b": "malam", r"\bdpn\b": "depan", r"\blsa\b": "lusa",
    r"\b(?:ntar|ntr|entar|nnti)\b": "nanti", r"\b(?:sekarang|skrg|skrng|skg)\b": "today",
    # "2 jam lagi" (in 2 hours), "30 menit lagi", "3 hari lagi", "sejam lagi", "dua jam lagi"
    r"\bsatu (?=(?:jam|menit|hari|minggu) lagi\b)": "1 ",
    r"\bdua (?=(?:jam|menit|hari|minggu) lagi\b)": "2 ",
    r"\btiga (?=(?:jam|menit|hari|minggu) lagi\b)": "3 ",
    r"\bsetengah jam lagi\b": "in 30 mins", r"\bsejam lagi\b": "in 1 hour",
    r"\bseminggu lagi\b": "in 1 week",
    r"\b(\d{1,3})\s*(?:menit|mnt) lagi\b": r"in \1 mins",
    r"\b(\d{1,2})\s*jam lagi\b": r"in \1 hours",
    r"\b(\d{1,2})\s*(?:hari|hr) lagi\b": r"in \1 days",
    r"\b(\d{1,2})\s*minggu lagi\b": r"in \1 weeks",
    r"\b(?:besok|bsk|bsok|besuk)\b": "tomorrow",
    r"\b(?:hari|hr) ini\b": "today",
    r"\bmalam ini\b": "today evening",
    r"\blusa\b": "in 2 days",
    r"\bnanti (?=pagi|siang|sore|malam)": "today ",
    r"\bminggu depan\b": "next week",
    r"\b(?:hari )?minggu\b": "sunday",
    r"\b(?:hari )?senin\b": "monday",
    r"\b(?:hari )?selasa\b": "tuesday",
    r"\b(?:hari )?rabu\b": "wednesday",
    r"\b(?:hari )?kamis\b": "thursday",
    r"\b(?:hari )?jum'?a?at\b": "friday",
    r"\b(?:hari )?sabtu\b": "saturday",
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday) depan\b": r"next \1",
    r"\bjanuari\b": "january", r"\bfebruari\b": "february", r"\bmaret\b": "march",
    r"\bmei\b": "may", r"\bjuni\b": "june", r"\bjuli\b": "july",
    r"\b(?:agustus|agu|agt|ags)\b": "august", r"\b(?:oktober|okt)\b": "october",
    r"\b(?:desember|des)\b": "december",
    r"\b(?:tgl|tanggal)\s*(\d{1,2})\b(?![/.\-]\d|\s*(?:jan|feb|mar|apr|may|jun|jul|aug|sep|"
    r"oct|nov|dec))": r"\1 __month__",
    r"\b(?:tgl|tanggal)\b": " ",
    r"\b(\d{1,2})([:.]\d{2})?\s*pagi\b": r"\1\2am",
    r"\b(1[0-2]|[1-9])([:.]\d{2})?\s*(?:sore|malam)\b": r"\1\2pm",
    r"\b([1-5]|12)([:.]\d{2})?\s*siang\b": r"\1\2pm", r"\b(1[01])([:.]\d{2})?\s*siang\b": r"\1\2am",
    r"\bsore ini\b": "today afternoon",  # "sore" alone may be English ("my back is sore")
    r"\b(tomorrow|today|days|monday|tuesday|wednesday|thursday|friday|saturday|sunday) sore\b":
        r"\1 afternoon",
    r"\bpagi\b": "morning", r"\bsiang\b": "afternoon", r"\bmalam\b": "evening",
}
_REWRITES = [(re.compile(p), r) for p, r in {**_SHORT_FORMS, **_INDONESIAN}.items()]
# "setengah 4" is half before 4: read as "jam 3:30", like replies.clock, so a bare one is the
# afternoon for a spa (15:30) and "setengah 4 pagi" the morning
_HALF_RE = re.compile(r"\b(?:jam\s*)?setengah\s*(\d{1,2})\b")
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_WEEKDAY_RE = re.compile(r"\b(?:(next|this|coming)\s+)?(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)"
                         r"(?:day|nesday|sday|rsday|urday)?\b")
_PART_RE = re.compile(r"\b(?:in the |this )?(" + "|".join(PARTS_OF_DAY) + r")\b")
_AT_HOUR_RE = re.compile(r"(?:\bat|\bjam|\bpukul|@)\s*(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?\b")
_MERIDIEM_RE = re.compile(r"\b(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)\b")
_HHMM_RE = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_RELATIVE_RE = re.compile(r"\bin\s+(\d+|an?|one|two|three)\s*(min|minute|hour|hr|h|day|week)s?\b")
_FILLERS = {"at", "on", "for", "the", "of", "please", "pls", "around", "about", "by", "o", "clock"}
_SETTINGS = {"RETURN_AS_TIMEZONE_AWARE": False, "PREFER_DATES_FROM": "future",
             "DATE_ORDER": "DMY", "PREFER_DAY_OF_MONTH": "first"}
_MAX_LENGTH = 80
_POINTERS = {"one", "ones", "that", "this"}  # "the 3pm one": no day, whatever dateparser says


@dataclass(frozen=True)
class When:
    """What a customer meant: a local day, maybe a time of day, maybe a part of the day."""

    day: date
    at: Optional[time] = None
    part_of_day: Optional[str] = None

    def window(self) -> Optional[tuple[time, time]]:
        """The local time window of ``part_of_day``, if any."""
        return PARTS_OF_DAY.get(self.part_of_day) if self.part_of_day else None

    def start(self, tz: ZoneInfo) -> Optional[datetime]:
        """The exact local instant, when a time of day was given."""
        if self.at is None:
            return None
        return datetime.combine(self.day, self.at, tzinfo=tz)


def in_part_of_day(slots: list, part_of_day: Optional[str], tz: ZoneInfo) -> list:
    """The slots (anything with a ``start``) that begin within ``part_of_day`` in ``tz``; all
    of them when no part of the day is asked for."""
    window = PARTS_OF_DAY.get(part_of_day or "")
    if not window:
        return slots
    return [s for s in slots if window[0] <= s.start.astimezone(tz).time() < window[1]]


def parse_when(text: str, tz: ZoneInfo, now: datetime) -> Optional[When]:
    """Resolve a date/time expression relative to ``now`` in ``tz``; None if there is none.

    Never raises on odd input: anything unparseable gives None.
    """
    if not isinstance(text, str):
        return None
    cleaned = re.sub(r"[^a-z0-9\s:/.\-+@]", " ", " ".join(text.lower().split())[:_MAX_LENGTH])
    local_now = now.astimezone(tz)
    cleaned = _HALF_RE.sub(_half_before, cleaned)
    for pattern, replacement in _REWRITES:
        cleaned = pattern.sub(replacement, cleaned)
    cleaned = re.sub(r"(\d{1,2}) __month__", lambda m: _day_of_month(int(m.group(1)), local_now),
                     cleaned)

    part = None
    part_match = _PART_RE.search(cleaned)
    if part_match:
        part = part_match.group(1)
        cleaned = _PART_RE.sub(" ", cleaned)
    at, cleaned = _take_clock_time(cleaned)
    rest = " ".join(w for w in cleaned.split() if w not in _FILLERS)

    day: Optional[date] = None
    relative = _RELATIVE_RE.search(rest)
    if relative or (re.search(r"[0-9]", rest) and not re.fullmatch(r"[0-9]{1,2}", rest)):
        parsed = _dateparse(rest, local_now)
        if parsed is None and relative:  # "massage in 2 hours", "kak 2 jam lagi bisa?"
            parsed = _dateparse(relative.group(0), local_now)
        if parsed is not None:
            day = parsed.date()
            if relative and relative.group(2).startswith(("m", "h")):
                at = parsed.time().replace(second=0, microsecond=0)
    weekday = _WEEKDAY_RE.search(rest)
    if day is None and weekday:
        ahead = (_weekday_index(weekday.group(2)) - local_now.weekday()) % 7
        if ahead == 0 and (weekday.group(1) == "next" or at is not None and
                           datetime.combine(local_now.date(), at, tzinfo=tz) < local_now):
            ahead = 7  # "next saturday", or "saturday 10am" said on Saturday afternoon
        day = local_now.date() + timedelta(days=ahead)
    elif day is None and rest and not re.search(r"[0-9]", rest):
        named = " ".join(w for w in rest.split() if w not in _POINTERS)
        parsed = _dateparse(named, local_now) if named else None
        day = parsed.date() if parsed is not None else None
    if day is None and len(rest.split()) > 1:
        day = _day_in_words(rest, local_now)
    if day is None and (at is not None or part is not None):
        day = local_now.date()
        if at is not None and datetime.combine(day, at, tzinfo=tz) < local_now:
            day += timedelta(days=1)  # "3pm" said after 3pm means tomorrow
    if day is None:
        return None
    if day < local_now.date():
        day = _roll_forward(day, local_now.date(), rest)
        if day is None:
            return None
    return When(day=day, at=at, part_of_day=part)


def _roll_forward(day: date, today: date, text: str) -> Optional[date]:
    """A past day that was meant as the next such day: next month for a bare day of the
    month ("the 2nd"), next year for a full date ("2 nov", "2/11")."""
    try:
        if re.search(r"[a-z]{3}|/|-", text, re.ASCII) and not _RELATIVE_RE.search(text):
            rolled = day.replace(year=day.year + 1)
        else:
            rolled = (day.replace(day=1) + timedelta(days=32)).replace(day=day.day)
    except ValueError:
        return None
    return rolled if rolled >= today else None


def _take_clock_time(text: str) -> tuple[Optional[time], str]:
    """The first clock time in ``text`` and the text without it."""
    for pattern in (_AT_HOUR_RE, _MERIDIEM_RE, _HHMM_RE):
        match = pattern.search(text)
        if match:
            found = _clock(match)
            if found is not None:
                return found, text[:match.start()] + " " + text[match.end():]
    return None, text


def _clock(match: re.Match) -> Optional[time]:
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    meridiem = match.group(3) if match.re.groups >= 3 else None
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    elif meridiem is None and match.re is _AT_HOUR_RE and 1 <= hour <= 7:
        hour += 12  # "at 3" for a spa means the afternoon
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour, minute)


def _half_before(match: re.Match) -> str:
    """ "setengah 4": "jam 3:30"; "setengah 1": "jam 12:30"; no hour left as it was."""
    hour = int(match.group(1))
    return f"jam {hour - 1 or 12}:30" if 1 <= hour <= 24 else match.group(0)


def _day_of_month(day: int, local_now: datetime) -> str:
    """ "tgl 5": the 5th of this month, or of the next once this month's is past."""
    month = local_now.replace(day=1)
    if day < local_now.day:
        month = (month + timedelta(days=32)).replace(day=1)
    return f"{day} {month:%B}".lower()


def _weekday_index(prefix: str) -> int:
    for i, name in enumerate(_WEEKDAYS):
        if name.startswith(prefix[:3]):
            return i
    raise ValueError(prefix)


def _day_in_words(text: str, local_now: datetime) -> Optional[date]:
    """A date said inside a longer sentence ("massage tomorrow please"): the longest run of
    up to four words that parses as a date, ignoring bare numbers."""
    words = text.split()[:12]
    for size in range(min(4, len(words)), 0, -1):
        for i in range(len(words) - size + 1):
            span = " ".join(words[i:i + size])
            if re.fullmatch(r"[0-9]{1,2}|[a-z]{1,2}", span) or span in _FILLERS:
                continue
            if not re.search(r"[0-9]|day|tomorrow|today|week|jan|feb|mar|apr|may|jun|jul|aug|"
                             r"sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun", span):
                continue
            parsed = _dateparse(span, local_now)
            if parsed is not None:
                return parsed.date()
    return None


def _dateparse(text: str, local_now: datetime) -> Optional[datetime]:
    settings = dict(_SETTINGS, RELATIVE_BASE=local_now.replace(tzinfo=None))
    try:
        return dateparser.parse(text, languages=["en"], settings=settings)
    except (ValueError, OverflowError, TypeError, AttributeError):
        return None
