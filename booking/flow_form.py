"""The booking form (a WhatsApp Flow) in each language, and which published Flow serves one.

Meta approves one Flow JSON per Flow id, and a Flow JSON's screen titles and labels are static
text: so each language has its own Flow. ``flows/booking_flow.json`` is the source, in English;
``flows/booking_flow.<language>.json`` is generated from it (``make flows``,
``tools/flow_json.py``) by translating every static text through the message catalogs. The
texts are listed here with ``N_`` so ``make i18n`` extracts them for the translators; a text in
the source Flow that is not listed here stops the generation. What the endpoint sends into a
screen (``${data...}``: treatments, times, the summary) is translated by the endpoint.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from booking.i18n import LANGUAGES, N_, SOURCE, catalog, texts

FLOWS_DIR = Path(__file__).resolve().parent.parent / "flows"
SOURCE_FLOW = FLOWS_DIR / "booking_flow.json"
# The published Flow of each language; a language without its own Flow gets the English one.
FLOW_ID_ENV = {"en": "WHATSAPP_FLOW_ID", "id": "WHATSAPP_FLOW_ID_ID"}
# The keys of a screen or component that the customer reads.
TEXT_KEYS = ("title", "label", "text", "helper-text", "description")
MESSAGES = (
    N_("Choose a treatment"), N_("Treatment"), N_("Next"),
    N_("Choose a day"), N_("Day"),
    N_("Choose a time"), N_("Time"),
    N_("Your details"), N_("Your name"), N_("Villa"), N_("Notes"),
    N_("Check and confirm"), N_("Confirm"),
)


class UntranslatedFlowText(ValueError):
    """The source Flow has a text that is not in ``MESSAGES`` or not in a language's catalog."""


def flow_id(language: Optional[str], env: Mapping[str, str] = os.environ) -> Optional[str]:
    """The published booking Flow to offer a customer speaking ``language``: its own
    (``WHATSAPP_FLOW_ID_ID`` for Indonesian) when set, else ``WHATSAPP_FLOW_ID``; None when no
    Flow is published."""
    own = env.get(FLOW_ID_ENV.get(language or "", ""), "")
    return own or env.get(FLOW_ID_ENV[SOURCE]) or None


def flow_path(language: str) -> Path:
    """Where the Flow JSON of ``language`` is kept."""
    return SOURCE_FLOW if language == SOURCE else FLOWS_DIR / f"booking_flow.{language}.json"


def static_texts(node: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Each (object, key) of the Flow's screens holding a static text the customer reads."""
    if isinstance(node, list):
        for item in node:
            yield from static_texts(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "data":  # the endpoint's data and the builder's __example__ values
                continue
            if key in TEXT_KEYS and isinstance(value, str) and not value.startswith("${"):
                yield node, key
            else:
                yield from static_texts(value)


def translated(flow: dict[str, Any], language: str) -> dict[str, Any]:
    """``flow`` with every static text in ``language``.

    Raises:
        UntranslatedFlowText: a text is not in ``MESSAGES`` or has no translation.
    """
    result = copy.deepcopy(flow)
    messages = catalog(language)
    tx = texts(language)
    for node, key in static_texts(result["screens"]):
        text = node[key]
        if text not in MESSAGES:
            raise UntranslatedFlowText(f"{text!r} is not in booking.flow_form.MESSAGES")
        if language != SOURCE and text not in messages:
            raise UntranslatedFlowText(f"{text!r} has no {language} translation: make i18n")
        node[key] = tx(text)
    return result


def rendered(flow: dict[str, Any]) -> str:
    """The text a generated Flow JSON file holds."""
    return json.dumps(flow, ensure_ascii=False, indent=2) + "\n"


def generated() -> dict[Path, str]:
    """Each translated Flow JSON file and the text it must hold, from the source Flow."""
    source = json.loads(SOURCE_FLOW.read_text(encoding="utf-8"))
    return {flow_path(language): rendered(translated(source, language))
            for language in LANGUAGES if language != SOURCE}
