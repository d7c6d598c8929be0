"""The cached action-answer validation behaves like Rasa's own."""
from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

import channels.rasa_patches  # noqa: F401


def test_valid_answers_pass_and_invalid_ones_are_refused_as_before():
    action = RemoteAction("action_x", None)
    assert action._validate_action_result({"events": [{"event": "slot", "name": "a",
                                                       "value": 1}], "responses": []})
    for bad in ({"events": "nope"}, {"responses": [1]}, {"events": [{"event": 5}]}):
        with pytest.raises(ValidationError) as info:
            action._validate_action_result(bad)
        assert "Failed to validate Action server response" in info.value.message
