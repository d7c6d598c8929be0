"""WhatsApp Cloud API channel: ``parse`` webhooks, ``render`` responses, send through ``graph``
(errors typed in ``errors``), keep a durable ``inbox`` (retention in ``retention``), and the Rasa
channel in four parts: settings (``config``), the output channel (``output``), the per-customer
``worker`` and the routes (``channel``); the Flows endpoint's screens in ``flows``."""
