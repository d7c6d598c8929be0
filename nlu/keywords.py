"""WhatsApp's opt-out words, read as such whatever DIET says: a message that is only "STOP"
(or "unsubscribe", "berhenti") is ``opt_out``, only "START" (or "subscribe", "mulai") is
``opt_in``. These are conventions people rely on, not language to learn: a keyword never
depends on the model, and the model is never trained on them. It runs after Rasa's
``FallbackClassifier``, so a keyword is never turned into a fallback.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message

KEYWORDS = {"stop": "opt_out", "unsubscribe": "opt_out", "berhenti": "opt_out",
            "start": "opt_in", "subscribe": "opt_in", "mulai": "opt_in"}


def keyword_intent(text: str) -> Optional[str]:
    """The intent a message that is only a keyword stands for ("STOP", " stop! "), else None."""
    word = re.sub(r"[\s.!]+", " ", text or "").strip().lower()
    return KEYWORDS.get(word)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class Keywords(GraphComponent):
    """Sets ``opt_out`` / ``opt_in`` for a message that is only such a keyword."""

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "Keywords":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = keyword_intent(message.get("text") or "")
            if intent:
                ranking = {"name": intent, "confidence": 1.0}
                message.set("intent", ranking, add_to_output=True)
                message.set("intent_ranking", [ranking], add_to_output=True)
        return messages
