"""Seven fixes to Rasa 3.6 itself, applied when the Rasa server loads our channels.

1. An apology instead of silence. When the action server cannot be reached (or fails),
``RemoteAction.run`` raises, and Rasa's processor logs the error and carries on with the action's
events lost: the customer hears nothing. Here such a failure becomes one bot message saying so,
the domain's ``utter_technical_problem`` (the same words the actions use for their own errors;
the rest of the turn proceeds as Rasa would: usually to ``action_listen``), and the next message
is handled normally once the action server is back. A rejection (``ActionExecutionRejection``,
which forms use to hand back control) is not a failure and is passed on unchanged.

2. ``RemoteAction._validate_action_result`` validates every action server answer with
``jsonschema.validate``, which first re-checks the schema itself against the JSON Schema
2020-12 metaschema: with jsonschema 4.17 that costs tens of milliseconds of CPU on the event
loop per custom action (78 % of the loop's time in a py-spy profile of payment turns), delaying
every webhook acknowledgement queued behind it. Here the schema is checked once and its
validator reused; the validation of each answer and the error raised are unchanged.

3. One HTTP session per endpoint. ``EndpointConfig.request`` opens a new aiohttp session, and so
a new TCP connection, for every call: every custom action paid a connect and a session set-up
(12 % of the Rasa server's CPU under sustained load in a py-spy profile). Here each endpoint
keeps one session per event loop, with keep-alive connections. A kept connection is reused only
within ``IDLE_CONNECTION_SECONDS`` of its last answer, well inside the time the action server
keeps an idle connection open (``actions.server.KEEP_ALIVE_SECONDS``): otherwise a call could
be written to a connection the server was closing at that moment (aiohttp's "Can not write
request body", seen in CI with aiohttp's 15 s against Sanic's default 5 s).

4. Network waits do not hold a turn slot. A server runs only a few WhatsApp turns at once
(``WHATSAPP_MAX_CONCURRENT_TURNS``: turns are CPU on the event loop). The worker running a turn
puts its ``TurnSlot`` in the ``current_turn`` context variable; every ``EndpointConfig.request``
(the action server call, where Xendit invoice creation happens) and every Graph send
(``network_wait()``) gives the slot back while it waits and takes it again afterwards, so a
slow action or a rate-limited send does not stop other customers' turns.

5. A tracker that cannot be saved is an error, not a silent loss. ``Agent`` wraps every tracker
store in ``FailSafeTrackerStore``, which swallows a failed save (keeping the tracker in memory
only) and answers a failed load with a new, empty conversation. During a MongoDB outage a turn
then "succeeds", the WhatsApp inbox marks its message done, and the message is lost from the
conversation (CI's MongoDB-killed test caught one). A store that says it is ``durable`` (ours,
``channels.tracker_store``) is used unwrapped: its errors reach the channel, which runs the
message again once the database is back.

6. Event types looked up once. ``Event.resolve_by_type`` walks every subclass of ``Event``
(``all_subclasses``, with an ``inspect.isabstract`` per class) for every event it deserialises:
23 us each, some 35 per WhatsApp turn (the tracker's window and the action's answer), and in a
py-spy profile of a plain bot under load a quarter of its CPU. Here a type name found once is
remembered; one not found yet (or a class defined later) goes through Rasa's walk as before.

7. Graph runs without dask's scheduler. Every NLU parse and every action prediction runs the
model's graph through ``DaskGraphRunner.run``: it prunes the schema to the targets, builds a
dask graph and has dask order and execute it (synchronously, in the caller's thread), about a
tenth of a tap turn's CPU in the Rasa server for graphs of a dozen nodes. Here the pruned
schema's execution order is found once per set of targets, and the nodes are called in it
with their inputs exactly as dask would pass them: the same results, and the same
``GraphRunError`` for a ``RuntimeError``.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from typing import Any, AsyncIterator, Dict, List, Optional, Text

import aiohttp
from jsonschema import ValidationError, validators
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.agent import Agent
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import BotUttered, Event
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)
APOLOGY_RESPONSE = "utter_technical_problem"
APOLOGY = "Sorry, something went wrong on our side. Please try again in a moment."  # no domain
_validator: Any = None
IDLE_CONNECTION_SECONDS = 2.0  # below every server's keep-alive; the action server's is 30 s
_run = RemoteAction.run
_request = EndpointConfig.request


class TurnSlot:
    """One of a server's turn slots, held while a turn does CPU work (``async with``)."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self.slots = slots
        self.held = False

    async def __aenter__(self) -> "TurnSlot":
        await self.slots.acquire()
        self.held = True
        self._token = current_turn.set(self)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        current_turn.reset(self._token)
        if self.held:
            self.held = False
            self.slots.release()

    @contextlib.asynccontextmanager
    async def released(self) -> AsyncIterator[None]:
        """Give the slot back for the duration of a network wait, then take it again."""
        if not self.held:
            yield
            return
        self.held = False
        self.slots.release()
        try:
            yield
        finally:
            await self.slots.acquire()  # cancelled while waiting: not held, nothing to give
            self.held = True


current_turn: contextvars.ContextVar[Optional[TurnSlot]] = contextvars.ContextVar(
    "current_turn", default=None)


