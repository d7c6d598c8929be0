"""The message catalogs: every message the code says exists in every language, and days, times
and money are written each language's way (booking/i18n.py)."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from babel.messages.pofile import read_po

from booking.i18n import LANGUAGES, LOCALE_DIR, SOURCE, Texts, catalog, texts

ROOT = Path(__file__).resolve().parents[2]
BALI = ZoneInfo("Asia/Makassar")
PLACEHOLDER = re.compile(r"{(\w*)}")
# Titles of buttons and list rows (WhatsApp: 20 characters; the renderer would cut them).
BUTTONS = ("Today", "Tomorrow", "Another day", "Later times ▸", "Book a treatment", "My bookings",
           "Talk to a person", "Confirm", "Change time", "Pick another time", "Another treatment",
           "Reschedule", "Cancel a booking", "Book another", "Yes, cancel it", "No, keep it",
           "Book another time", "Book it", "Pay again", "Book again", "Carry on booking",
           "Booking form", "Pay now", "Choose")


@pytest.fixture(scope="module")
def said(tmp_path_factory) -> set[str]:
    """What the code says, extracted as `make i18n` does."""
    out = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F",
                    "babel.cfg", "-k", "t", "-k", "tx", "-k", "N_", "--no-location", "-o",
                    str(out), "."], cwd=ROOT, check=True)
    with out.open("rb") as handle:
        return {m.id for m in read_po(handle) if m.id}


def po(language: str):
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != SOURCE])
def test_every_message_the_code_says_is_translated(said, language):
    entries = {m.id: m for m in po(language) if m.id}
    missing = sorted(said - {i for i, m in entries.items() if m.string and not m.fuzzy})
    assert not missing, f"not in the {language} catalog (run `make i18n`, translate): {missing}"
    assert not sorted(set(entries) - said), "the catalog has messages nobody says: make i18n"


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != SOURCE])
def test_translations_keep_their_placeholders_and_fit_the_buttons(language):
    for message in po(language):
        if not message.id or not message.string:
            continue
        assert sorted(PLACEHOLDER.findall(message.id)) == sorted(
            PLACEHOLDER.findall(message.string)), (message.id, message.string)
        message.string.format(**{k: "x" for k in PLACEHOLDER.findall(message.id)})
    for title in BUTTONS:
        assert 0 < len(texts(language)(title)) <= 20, (title, texts(language)(title))


def test_the_domains_own_response_is_the_catalogs_in_each_language():
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    for name, variations in domain["responses"].items():
        by_language = {}
        for variation in variations:
            condition = {c["name"]: c["value"] for c in variation.get("condition") or []}
            by_language[condition.get("language", SOURCE)] = variation["text"]
        assert set(by_language) == set(LANGUAGES), name
        for language, text in by_language.items():
            assert text == texts(language)(by_language[SOURCE]), (name, language)


def test_days_times_and_money_are_written_each_languages_way():
    moment = datetime(2026, 12, 4, 7, 0, tzinfo=timezone.utc)  # Friday 15:00 in Bali
    en, id_ = texts("en"), texts("id")
    assert en.moment(moment, BALI) == "Fri 4 Dec, 15:00"
    assert id_.moment(moment, BALI) == "Jum, 4 Des, 15.00"
    assert (en.clock(moment, BALI), id_.clock(moment, BALI)) == ("15:00", "15.00")
    assert (en.day(date(2026, 12, 4)), id_.day(date(2026, 12, 4))) == ("Fri 4 Dec",
                                                                      "Jum, 4 Des")
    assert en.money(350000) == id_.money(350000) == "Rp350.000"
    assert id_.full_day(date(2026, 12, 4)) == "Jumat, 4 Desember 2026"
    assert id_.weekday(date(2026, 12, 4)) == "Jumat"


def test_a_message_without_translation_is_said_in_english_and_never_breaks():
    assert texts("id")("A sentence nobody translated {x}", x=1) == "A sentence nobody translated 1"
    assert texts("xx").language == SOURCE and texts(None).language == SOURCE
    broken = Texts("id")
    broken._messages = {"Booked {code}": "Dipesan {kode}"}  # a translator renamed it
    assert broken("Booked {code}", code="BK1") == "Booked BK1"
    assert catalog(SOURCE) == {}


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != SOURCE])
def test_the_seed_catalog_names_every_treatment_in_each_language(seed_catalog, language):
    """Every seed treatment and category has its name in each language (a list row title: 24
    characters), and a customer who types that name gets that treatment."""
    from booking.names import find_service, mentioned_service

    for category in seed_catalog.categories.values():
        assert category.name_in(language) != category.name, category.id
    for business in seed_catalog.businesses.values():
        services = seed_catalog.services_of(business.id)
        for service in services:
            name = service.name_in(language)
            assert 0 < len(name) <= 24 and (name != service.name or name == "Creambath"), name
            if service.description:
                assert service.description_in(language) != service.description, service.id
            assert find_service(services, name.lower()) == service, name
            assert mentioned_service(services, f"mau {name.lower()} dong")[0] == service, name
