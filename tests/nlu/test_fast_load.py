"""The trained model loads through ``nlu.fast_load`` (weights built eagerly, every one restored
from the checkpoint) and then predicts with the compiled graph, as Rasa's own load does."""
from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e  # needs the trained model (`make test` trains first)


def test_the_model_loads_every_weight_and_predicts_compiled():
    import tensorflow as tf
    from rasa.core.agent import Agent
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier

    from nlu import fast_load

    model_file = ROOT / "models" / "assistant.tar.gz"
    if not model_file.exists():
        pytest.fail("no trained model: run through `make test`, which trains first")
    agent = Agent.load(str(model_file))
    [diet] = [node._component for node in agent.processor.graph_runner._instantiated_nodes
              .values() if isinstance(node._component, DIETClassifier)]
    model = diet.model
    # the load went through the eager build (Rasa's traces a compiled training step) ...
    assert fast_load.installed() and not isinstance(model.train_function, tf.types.experimental
                                                     .GenericFunction)
    # ... and prediction is compiled, traced once at load
    assert model.run_eagerly is False and model._tf_predict_step is not None

    async def parse(text: str) -> dict:
        return await agent.parse_message(text)

    booked = asyncio.run(parse("I'd like a balinese massage tomorrow at 3pm"))
    assert booked["intent"]["name"] == "book_service" and booked["intent"]["confidence"] > 0.9
    assert asyncio.run(parse("cancel my booking"))["intent"]["name"] == "cancel_booking"
