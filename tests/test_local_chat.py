"""The local channels' own rules: signed socket.io sessions, and PRODUCTION turning REST and
socket.io off (their routes are not served at all)."""
from __future__ import annotations

import pytest

from channels.local_chat import LocalRestInput, LocalSocketIOInput, SessionTokens


def test_only_tokens_this_server_signed_name_a_session():
    tokens = SessionTokens("secret")
    token = tokens.issue()
    session = tokens.session_of(token)
    assert session and token.startswith(session + ".")
    assert SessionTokens("secret").session_of(token) == session  # survives a restart
    assert SessionTokens("other").session_of(token) is None
    for forged in (session, session + ".00", token + "x", "6281234567890", "", None, 12,
                   ["a.b"], "é.é", "a.b.c", token.replace(session, "0" * 32)):
        assert tokens.session_of(forged) is None, forged


def routes(channel) -> list:
    return list(channel.blueprint(lambda message: None)._future_routes)


@pytest.mark.parametrize("channel", [LocalRestInput, LocalSocketIOInput])
def test_production_turns_the_local_channels_off(channel, monkeypatch):
    assert routes(channel())  # on for local use
    monkeypatch.setenv("PRODUCTION", "1")
    assert routes(channel()) == []
