"""The booking Flow JSON, English and each generated language, is structurally valid for
WhatsApp (booking/flow_form.py, tools/flow_json.py)."""
from __future__ import annotations

import json

import pytest

from booking.flow_form import (FLOW_ID_ENV, MESSAGES, UntranslatedFlowText, flow_id, flow_path,
                               generated, rendered, static_texts, translated)
from booking.i18n import LANGUAGES, SOURCE
from tests.conftest import ROOT

SOURCE_FLOW = json.loads((ROOT / "flows" / "booking_flow.json").read_text())
INDONESIAN_FLOW = json.loads((ROOT / "flows" / "booking_flow.id.json").read_text())
LABEL_LIMITS = {"Dropdown": 20, "TextInput": 20, "TextArea": 20, "DatePicker": 40, "Footer": 35}
TITLE_LIMIT = 30
each_flow = pytest.mark.parametrize("flow", [SOURCE_FLOW, INDONESIAN_FLOW], ids=["en", "id"])


@each_flow
def test_routing_model_matches_the_screens_and_only_goes_forward(flow):
    screens = [s["id"] for s in flow["screens"]]
    routing = flow["routing_model"]
    assert len(set(screens)) == len(screens) and "SUCCESS" not in screens
    assert set(routing) == set(screens)
    assert all(target in screens for targets in routing.values() for target in targets)
    assert sum(len(t) for t in routing.values()) <= 10
    order = {s: i for i, s in enumerate(screens)}  # forward edges only: no cycles
    assert all(order[t] > order[s] for s, targets in routing.items() for t in targets)
    assert flow["data_api_version"] == "3.0"


@each_flow
def test_components_fit_their_limits(flow):
    for screen in flow["screens"]:
        assert 0 < len(screen["title"]) <= TITLE_LIMIT, screen["title"]
        children = screen["layout"]["children"]
        assert len(children) <= 50
        for child in children:
            if child["type"] in LABEL_LIMITS:
                assert len(child["label"]) <= LABEL_LIMITS[child["type"]], child
            if child["type"] == "Footer":
                assert child["on-click-action"]["name"] in {"data_exchange", "complete"}
        data_refs = json.dumps(children)
        for name in screen.get("data", {}):
            assert f"${{data.{name}}}" in data_refs, f"{screen['id']}.{name} is never used"


@each_flow
def test_terminal_screens_have_a_footer_and_the_last_screen_is_terminal(flow):
    for screen in flow["screens"]:
        if screen.get("terminal"):
            assert any(c["type"] == "Footer" for c in screen["layout"]["children"])
    assert flow["screens"][-1].get("terminal") is True


def test_the_indonesian_flow_is_exactly_what_the_generator_makes_of_the_english_one():
    path = ROOT / "flows" / "booking_flow.id.json"
    assert flow_path("id") == path and flow_path(SOURCE) == ROOT / "flows" / "booking_flow.json"
    assert set(generated()) == {flow_path(lang) for lang in LANGUAGES if lang != SOURCE}
    assert path.read_text(encoding="utf-8") == generated()[path] == rendered(
        translated(SOURCE_FLOW, "id")), "run `make flows`"
    for english, indonesian in zip(SOURCE_FLOW["screens"], INDONESIAN_FLOW["screens"]):
        assert indonesian["title"] != english["title"], english["title"]
        assert indonesian["id"] == english["id"] and indonesian["data"] == english["data"]
    assert INDONESIAN_FLOW["screens"][0]["title"] == "Pilih perawatan"
    labels = [c.get("label") for c in INDONESIAN_FLOW["screens"][0]["layout"]["children"]]
    assert labels == ["Perawatan", "Lanjut"]


def test_every_static_text_of_the_flow_is_a_catalog_message_and_nothing_else_changes():
    texts = {node[key] for node, key in static_texts(SOURCE_FLOW["screens"])}
    assert texts == set(MESSAGES)  # each listed for `make i18n`, none left over
    assert "${data.summary}" in json.dumps(INDONESIAN_FLOW)  # the endpoint's texts stay data
    assert translated(SOURCE_FLOW, SOURCE) == SOURCE_FLOW


def test_a_new_text_in_the_english_flow_stops_the_generation():
    changed = json.loads(json.dumps(SOURCE_FLOW))
    changed["screens"][0]["title"] = "Pick something"
    with pytest.raises(UntranslatedFlowText, match="Pick something"):
        translated(changed, "id")


def test_the_generator_check_passes_on_the_files_as_kept():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "tools.flow_json", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_each_language_gets_its_own_published_flow_or_the_english_one():
    both = {"WHATSAPP_FLOW_ID": "111", "WHATSAPP_FLOW_ID_ID": "222"}
    assert FLOW_ID_ENV == {"en": "WHATSAPP_FLOW_ID", "id": "WHATSAPP_FLOW_ID_ID"}
    assert (flow_id("en", both), flow_id("id", both), flow_id(None, both)) == ("111", "222",
                                                                               "111")
    english_only = {"WHATSAPP_FLOW_ID": "111", "WHATSAPP_FLOW_ID_ID": ""}
    assert flow_id("id", english_only) == "111"
    assert flow_id("en", {}) is None and flow_id("id", {"WHATSAPP_FLOW_ID_ID": "222"}) == "222"


def test_flows_keys_writes_a_private_key_the_endpoint_loads(tmp_path):
    import os
    import subprocess
    import sys

    from channels.whatsapp.flows_crypto import load_private_key

    out = tmp_path / "k.pem"
    result = subprocess.run([sys.executable, "-m", "tools.flows_keys", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    assert "BEGIN PUBLIC KEY" in result.stdout and "whatsapp_business_encryption" in result.stdout
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    assert load_private_key(out.read_bytes()).key_size == 2048
    again = subprocess.run([sys.executable, "-m", "tools.flows_keys", "--out", str(out)],
                           cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 1  # never overwrites a key by accident