def network_wait() -> Any:
    """``async with network_wait():`` around a network call made during a turn."""
    slot = current_turn.get()
    return slot.released() if slot is not None else contextlib.nullcontext()


class _Kept:
    """``async with`` around a kept session: entering gives it, leaving leaves it open."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(self, *exc: Any) -> None:
        return None


def _kept_session(self: EndpointConfig) -> Any:
    loop = asyncio.get_running_loop()
    kept = getattr(self, "_kept_sessions", None)
    if kept is None:
        kept = self._kept_sessions = {}
    session = kept.get(loop)
    if session is None or session.closed:
        auth = (aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
                if self.basic_auth else None)  # Rasa's own session settings, and a short reuse
        session = kept[loop] = aiohttp.ClientSession(
            headers=self.headers, auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=IDLE_CONNECTION_SECONDS))
    return _Kept(session)


async def _run_or_apologise(self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any,
                            domain: Any) -> List[Event]:
    try:
        return await _run(self, output_channel, nlg, tracker, domain)
    except ActionExecutionRejection:
        raise
    except RasaException as exc:
        logger.error("custom action %s failed, the customer gets an apology: %s (%r)",
                     self.name(), exc, exc.__cause__)
        text = APOLOGY
        try:
            generated = await nlg.generate(APOLOGY_RESPONSE, tracker, output_channel.name())
            text = (generated or {}).get("text") or APOLOGY
        except Exception:  # the apology itself must not fail
            logger.exception("could not render %s", APOLOGY_RESPONSE)
        return [BotUttered(text, metadata={"action_failed": self.name()})]


async def _request_outside_the_slot(self: EndpointConfig, *args: Any, **kwargs: Any) -> Any:
    async with network_wait():
        return await _request(self, *args, **kwargs)


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    global _validator
    if _validator is None:
        schema = RemoteAction.action_response_format_spec()
        cls = validators.validator_for(schema)
        cls.check_schema(schema)
        _validator = cls(schema)
    try:
        _validator.validate(result)
        return True
    except ValidationError as e:
        e.message += (f". Failed to validate Action server response from API, make sure your "
                      f"response from the Action endpoint is valid. For more information about "
                      f"the format visit {DOCS_BASE_URL}/custom-actions")
        raise e


_create_tracker_store = Agent._create_tracker_store


def _durable_store_unwrapped(store: Any, domain: Any) -> Any:
    """Rasa's fail-safe wrapper, except around a store that is ``durable`` (see 5.)."""
    if getattr(store, "durable", False):
        store.domain = domain
        return store
    return _create_tracker_store(store, domain)


_resolve_by_type = Event.resolve_by_type
_event_types: Dict[Text, Any] = {}


def _resolve_by_type_once(type_name: Text, default: Optional[Any] = None) -> Optional[Any]:
    found = _event_types.get(type_name)
    if found is None:
        found = _resolve_by_type(type_name, default)  # ("topic": None, as Rasa answers)
        if found is not None and found is not default:
            _event_types[type_name] = found
    return found


_dask_run = DaskGraphRunner.run


def _execution_order(runner: DaskGraphRunner, targets: List[Text]) -> List[Any]:
    """(name, node, what it needs) for every node the targets need, each after its needs."""
    schema = runner._graph_schema.minimal_graph_schema(targets)
    order: List[Any] = []
    placed: set = set()

    def place(name: Text) -> None:
        if name in placed or name not in schema.nodes:  # (an input, or placed already)
            return
        placed.add(name)
        needs = tuple(schema.nodes[name].needs.values())
        for need in needs:
            place(need)
        order.append((name, runner._instantiated_nodes[name], needs))

    for name in schema.nodes:
        place(name)
    return order


def _run_in_order(self: DaskGraphRunner, inputs: Optional[Dict[Text, Any]] = None,
                  targets: Optional[List[Text]] = None) -> Dict[Text, Any]:
    run_targets = targets if targets else self._graph_schema.target_names
    plans = self.__dict__.setdefault("_execution_orders", {})
    plan = plans.get(tuple(run_targets))
    if plan is None:
        plan = plans[tuple(run_targets)] = _execution_order(self, run_targets)
    results: Dict[Text, Any] = {}
    for name, value in (inputs or {}).items():
        if isinstance(value, str) and (value in results or
                                       any(value == node for node, _, _ in plan)):
            raise GraphRunError(f"Input value '{value}' clashes with a node name. Make sure "
                                f"that none of the input names passed to the `run` method are "
                                f"the same as node names in the graph schema.")
        results[name] = (name, value)
    try:
        for name, node, needs in plan:  # (a need that is neither is passed as itself, and an
            if name not in results:     # input named like a node stands for it, as in dask)
                results[name] = node(*(results.get(need, need) for need in needs))
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e
    return dict(results[target] for target in run_targets)


DaskGraphRunner.run = _run_in_order  # type: ignore[assignment]
Event.resolve_by_type = staticmethod(_resolve_by_type_once)  # type: ignore[assignment]
RemoteAction._validate_action_result = _validate_action_result  # type: ignore[assignment]
Agent._create_tracker_store = staticmethod(_durable_store_unwrapped)  # type: ignore
RemoteAction.run = _run_or_apologise  # type: ignore[assignment]
EndpointConfig.session = _kept_session  # type: ignore[assignment]
EndpointConfig.request = _request_outside_the_slot  # type: ignore[assignment]
