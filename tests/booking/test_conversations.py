"""The conversation state machine (bot → waiting → human → bot) on a real mongod: every move,
every refused move, and the races the console meets."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from booking.conversations import (ASKED, BOT, ECHO, ECHO_AGENT, FAILURE, FALLBACKS, HUMAN, IDLE,
                                   WAITING, AlreadyTakenError, ChangedError, Conversations,
                                   NotYoursError)
from booking.errors import UnknownEntityError
from booking.handoff import NotOnWhatsAppError, OutsideWindowError, TeamDesk

SPA, SALON = "ubud-serenity-spa", "canggu-glow-salon"
AYU = "6281234500001"


@pytest.fixture
def convs(db, clock) -> Conversations:
    conversations = Conversations(db, clock, idle=timedelta(hours=12))
    conversations.ensure_indexes()
    return conversations


def wrote(convs: Conversations, text: str = "hello", who: str = AYU, business: str = SPA):
    return convs.customer_wrote(business, who, "whatsapp", "PNID", "Ayu", text)


def test_a_customer_message_opens_a_bot_conversation_and_keeps_the_window(convs, clock):
    first = wrote(convs, "hi")
    assert (first.state, first.version, first.customer_name, first.last_text) == (BOT, 0, "Ayu", "hi")
    assert first.window_open(clock())
    assert not first.window_open(clock() + timedelta(hours=24, seconds=1))
    again = wrote(convs, "$where: 1")  # stored as text, never as an operator
    assert (again.id, again.last_text) == (first.id, "$where: 1")


def test_flag_moves_bot_to_waiting_once_and_keeps_the_first_wait(convs, clock):
    wrote(convs)
    flagged = convs.flag(SPA, AYU, ASKED)
    assert (flagged.state, flagged.reason, flagged.version) == (WAITING, ASKED, 1)
    clock.now += timedelta(minutes=5)
    again = convs.flag(SPA, AYU, FALLBACKS)  # already waiting: unchanged
    assert (again.state, again.reason, again.version) == (WAITING, ASKED, 1)
    assert again.waited(clock()) == timedelta(minutes=5)
    with pytest.raises(ValueError):
        convs.flag(SPA, AYU, "because")


def test_flag_without_any_message_creates_the_conversation(convs):
    flagged = convs.flag(SPA, "rest:me", FAILURE, channel="rest")
    assert (flagged.state, flagged.channel, flagged.customer_id) == (WAITING, "rest", "rest:me")


def test_take_is_a_compare_and_swap_on_the_version(convs):
    wrote(convs)
    waiting = convs.flag(SPA, AYU, ASKED)
    taken = convs.take(SPA, waiting.id, "made", waiting.version)
    assert (taken.state, taken.assignee, taken.version) == (HUMAN, "made", 2)
    assert convs.take(SPA, waiting.id, "made", waiting.version).assignee == "made"  # double click
    with pytest.raises(AlreadyTakenError) as lost:
        convs.take(SPA, waiting.id, "wayan", waiting.version)
    assert lost.value.by == "made"
    # A manager taking over on purpose sees the current version and wins.
    assert convs.take(SPA, waiting.id, "wayan", taken.version).assignee == "wayan"


def test_two_people_taking_at_once_one_wins_the_other_is_told(convs):
    wrote(convs)
    waiting = convs.flag(SPA, AYU, ASKED)
    barrier, results = threading.Barrier(8), []

    def take(who: str) -> None:
        barrier.wait()
        try:
            results.append(("won", convs.take(SPA, waiting.id, who, waiting.version).assignee))
        except AlreadyTakenError as exc:
            results.append(("told", exc.by))
    threads = [threading.Thread(target=take, args=(f"staff{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [who for outcome, who in results if outcome == "won"]
    assert len(winners) == 1
    assert sorted(results) == sorted([("won", winners[0])] + [("told", winners[0])] * 7)


def test_a_stale_page_cannot_take_a_conversation_handed_back_meanwhile(convs):
    wrote(convs)
    waiting = convs.flag(SPA, AYU, ASKED)
    convs.take(SPA, waiting.id, "made", waiting.version)
    convs.hand_back(SPA, waiting.id, "made")
    with pytest.raises(ChangedError):
        convs.take(SPA, waiting.id, "wayan", waiting.version)


def test_hand_back_only_by_whoever_has_it(convs):
    conv = wrote(convs)
    with pytest.raises(ChangedError):  # already the bot's
        convs.hand_back(SPA, conv.id, "made")
    taken = convs.take(SPA, conv.id, "made", conv.version)
    with pytest.raises(NotYoursError):
        convs.hand_back(SPA, conv.id, "wayan")
    back = convs.hand_back(SPA, conv.id, "made")
    assert (back.state, back.assignee, back.version) == (BOT, "", taken.version + 1)


def test_a_waiting_request_can_be_settled_without_a_reply(convs):
    wrote(convs)
    waiting = convs.flag(SPA, AYU, ASKED)
    assert convs.hand_back(SPA, waiting.id, "made").state == BOT


def test_an_echo_gives_the_conversation_to_the_owner_app_but_not_from_a_console_person(convs):
    conv = wrote(convs)
    echoed = convs.echoed(SPA, AYU, "PNID")
    assert (echoed.state, echoed.assignee, echoed.reason) == (HUMAN, ECHO_AGENT, ECHO)
    assert convs.echoed(SPA, AYU, "PNID").version == echoed.version  # a second echo: no move
    convs.take(SPA, conv.id, "made", echoed.version)
    assert convs.echoed(SPA, AYU, "PNID").assignee == "made"
    # The app's conversation can be handed back by anyone in the console.
    convs.take(SPA, conv.id, "made", convs.get(SPA, conv.id).version)
    other = wrote(convs, who="6281234500002")
    convs.echoed(SPA, other.customer_id, "PNID")
    assert convs.hand_back(SPA, other.id, "wayan").state == BOT


def test_idle_human_conversation_goes_back_to_the_bot_when_the_customer_writes(convs, clock):
    conv = wrote(convs)
    convs.take(SPA, conv.id, "made", conv.version)
    clock.now += timedelta(hours=11)
    assert wrote(convs).state == HUMAN  # 11 h: still the person's
    clock.now += timedelta(hours=12, minutes=1)
    back = wrote(convs)
    assert (back.state, back.reason, back.assignee) == (BOT, IDLE, "")


def test_a_customer_writing_on_does_not_keep_a_forgotten_conversation_from_the_bot(convs, clock):
    conv = wrote(convs)
    convs.take(SPA, conv.id, "made", conv.version)
    for _ in range(2):
        clock.now += timedelta(hours=6)
        assert wrote(convs, "hello??").state == HUMAN
    clock.now += timedelta(hours=1)  # 13 h since the person last did anything
    assert wrote(convs, "anyone?").state == BOT


def test_replying_keeps_the_conversation_with_the_person(convs, clock):
    conv = wrote(convs)
    convs.take(SPA, conv.id, "made", conv.version)
    clock.now += timedelta(hours=11)
    convs.replying(SPA, conv.id, "made")
    clock.now += timedelta(hours=11)
    assert wrote(convs).state == HUMAN and convs.release_idle() == 0


def test_flag_leaves_a_person_with_the_conversation(convs):
    conv = wrote(convs)
    taken = convs.take(SPA, conv.id, "made", conv.version)
    assert convs.flag(SPA, AYU, FAILURE).state == HUMAN
    assert convs.get(SPA, conv.id).version == taken.version


def test_idle_sweep_releases_only_conversations_left_alone(convs, clock):
    left = wrote(convs)
    convs.take(SPA, left.id, "made", left.version)
    clock.now += timedelta(hours=6)
    busy = wrote(convs, who="6281234500009")
    convs.take(SPA, busy.id, "wayan", busy.version)
    clock.now += timedelta(hours=6, minutes=1)
    assert convs.release_idle() == 1
    assert convs.get(SPA, left.id).state == BOT and convs.get(SPA, left.id).reason == IDLE
    assert convs.get(SPA, busy.id).state == HUMAN
    assert convs.release_idle() == 0


def test_conversations_are_per_business_and_ids_of_others_are_unknown(convs):
    spa = wrote(convs)
    salon = wrote(convs, business=SALON)
    assert spa.id != salon.id
    with pytest.raises(UnknownEntityError):
        convs.get(SALON, spa.id)
    with pytest.raises(UnknownEntityError):
        convs.take(SALON, spa.id, "made", 0)
    for junk in ("", "nope", "0" * 24 + "zz", "{'$gt': ''}"):
        with pytest.raises(UnknownEntityError):
            convs.get(SPA, junk)


def test_inbox_orders_waiting_longest_first_then_people_then_recent(convs, clock):
    numbers = [f"62812345000{i:02d}" for i in range(4)]
    for number in numbers:
        wrote(convs, who=number)
        clock.now += timedelta(minutes=1)
    convs.flag(SPA, numbers[2], ASKED)
    clock.now += timedelta(minutes=1)
    convs.flag(SPA, numbers[0], FALLBACKS)
    human = convs.of_customer(SPA, numbers[1])
    convs.take(SPA, human.id, "made", human.version)
    assert [(c.customer_id, c.state) for c in convs.inbox(SPA)] == [
        (numbers[2], WAITING), (numbers[0], WAITING), (numbers[1], HUMAN), (numbers[3], BOT)]
    assert convs.waiting_count(SPA) == 2 and convs.waiting_count(SALON) == 0


def test_team_desk_replies_only_for_whoever_has_it_and_inside_the_window(convs, clock):
    posted = []
    def post(c, kind, text, extra, item_id=None):
        if item_id is not None and item_id in [p[3] for p in posted]:
            return None
        posted.append((kind, text, extra, item_id))
        return item_id or f"item{len(posted)}"
    desk = TeamDesk(convs, post, clock)
    conv = wrote(convs)
    with pytest.raises(NotYoursError):
        desk.reply(SPA, conv.id, "made", "hello")
    desk.take(SPA, conv.id, "made", conv.version)
    sent = desk.reply(SPA, conv.id, "made", "  Hi Ayu, Made here  ")
    assert sent.item_id == "item1" and posted == [("staff", "Hi Ayu, Made here", {"who": "made"},
                                                   None)]
    twice = [desk.reply(SPA, conv.id, "made", "ok!", key="form-7") for _ in range(2)]
    assert twice[0].item_id == twice[1].item_id and len(posted) == 2  # a double click: once
    clock.now += timedelta(hours=25)
    with pytest.raises(OutsideWindowError):
        desk.reply(SPA, conv.id, "made", "still there?")
    desk.send_template(SPA, conv.id, "made")
    assert posted[-1][:3] == ("template", "", {"who": "made"})
    desk.hand_back(SPA, conv.id, "made")  # outside the window the bot cannot say it is back
    assert [p[0] for p in posted] == ["staff", "staff", "template"]


def test_team_desk_hand_back_tells_only_when_a_person_had_it_and_only_whatsapp_is_taken(
        convs, clock):
    posted = []
    desk = TeamDesk(convs, lambda c, kind, *rest: posted.append(kind) or "id", clock)
    wrote(convs)
    waiting = convs.flag(SPA, AYU, ASKED)
    desk.hand_back(SPA, waiting.id, "made")  # settled: the bot never left, says nothing
    assert posted == []
    conv = convs.get(SPA, waiting.id)
    desk.take(SPA, conv.id, "made", conv.version)
    desk.hand_back(SPA, conv.id, "made")
    assert posted == ["handback"]
    local = convs.flag(SPA, "rest:me", ASKED, channel="rest")
    with pytest.raises(NotOnWhatsAppError):
        desk.take(SPA, local.id, "made", local.version)
    assert convs.get(SPA, local.id).state == WAITING


def test_a_booking_card_is_in_the_customers_language_else_the_businesss(convs, clock, db):
    from zoneinfo import ZoneInfo

    from booking.customer_prefs import CustomerLanguages, LanguageChoice
    from booking.models import CONFIRMED, Booking

    posted = []
    desk = TeamDesk(convs, lambda c, kind, text, *rest: posted.append(text) or "id", clock)
    conv = wrote(convs)
    desk.take(SPA, conv.id, "made", conv.version)
    start = clock.now + timedelta(days=1)
    booking = Booking(None, "BK123456", SPA, "balinese-massage", "made", AYU, "Ayu", start,
                      start + timedelta(hours=1), CONFIRMED, 350000, "IDR", 1, clock.now)
    bali = ZoneInfo("Asia/Makassar")
    desk.send_booking(SPA, conv.id, "made", booking, "Pijat Bali", "Made", bali,
                      default_language="id")  # nothing kept for Ayu: the business's language
    CustomerLanguages(db, lambda: clock.now).set(SPA, AYU, LanguageChoice("en", chosen=True))
    desk.send_booking(SPA, conv.id, "made", booking, "Balinese Massage", "Made", bali,
                      default_language="id")  # Ayu's own choice wins
    assert posted[0].startswith("Booking Anda BK123456") and "Rp350.000" in posted[0], posted
    assert posted[1].startswith("Your booking BK123456"), posted
