"""Training data hygiene: held-out NLU examples are never trained on; synonyms follow the seed."""
from __future__ import annotations

import re
import subprocess
import sys

import yaml

from tests.conftest import ROOT

REQUIRED_INTENTS = {"greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "book_service",
                    "check_availability", "ask_services", "ask_price", "my_bookings",
                    "cancel_booking", "reschedule_booking", "human_handoff", "out_of_scope"}


def examples(path) -> dict[str, set[str]]:
    """Intent -> plain example texts (entity annotations removed, lowercased)."""
    found: dict[str, set[str]] = {}
    for block in yaml.safe_load(path.read_text()).get("nlu", []):
        if "intent" not in block:
            continue
        for line in block["examples"].splitlines():
            text = re.sub(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})", r"\1", line.strip()[2:])
            found.setdefault(block["intent"], set()).add(text.lower().strip())
    return found


def test_every_required_intent_has_twenty_varied_examples():
    training = examples(ROOT / "data" / "nlu.yml")
    assert REQUIRED_INTENTS <= set(training)
    assert {i: len(training[i]) for i in REQUIRED_INTENTS if len(training[i]) < 20} == {}


def test_held_out_examples_are_never_in_the_training_data():
    training = set().union(*examples(ROOT / "data" / "nlu.yml").values())
    held_out = examples(ROOT / "tests" / "nlu" / "holdout.yml")
    assert REQUIRED_INTENTS == set(held_out)
    assert set().union(*held_out.values()) & training == set()


def test_synonyms_match_the_seed_catalog():
    result = subprocess.run([sys.executable, "-m", "tools.gen_synonyms", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
