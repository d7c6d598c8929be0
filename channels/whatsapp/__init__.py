"""WhatsApp Cloud API channel: parse webhooks, render responses, send through Graph, keep a
durable inbox, and the Rasa input/output channel that ties them together."""
