"""Reading typed answers (pure): times among the offered ones, positions, people, a change
of mind, dropping the order; any text gives a reading or None, never an exception."""
from __future__ import annotations

from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking import replies

BALI = ZoneInfo("Asia/Makassar")
OFFERED = [datetime(2026, 12, 3, h - 8, m, tzinfo=timezone.utc)
           for h, m in [(10, 0), (11, 30), (15, 0), (17, 0)]]


def picked(text: str):
    reading = replies.pick_time(text, OFFERED, BALI)
    if reading is None:
        return None
    return reading.start.astimezone(BALI).strftime("%H:%M") if reading.start else reading.at


@pytest.mark.parametrize("text, expected", [
    ("5pm", "17:00"), ("5 PM", "17:00"), ("17.00", "17:00"), ("17:00", "17:00"),
    ("5 sore", "17:00"), ("jam 3 sore", "15:00"), ("the 3 o'clock one", "15:00"),
    ("3pm please", "15:00"), ("11.30", "11:30"), ("the first one", "10:00"),
    ("earliest", "10:00"), ("the second one", "11:30"), ("the last one", "17:00"),
    ("anything after 4", "17:00"), ("after 12", "15:00"), ("before 12", "11:30"),
    ("4", time(16, 0)), ("at 1pm", time(13, 0)), ("9", time(9, 0)), ("at 7am", time(7, 0)),
])
def test_a_time_among_the_offered_ones(text, expected):
    assert picked(text) == expected


@pytest.mark.parametrize("text", ["hello", "what's included?", "3 or 5pm", "for 2 people", "",
                                  "after lunch maybe", "no"])
def test_what_is_not_one_time_is_no_time(text):
    assert picked(text) is None


def test_positions_in_a_list():
    assert [replies.position(t, 5) for t in ("2", "the second one", "third", "#4", "the last one",
                                             "6", "the seventh", "nope")] == [
        1, 1, 2, 3, 4, None, None, None]


def test_people_change_of_mind_and_never_mind():
    assert [replies.people(t) for t in ("for 2 people", "3 pax", "two of us", "at 2", "for 25 people")] \
        == [2, 3, 2, None, None]
    assert all(replies.corrects(t) for t in ("no, make it 1pm", "actually friday",
                                             "can it be with Wayan instead", "how about 4"))
    assert not any(replies.corrects(t) for t in ("5pm", "friday", "with Wayan"))
    assert all(replies.never_mind(t) for t in ("never mind", "cancel that", "Forget it",
                                               "no, scrap it", "gak jadi"))
    assert not any(replies.never_mind(t) for t in ("no", "cancel my booking BK123456", "stop by at 3"))


@pytest.mark.parametrize("text, expected", [  # Indonesian as typed on a phone in Bali
    ("jm 3", "15:00"), ("jam 8 mlm", time(20, 0)), ("jm 8 mlm", time(20, 0)),
    ("8 mlm", time(20, 0)), ("setengah 4 sore", time(15, 30)), ("jam setengah 4", time(15, 30)),
    ("setengah 12 siang", "11:30"), ("setengah 8 malam", time(19, 30)),
    ("yg terakhir", "17:00"), ("yang terakhir", "17:00"), ("paling pagi", "10:00"),
    ("paling awal", "10:00"), ("yg pertama", "10:00"), ("paling malam", "17:00")])
def test_a_time_in_indonesian_chat(text, expected):
    assert picked(text) == expected


def test_positions_in_indonesian_chat():
    assert [replies.position(t, 5) for t in ("yg terakhir", "yang terakhir", "paling pagi",
                                             "paling awal", "yg pertama", "yg kedua")] == [
        4, 4, 0, 0, 0, 1]


def test_people_in_indonesian_chat():
    assert [replies.people(t) for t in ("berdua", "kami bertiga", "berempat", "ber2", "2 org",
                                        "dua orang", "tiga orang", "untuk dua", "buat 3 orang",
                                        "berdua jam 3", "buat jam 3", "bersama", "25 org")] == [
        2, 3, 4, 2, 2, 2, 3, 2, 3, 2, None, None, None]


@pytest.mark.parametrize("text", ["gajadi", "ga jadi", "gak jadi", "nggak jadi", "ga usah",
                                  "gausah", "batal aja", "batal", "Gak jadi deh kak",
                                  "eh ga jadi, makasih ya", "ya udah ga usah", "ga jadi booking",
                                  "kayaknya gak jadi dulu", "tidak jadi"])
def test_never_mind_in_indonesian_chat(text):
    assert replies.never_mind(text)


@pytest.mark.parametrize("text", ["mau batal booking", "batal booking", "batalkan booking BK123456",
                                  "ga jadi dateng, batalin aja bookingnya", "ga usah pakai minyak",
                                  "gak jadi, mau facial aja"])
def test_cancelling_a_booking_is_no_never_mind(text):
    assert not replies.never_mind(text)  # cancel_booking is an intent of its own


@pytest.mark.parametrize("text", ["bukan, jumat aja", "eh jumat aja", "mending jam 4",
                                  "ganti jam 4", "jam 4 aja deh", "kalau jam 4?", "maaf, jam 5",
                                  "pindah ke jumat"])
def test_a_change_of_mind_in_indonesian_chat(text):
    assert replies.corrects(text)


@pytest.mark.parametrize("text", ["jumat", "jam 4", "iya jam 3 aja", "ok itu aja", "iya"])
def test_an_indonesian_answer_or_yes_is_no_change_of_mind(text):
    assert not replies.corrects(text)


def test_a_correction_keeps_its_day_apart_from_its_time():
    assert replies.clock("bukan, jumat jm 4 aja") == time(16, 0)
    assert "jumat" in replies.without_clock("bukan, jumat setengah 4 aja")
    assert "4" not in replies.without_clock("bukan, jumat setengah 4 aja")


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_text_reads_or_not_but_never_fails(text):
    replies.pick_time(text, OFFERED, BALI)
    replies.position(text, 3)
    replies.people(text)
    replies.never_mind(text)
    replies.corrects(text)
    replies.without_clock(text)
    replies.asks_details(text)


@pytest.mark.parametrize("text, kind", [
    ("what's included?", "this"), ("whats included", "this"), ("what does it include", "this"),
    ("what is included in the hot stone massage", "this"), ("tell me more", "this"),
    ("tell me more about it", "this"), ("tell me about that one", "this"),
    ("termasuk apa?", "this"), ("apa saja yang termasuk?", "this"), ("detailnya dong", "this"),
    ("what does the facial include", "named"), ("tell me more about the hot stone", "named"),
    ("tell me about the scrub", "named"), ("more info about the couple massage", "named"),
    ("is oil included?", "named"), ("details of the balinese massage", "named"),
    ("what happens during the facial", "named")])
def test_a_question_about_what_a_treatment_includes(text, kind):
    assert replies.asks_details(text) == kind


@pytest.mark.parametrize("text", [
    "5pm", "how much is the massage", "what time is free", "book a massage", "what do you offer",
    "what treatments do you have", "no, make it 1pm", "the first one", "my bookings",
    "what is the price", "is it available tomorrow", "yes", "cancel that", "what about friday",
    "what's the weather like?", "what is the capital of france", "what happens at 5pm",
    "what do i get if i cancel"])
def test_other_messages_ask_no_details(text):
    assert not replies.asks_details(text)
