"""Training data hygiene: held-out NLU examples are never trained on (English and Indonesian);
every intent is trained in Indonesian too; synonyms follow the seed."""
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


def test_every_intent_has_twenty_five_indonesian_examples():
    english, indonesian = (examples(ROOT / "data" / f) for f in ("nlu.yml", "nlu_id.yml"))
    assert set(english) | {"switch_language"} == set(indonesian)
    assert {i: len(v) for i, v in indonesian.items() if len(v) < 25} == {}


def test_held_out_examples_are_never_in_the_training_data():
    training = set().union(*examples(ROOT / "data" / "nlu.yml").values(),
                           *examples(ROOT / "data" / "nlu_id.yml").values())
    held_out = examples(ROOT / "tests" / "nlu" / "holdout.yml")
    held_out_id = examples(ROOT / "tests" / "nlu" / "holdout_id.yml")
    assert REQUIRED_INTENTS | {"switch_language"} == set(held_out)
    assert set(examples(ROOT / "data" / "nlu_id.yml")) == set(held_out_id)
    assert {i: len(v) for i, v in held_out_id.items() if len(v) < 6} == {}
    assert set().union(*held_out.values(), *held_out_id.values()) & training == set()


def test_synonyms_match_the_seed_catalog():
    result = subprocess.run([sys.executable, "-m", "tools.gen_synonyms", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
