"""Our own parts of the NLU pipeline (config.yml), loaded by Rasa with the model.

Importing the package also makes loading the model fast (``nlu.fast_load``): every process that
loads our model imports it, because the pipeline names ``nlu.unknown_words.UnknownWords``.
"""
from nlu import fast_load

fast_load.install()
