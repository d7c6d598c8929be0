"""Loading the trained model in 12 s instead of 68 s: DIET's weights are built without tracing.

Rasa 3.6 (``RasaModel.load``) creates an empty DIET, trains it on one example to create its
weights (the layers and Adam's slots) and then overwrites them all from the checkpoint. That one
training step runs as a compiled ``tf.function``: tracing the whole training graph took about 56
of the 68 s of every start of a Rasa server on this machine (cProfile), which every restart,
every ``make run`` and every end-to-end test stack paid.

Here the same step runs eagerly: the same variables are created and every one of them is then
restored from the checkpoint, which is checked (``assert_consumed``: each saved value went into a
variable and each variable got a saved value, or the load fails loudly). Prediction is unchanged:
after the load the model is switched back to the configured mode (compiled, by default) and
traced once on an example, as Rasa does. The 135 held-out messages get the same intents,
confidences and entities either way (measured; ``tests/nlu/test_fast_load.py`` checks the load).

Fine-tuning (``rasa train --finetune``) keeps Rasa's own path, which also restores the optimizer
for further training. Applied by importing ``nlu`` (``nlu/__init__.py``), which every load of our
model does: the pipeline names ``nlu.unknown_words.UnknownWords``.
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Text

import tensorflow as tf
from rasa.utils.tensorflow import models
from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator
from rasa.utils.tensorflow.model_data import RasaModelData

logger = logging.getLogger(__name__)
_rasa_load = models.RasaModel.load.__func__  # type: ignore[attr-defined]


def _load(cls: Any, model_file_name: Text, model_data_example: RasaModelData,
          predict_data_example: Optional[RasaModelData] = None, finetune_mode: bool = False,
          *args: Any, **kwargs: Any) -> models.RasaModel:
    if finetune_mode:
        return _rasa_load(cls, model_file_name, model_data_example, predict_data_example,
                          finetune_mode, *args, **kwargs)
    config = kwargs.get("config", {})
    model = cls(*args, **kwargs)
    model.compile(optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
                  run_eagerly=True)  # build the weights without tracing the training graph
    model.fit(RasaBatchDataGenerator(model_data_example, batch_size=1), verbose=False)
    model.load_weights(model_file_name).assert_consumed()
    model.run_eagerly = bool(config.get(RUN_EAGERLY))
    if predict_data_example:
        model.run_inference(predict_data_example)  # trace prediction once, as Rasa does
    return model


def install() -> None:
    """Use the eager build for every later model load (idempotent); only on the Rasa it was
    written against (a copy of 3.6's ``RasaModel.load``), else Rasa's own load, with a warning."""
    import rasa

    if not rasa.__version__.startswith("3.6."):
        logger.warning("Rasa %s: the model loads the slow way (nlu/fast_load.py is for 3.6)",
                       rasa.__version__)
        return
    models.RasaModel.load = classmethod(_load)  # type: ignore[assignment]


def installed() -> bool:
    """Whether model loads go through the eager build."""
    return getattr(models.RasaModel.load, "__func__", None) is _load
