"""Placeholder: being written."""
from sanic import Sanic


def register(app: Sanic) -> None:
    """The routes of this module."""
