"""A tapped button's payload (``/intent{"entity": "value"}``) parsed without the NLU pipeline.

Rasa 3.6 runs every NLU component on a message before its ``RegexMessageHandler`` replaces the
result with the payload's intent and entities, so a tap costs the tokenizers, featurizers and
classifiers of a typed sentence for nothing. The channel parses a payload here, with the very
function the handler uses and the domain's intents and entities, and passes the result with
the ``UserMessage`` (``parse_data``), which Rasa then takes as the parse. A payload naming no
domain intent, or not in the payload format, gets ``None``: the message goes through NLU as
before (and is read as the text it is).
"""
from __future__ import annotations

from typing import Any, Optional

from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

EXTRACTOR = "RegexMessageHandler"  # what Rasa's own handler names the entities' extractor


def payload_parse_data(text: str, domain: Any) -> Optional[dict[str, Any]]:
    """The parse of a payload for ``domain`` (a Rasa ``Domain``), or ``None`` when ``text`` is
    no payload of it (or there is no domain yet)."""
    if domain is None or not text.startswith("/"):
        return None
    message = Message(data={TEXT: text})
    parsed = YAMLStoryReader.unpack_regex_message(message, domain, EXTRACTOR)
    if parsed is message:
        return None
    return parsed.as_dict(only_output_properties=True)
