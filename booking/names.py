"""Finding a service by what a customer wrote, against the live catalog (so a service the
business adds or renames in the console is found at once, without retraining the NLU)."""
from __future__ import annotations

import difflib
import re
from typing import Iterable, Optional

from booking.models import Service

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_WORDS = 40  # a request names its treatment early; a long message costs no more


def normalise(text: str) -> str:
    """Lower case, words only, single spaces (``Hot-Stone  massage!`` → ``hot stone massage``)."""
    return " ".join(_WORD.findall(str(text).lower()))


def _phrases(services: Iterable[Service]) -> dict[str, Service]:
    names: dict[str, Service] = {}
    for service in services:
        for phrase in (service.id.replace("-", " "), service.name, *service.aliases,
                       *(name for _, name, _ in service.translations)):  # "Pijat Batu Panas"
            key = normalise(phrase)
            if key:
                names.setdefault(key, service)
    return names


def find_service(services: Iterable[Service], text: str) -> Optional[Service]:
    """The service named by ``text`` (an id, name or alias), forgiving case and small typos
    ("balinse massage"); None when nothing is close."""
    wanted = normalise(text)
    if not wanted:
        return None
    names = _phrases(services)
    if wanted in names:
        return names[wanted]
    close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.8)
    return names[close[0]] if close else None


def mentioned_service(services: Iterable[Service], text: str) -> tuple[Optional[Service], int]:
    """The service whose name or alias a sentence mentions ("can I get a lava shell massage
    tomorrow?"), and how many words matched; the longest mention wins, and a mention may have
    a small typo. ``(None, 0)`` when no service is mentioned."""
    words = normalise(text).split()[:MAX_WORDS]
    best: tuple[Optional[Service], int, float] = (None, 0, 0.0)
    for phrase, service in _phrases(services).items():
        size = len(phrase.split())
        if size > len(words):
            continue
        for i in range(len(words) - size + 1):
            window = " ".join(words[i:i + size])
            if window == phrase:
                score = 1.0
            elif abs(len(window) - len(phrase)) > max(2, len(phrase) // 5):
                continue  # too different in length to be a typo of it
            else:
                score = difflib.SequenceMatcher(None, window, phrase).ratio()
            if score >= (0.88 if size > 1 else 0.93) and (size, score) > best[1:]:
                best = (service, size, score)
    return best[0], best[1]
