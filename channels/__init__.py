"""Rasa input/output channels (WhatsApp Cloud API arrives with its own issue)."""
