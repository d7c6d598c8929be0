"""Xendit payments on the Rasa server (callbacks, receipts, payment news)."""
