"""The cached action-answer validation behaves like Rasa's own."""
from __future__ import annotations

import asyncio

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

import channels.rasa_patches  # noqa: F401


def test_valid_answers_pass_and_invalid_ones_are_refused_as_before():
    action = RemoteAction("action_x", None)
    assert action._validate_action_result({"events": [{"event": "slot", "name": "a",
                                                       "value": 1}], "responses": []})
    for bad in ({"events": "nope"}, {"responses": [1]}, {"events": [{"event": 5}]}):
        with pytest.raises(ValidationError) as info:
            action._validate_action_result(bad)
        assert "Failed to validate Action server response" in info.value.message


class _ActionServer:
    """A local action server answering every call with one status and body."""

    def __init__(self, status: int, body: dict) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        peers = self.peers = set()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                peers.add(self.client_address)
                self.rfile.read(int(self.headers.get("content-length") or 0))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def _run(url: str, endpoint=None):
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig

    action = RemoteAction("action_book", endpoint or EndpointConfig(url))
    return await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}),
                            DialogueStateTracker("62811", []), Domain.empty())


def test_an_unreachable_action_server_gives_an_apology_not_silence():
    from tools.mongod import free_port

    events = asyncio.run(_run(f"http://127.0.0.1:{free_port()}/webhook"))  # nothing listens there
    assert [e.text for e in events] == [channels.rasa_patches.APOLOGY]
    assert events[0].metadata == {"action_failed": "action_book"}


def test_a_failing_action_server_gives_an_apology_and_a_rejection_passes():
    from rasa.core.actions.action import ActionExecutionRejection

    failing = _ActionServer(500, {"error": "boom"})
    rejecting = _ActionServer(400, {"action_name": "action_book", "error": "not now"})
    working = _ActionServer(200, {"events": [], "responses": [{"text": "Booked"}]})
    try:
        assert [e.text for e in asyncio.run(_run(failing.url))] == [channels.rasa_patches.APOLOGY]
        with pytest.raises(ActionExecutionRejection):
            asyncio.run(_run(rejecting.url))
        assert [e.text for e in asyncio.run(_run(working.url))] == ["Booked"]
    finally:
        for server in (failing, rejecting, working):
            server.close()


def test_action_calls_reuse_one_connection():
    from rasa.utils.endpoints import EndpointConfig

    server = _ActionServer(200, {"events": [], "responses": [{"text": "Hello"}]})
    endpoint = EndpointConfig(server.url)

    async def three_turns():
        return [await _run(server.url, endpoint) for _ in range(3)]

    try:
        answers = asyncio.run(three_turns())
    finally:
        server.close()
    assert [[e.text for e in events] for events in answers] == [["Hello"]] * 3
    assert len(server.peers) == 1  # one keep-alive connection, not one per call


class _SlowActionServer:
    """An action server whose answers wait until ``go`` is set; ``called`` is set on arrival."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.called, self.go = threading.Event(), threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                server.called.set()
                server.go.wait(30)
                raw = json.dumps({"events": [], "responses": [{"text": "Invoice ready"}]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhook"

    def close(self) -> None:
        self.go.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_slow_action_gives_its_turn_slot_to_other_customers():
    """One turn slot: while customer A's action waits on the action server (say, Xendit
    creating an invoice), customer B's turn runs; A gets the slot back for the rest."""
    from channels.rasa_patches import TurnSlot, current_turn

    slow = _SlowActionServer()

    async def scenario() -> list[str]:
        slots = asyncio.Semaphore(1)
        order: list[str] = []

        async def turn_a() -> None:
            async with TurnSlot(slots) as slot:
                events = await _run(slow.url)
                assert slot.held and current_turn.get() is slot  # taken again afterwards
                order.append("A: " + events[0].text)

        async def turn_b() -> None:
            async with TurnSlot(slots):
                order.append("B ran")

        a = asyncio.create_task(turn_a())
        await asyncio.to_thread(slow.called.wait, 30)  # A is waiting on the action server
        try:
            await asyncio.wait_for(turn_b(), 10)
        finally:
            slow.go.set()
        await a
        assert current_turn.get() is None and not slots.locked()
        return order

    try:
        assert asyncio.run(scenario()) == ["B ran", "A: Invoice ready"]
    finally:
        slow.close()


