"""What the customer reads, in their language: gettext message catalogs kept with Babel, and
Babel's formatting of days, times and money.

The messages are written in English in the code, marked where they are said (``turn.t("...")``,
``tx("...")``, ``N_("...")`` for a message said later), with named placeholders
(``"Booked ✅\\n{code}"``), whole sentences only. ``make i18n`` extracts them with
``pybabel extract`` (``babel.cfg``: the Python code and the domain's responses) into
``locale/messages.pot`` and updates one catalog per language,
``locale/<language>/LC_MESSAGES/messages.po``; translators fill in those. The catalogs are read
here as they are (no compiled ``.mo`` to fall out of date). A message missing from a catalog is
said in English; ``tests/booking/test_i18n.py`` fails when any is missing, fuzzy or has other
placeholders.
"""
from __future__ import annotations

import logging
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_currency

logger = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
SOURCE = "en"  # the language of the messages in the code
LANGUAGES = ("en", "id")
NAMES = {"en": "English", "id": "Bahasa Indonesia"}  # each in its own language
# Babel locales: English as written in Indonesia (Rupiah as "Rp350.000"), and Indonesian.
_LOCALES = {"en": "en_ID", "id": "id"}
# "Thu 3 Dec, 15:00" / "Kam, 3 Des, 15.00"; "Thu 3 Dec" / "Kam, 3 Des"; "15:00" / "15.00"
_MOMENT = {"en": "EEE d MMM, HH:mm", "id": "EEE, d MMM, HH.mm"}
_DAY = {"en": "EEE d MMM", "id": "EEE, d MMM"}
_CLOCK = {"en": "HH:mm", "id": "HH.mm"}
_LONG_DAY = {"en": "EEEE d MMMM", "id": "EEEE, d MMMM"}


def N_(message: str) -> str:
    """Mark a message for the catalogs where it is defined; it is translated where said."""
    return message


def language_or_default(language: Any) -> str:
    """``language`` when it is one we speak, else the source language."""
    return language if language in LANGUAGES else SOURCE


@lru_cache(maxsize=None)
def catalog(language: str) -> dict[str, str]:
    """The translated messages of ``language`` (msgid → text), without fuzzy or empty ones."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == SOURCE or not path.exists():
        return {}
    with path.open("rb") as handle:
        po = read_po(handle, locale=_LOCALES.get(language, language))
    return {m.id: m.string for m in po if m.id and isinstance(m.id, str) and m.string
            and not m.fuzzy}


class Texts:
    """Messages and formats in one language: ``tx("Booked {code}", code=...)``."""

    def __init__(self, language: str) -> None:
        self.language = language_or_default(language)
        self.locale = _LOCALES[self.language]
        self._messages = catalog(self.language)

    def __call__(self, message: str, **values: Any) -> str:
        """``message`` in this language, with its named placeholders filled in."""
        text = self._messages.get(message, message)
        if not values:
            return text
        try:
            return text.format(**values)
        except (KeyError, IndexError, ValueError):  # a broken translation: say the English
            logger.error("translation of %r into %s does not format", message, self.language)
            return message.format(**values)

    def moment(self, moment: datetime, tz: ZoneInfo) -> str:
        """``Thu 3 Dec, 15:00`` / ``Kam, 3 Des, 15.00`` in the business time zone."""
        return format_datetime(moment.astimezone(tz), _MOMENT[self.language], locale=self.locale)

    def day(self, day: date) -> str:
        """``Thu 3 Dec`` / ``Kam, 3 Des``."""
        return format_date(day, _DAY[self.language], locale=self.locale)

    def long_day(self, day: date) -> str:
        """``Thursday 3 December`` / ``Kamis, 3 Desember``."""
        return format_date(day, _LONG_DAY[self.language], locale=self.locale)

    def full_day(self, day: date) -> str:
        """``Thursday 3 December 2026`` / ``Kamis, 3 Desember 2026``."""
        return format_date(day, _LONG_DAY[self.language] + " y", locale=self.locale)

    def full_moment(self, moment: datetime, tz: ZoneInfo) -> str:
        """``Thu 3 Dec 2026, 15:00`` / ``Kam, 3 Des 2026, 15.00``."""
        pattern = _MOMENT[self.language].replace("MMM,", "MMM y,")
        return format_datetime(moment.astimezone(tz), pattern, locale=self.locale)

    def weekday(self, day: date) -> str:
        """``Thursday`` / ``Kamis``."""
        return format_date(day, "EEEE", locale=self.locale)

    def clock(self, moment: datetime, tz: ZoneInfo) -> str:
        """``15:00`` / ``15.00`` in the business time zone."""
        return format_datetime(moment.astimezone(tz), _CLOCK[self.language], locale=self.locale)

    def money(self, amount: int, currency: str = "IDR") -> str:
        """``Rp350.000`` (whole Rupiah, as Indonesia writes them, in both languages)."""
        return format_currency(amount, currency, format="¤#,##0", currency_digits=False,
                               locale=self.locale)


@lru_cache(maxsize=None)
def texts(language: Optional[str]) -> Texts:
    """The ``Texts`` of a language (the source language for an unknown one)."""
    return Texts(language_or_default(language))


Translate = Callable[..., str]
