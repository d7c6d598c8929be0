"""The booking Flow JSON is structurally valid for WhatsApp."""
from __future__ import annotations

import json

from tests.conftest import ROOT

FLOW = json.loads((ROOT / "flows" / "booking_flow.json").read_text())
LABEL_LIMITS = {"Dropdown": 20, "TextInput": 20, "TextArea": 20, "DatePicker": 40}


def test_routing_model_matches_the_screens_and_only_goes_forward():
    screens = [s["id"] for s in FLOW["screens"]]
    routing = FLOW["routing_model"]
    assert len(set(screens)) == len(screens) and "SUCCESS" not in screens
    assert set(routing) == set(screens)
    assert all(target in screens for targets in routing.values() for target in targets)
    assert sum(len(t) for t in routing.values()) <= 10
    order = {s: i for i, s in enumerate(screens)}  # forward edges only: no cycles
    assert all(order[t] > order[s] for s, targets in routing.items() for t in targets)
    assert FLOW["data_api_version"] == "3.0"


def test_components_fit_their_limits():
    for screen in FLOW["screens"]:
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


def test_terminal_screens_have_a_footer_and_the_last_screen_is_terminal():
    for screen in FLOW["screens"]:
        if screen.get("terminal"):
            assert any(c["type"] == "Footer" for c in screen["layout"]["children"])
    assert FLOW["screens"][-1].get("terminal") is True


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