def test_a_kept_connection_is_reused_only_while_the_action_server_still_keeps_it():
    # CI once failed a turn with "Can not write request body": aiohttp reused a connection 15 s
    # idle that Sanic (5 s by default) was closing at that moment
    from rasa.utils.endpoints import EndpointConfig

    from actions.server import KEEP_ALIVE_SECONDS
    from channels.rasa_patches import IDLE_CONNECTION_SECONDS

    async def kept_connector():
        endpoint = EndpointConfig("http://127.0.0.1:1/webhook", basic_auth={
            "username": "u", "password": "p"})
        async with endpoint.session() as session:
            assert session.auth is not None and not session.closed
        idle = session.connector.__dict__["_keepalive_timeout"]
        await session.close()
        return idle

    idle = asyncio.run(kept_connector())
    assert idle == IDLE_CONNECTION_SECONDS <= KEEP_ALIVE_SECONDS / 5


def test_event_types_are_looked_up_once_and_unknown_ones_as_rasa_does():
    import channels.rasa_patches as patches
    from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered

    patches._event_types.clear()
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.resolve_by_type("action") is ActionExecuted
    assert patches._event_types == {"user": UserUttered, "action": ActionExecuted}
    assert Event.resolve_by_type("user") is UserUttered  # from what was found
    assert Event.from_parameters({"event": "slot", "name": "service", "value": "x"}) == \
        SlotSet("service", "x")
    assert Event.resolve_by_type("topic") is None  # Rasa's old TopicSet: nothing
    assert Event.resolve_by_type("nope", default=SlotSet) is SlotSet
    assert "nope" not in patches._event_types
    with pytest.raises(ValueError, match="Unknown event name 'nope'"):
        Event.resolve_by_type("nope")


def test_a_graph_runs_in_order_without_dask_with_dask_s_results_and_errors(tmp_path):
    from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode
    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.engine.storage.local_model_storage import LocalModelStorage

    import channels.rasa_patches as patches

    calls: list[str] = []

    class Step(GraphComponent):
        @classmethod
        def create(cls, config, model_storage, resource, execution_context):  # noqa: ANN
            return cls(config)

        def __init__(self, config: dict) -> None:
            self.name = config["name"]

        def run(self, **parts: object) -> str:
            calls.append(self.name)
            if self.name == "broken":
                raise ValueError("broken")
            return f"{self.name}({','.join(f'{k}={v}' for k, v in sorted(parts.items()))})"

    def node(name: str, target: bool = False, **needs: str) -> SchemaNode:
        return SchemaNode(needs=needs, uses=Step, constructor_name="create", fn="run",
                          config={"name": name}, is_target=target)

    schema = GraphSchema({"a": node("a", x="__message__"), "b": node("b", p="a"),
                          "c": node("c", True, p="a", q="b"), "lonely": node("lonely"),
                          "broken": node("broken", p="a")})
    runner = DaskGraphRunner(schema, LocalModelStorage(tmp_path), ExecutionContext(schema, "m"))

    def both(inputs: dict, targets: object) -> list:
        outcomes = []
        for run in (patches._dask_run, DaskGraphRunner.run):
            calls.clear()
            try:
                outcomes.append((run(runner, inputs, targets), sorted(calls)))
            except Exception as exc:  # the same kind of failure, after the same calls
                outcomes.append((type(exc), sorted(calls)))
        return outcomes

    message = {"__message__": "hi"}
    for targets in (None, ["b"], ["c", "lonely"], ["lonely"], ["a", "c"]):
        dask, ours = both(message, targets)
        assert ours == dask, targets
    assert both(message, None)[1] == ({"c": "c(p=a(x=hi),q=b(p=a(x=hi)))"}, ["a", "b", "c"])
    dask, ours = both(message, ["broken", "c"])  # the same error (the order of the nodes
    assert ours[0] is dask[0] is not GraphRunError  # that ran before it may differ)
    assert "broken" in ours[1] and issubclass(ours[0], Exception)
    assert both({"__message__": "a"}, ["c"]) == [(GraphRunError, [])] * 2  # a clash
    dask, ours = both({**message, "b": "given"}, ["c"])  # an input standing for a node
    assert ours == dask == ({"c": "c(p=a(x=hi),q=given)"}, ["a", "c"])
    assert list(runner._execution_orders) == [("c",), ("b",), ("c", "lonely"), ("lonely",),
                                              ("a", "c"), ("broken", "c")]  # each found once
