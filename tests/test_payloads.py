"""A tapped payload is parsed as Rasa's own regex handler would, without the NLU pipeline;
anything that is no payload of the domain goes through NLU as before."""
from __future__ import annotations

from rasa.shared.core.domain import Domain

from channels.payloads import payload_parse_data
from tests.conftest import ROOT

DOMAIN = Domain.load(str(ROOT / "domain.yml"))


def test_a_payload_of_the_domain_is_its_intent_and_entities_at_full_confidence():
    parsed = payload_parse_data('/choose_slot{"slot_time":"2026-11-25T07:00:00+00:00"}', DOMAIN)
    assert parsed["intent"] == {"name": "choose_slot", "confidence": 1.0}
    assert [(e["entity"], e["value"]) for e in parsed["entities"]] == [
        ("slot_time", "2026-11-25T07:00:00+00:00")]
    assert parsed["text"].startswith("/choose_slot")
    assert payload_parse_data("/my_bookings", DOMAIN)["intent"]["name"] == "my_bookings"


def test_anything_else_is_left_to_nlu():
    assert payload_parse_data("hello there", DOMAIN) is None
    assert payload_parse_data("/no_such_intent", DOMAIN) is None
    # a broken or foreign entity is dropped, as Rasa's handler drops it: the intent stands
    for broken in ('/choose_slot{"slot_time": ', '/choose_slot{"nope":"x"}'):
        assert payload_parse_data(broken, DOMAIN)["entities"] == []
    assert payload_parse_data("/my_bookings", None) is None  # no agent loaded yet
