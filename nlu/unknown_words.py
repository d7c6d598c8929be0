"""A message none of whose words the model has ever seen is not understood, whatever DIET says.

DIET always answers with some intent, and for keyboard mashes its character n-grams land on the
shortest examples: "jsjsjs" came out as ``affirm`` at 0.72, which at a confirmation card would
book. This component sits between the classifier and Rasa's ``FallbackClassifier``: when a message
has words and none of them (nor a digit, a time or a code, nor a word one typo away from a known one) occurs in the
training data, it takes
the intent's confidence away, so the ``FallbackClassifier`` turns it into ``nlu_fallback`` ("Could
you say it another way?"). A message with one known word ("yess pls") is left to DIET.

The vocabulary is the lowercased words of the training examples, entity synonyms and lookup
tables, kept with the model.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

WORD = re.compile(r"[^\W\d_]+|\d", re.UNICODE)  # runs of letters; each digit on its own
FILE = "words.json"


def words_of(text: str) -> List[str]:
    """The lowercased words of ``text``; a digit counts as a (known) word of its own."""
    return WORD.findall(text.lower())


def deletions(word: str) -> set[str]:
    """``word`` with one letter left out, each way."""
    return {word[:i] + word[i + 1:] for i in range(len(word))}


def with_typos(vocabulary: set[str]) -> set[str]:
    """The vocabulary and each of its words of three letters or more with one letter left out:
    a typed word one slip away from a known one (an extra, missing, wrong or swapped letter:
    "yess", "bokk", "masage", "cancle") has one of its own deletions, or itself, in here."""
    return vocabulary | {d for w in vocabulary if len(w) >= 3 for d in deletions(w)}


def known(word: str, vocabulary: set[str], near: set[str]) -> bool:
    if word.isdigit() or word in vocabulary:
        return True
    return len(word) >= 3 and (word in near or bool(deletions(word) & near))


def unknown(text: str, vocabulary: set[str], near: set[str] | None = None) -> bool:
    """True when ``text`` has letters and not one of its words is in ``vocabulary`` or one
    slip of the keyboard away from a word in it."""
    if text.startswith("/"):  # a button payload: Rasa's own regex handler reads it
        return False
    near = with_typos(vocabulary) if near is None else near
    found = words_of(text)
    return bool(found) and not any(known(w, vocabulary, near) for w in found)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class UnknownWords(GraphComponent):
    """Takes the confidence away from messages made only of words never seen in training."""

    def __init__(self, storage: ModelStorage, resource: Resource, vocabulary: set[str]) -> None:
        self._storage, self._resource, self._vocabulary = storage, resource, vocabulary
        self._near = with_typos(vocabulary)

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "UnknownWords":
        return cls(model_storage, resource, set())

    @classmethod
    def load(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "UnknownWords":
        try:
            with model_storage.read_from(resource) as directory:
                vocabulary = set(json.loads((directory / FILE).read_text("utf-8")))
        except (ValueError, OSError):  # not trained (an NLU-less model): leave DIET alone
            vocabulary = set()
        return cls(model_storage, resource, vocabulary)

    def train(self, training_data: TrainingData) -> Resource:
        texts = [m.get("text") or "" for m in training_data.training_examples]
        texts += list(training_data.entity_synonyms) + list(training_data.entity_synonyms.values())
        for table in training_data.lookup_tables:
            elements = table.get("elements")
            texts += elements if isinstance(elements, list) else []
        vocabulary = {w for text in texts for w in words_of(str(text))}
        with self._storage.write_to(self._resource) as directory:
            (directory / FILE).write_text(json.dumps(sorted(vocabulary)), "utf-8")
        self._vocabulary, self._near = vocabulary, with_typos(vocabulary)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = message.get("intent")
            if (self._vocabulary and intent
                    and unknown(message.get("text") or "", self._vocabulary, self._near)):
                message.set("intent", {**intent, "confidence": 0.0}, add_to_output=True)
        return messages
