"""Custom actions of the assistant: thin adapters from Rasa trackers to the booking core."""
