"""Date/time expressions as typed on a phone, resolved in Bali time."""
from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking.timeparse import When, parse_when

BALI = ZoneInfo("Asia/Makassar")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=BALI)  # Monday 10:00


@pytest.mark.parametrize("text, expected", [  # Indonesian as chatted (issue 16)
    ("besok", When(date(2026, 11, 24))),
    ("bsk jam 3", When(date(2026, 11, 24), time(15, 0))),
    ("kak mau pijat bali bsk jam 3 bisa?", When(date(2026, 11, 24), time(15, 0))),
    ("lusa jam 2 siang", When(date(2026, 11, 25), time(14, 0))),
    ("nanti sore", When(date(2026, 11, 23), None, "afternoon")),
    ("besok pagi", When(date(2026, 11, 24), None, "morning")),
    ("besok malam", When(date(2026, 11, 24), None, "evening")),
    ("besok sore", When(date(2026, 11, 24), None, "afternoon")),
    ("jumat sore", When(date(2026, 11, 27), None, "afternoon")),
    ("jam 3 sore", When(date(2026, 11, 23), time(15, 0))),
    ("jam 15.00", When(date(2026, 11, 23), time(15, 0))),
    ("jam 8 malam", When(date(2026, 11, 23), time(20, 0))),
    ("jam 12 siang", When(date(2026, 11, 23), time(12, 0))),
    ("besok jam 10 pagi", When(date(2026, 11, 24), time(10, 0))),
    ("hari ini jam 4 sore", When(date(2026, 11, 23), time(16, 0))),
    ("minggu depan", When(date(2026, 11, 30))),
    ("hari minggu", When(date(2026, 11, 29))),
    ("hari Jumat", When(date(2026, 11, 27))),
    ("jumat jam 3 sore", When(date(2026, 11, 27), time(15, 0))),
    ("sabtu jam 10 pagi", When(date(2026, 11, 28), time(10, 0))),  # was today: "sabtu" unread
    ("senin depan", When(date(2026, 11, 30))),
    ("tgl 25", When(date(2026, 11, 25))),
    ("tgl 5", When(date(2026, 12, 5))),  # this month's 5th is past: next month's
    ("tanggal 25 desember", When(date(2026, 12, 25))),
    ("25 des", When(date(2026, 12, 25))),
    ("tgl 1 jan", When(date(2027, 1, 1)))])
def test_indonesian_expressions_resolve_in_business_time(text, expected):
    assert parse_when(text, BALI, NOW) == expected


@pytest.mark.parametrize("text, expected", [  # Indonesian as typed on a phone in Bali
    ("bsk jm 3", When(date(2026, 11, 24), time(15, 0))),
    ("lsa jam 2 siang", When(date(2026, 11, 25), time(14, 0))),
    ("jam 8 mlm", When(date(2026, 11, 23), time(20, 0))),
    ("jm 8 mlm", When(date(2026, 11, 23), time(20, 0))),
    ("besok mlm", When(date(2026, 11, 24), None, "evening")),
    ("senin dpn", When(date(2026, 11, 30))),              # said on a Monday: a week on
    ("minggu dpn", When(date(2026, 11, 30))),             # next week, as "minggu depan"
    ("hari minggu", When(date(2026, 11, 29))),            # Sunday
    ("ntar sore", When(date(2026, 11, 23), None, "afternoon")),
    ("ntar mlm", When(date(2026, 11, 23), None, "evening")),
    ("nanti malam", When(date(2026, 11, 23), None, "evening")),
    ("sekarang", When(date(2026, 11, 23))),
    ("bisa skrg?", When(date(2026, 11, 23))),
    ("skrg jam 3", When(date(2026, 11, 23), time(15, 0))),
    ("my back is sore, bsk jm 3 bisa?", When(date(2026, 11, 24), time(15, 0)))])
def test_indonesian_short_forms(text, expected):
    assert parse_when(text, BALI, NOW) == expected


@pytest.mark.parametrize("text, expected", [
    ("2 jam lagi", When(date(2026, 11, 23), time(12, 0))),
    ("dua jam lagi", When(date(2026, 11, 23), time(12, 0))),
    ("2 jm lagi", When(date(2026, 11, 23), time(12, 0))),
    ("kak 2 jam lagi bisa?", When(date(2026, 11, 23), time(12, 0))),
    ("massage in 2 hours", When(date(2026, 11, 23), time(12, 0))),
    ("sejam lagi", When(date(2026, 11, 23), time(11, 0))),
    ("30 menit lagi", When(date(2026, 11, 23), time(10, 30))),
    ("setengah jam lagi", When(date(2026, 11, 23), time(10, 30))),
    ("3 hari lagi", When(date(2026, 11, 26))),
    ("2 minggu lagi", When(date(2026, 12, 7))),           # weeks, not Sundays
    ("seminggu lagi", When(date(2026, 11, 30)))])
def test_so_long_from_now_in_indonesian(text, expected):
    assert parse_when(text, BALI, NOW) == expected


def test_so_long_from_now_is_in_business_time():
    utc_now = datetime(2026, 11, 23, 15, 0, tzinfo=ZoneInfo("UTC"))  # 23:00 in Bali
    assert parse_when("2 jam lagi", BALI, utc_now) == When(date(2026, 11, 24), time(1, 0))
    assert parse_when("2 jam lagi", BALI, NOW.astimezone(ZoneInfo("UTC"))) == When(
        date(2026, 11, 23), time(12, 0))


@pytest.mark.parametrize("text, expected", [  # "setengah 4": half before 4
    ("setengah 4 sore", When(date(2026, 11, 23), time(15, 30))),
    ("jam setengah 4", When(date(2026, 11, 23), time(15, 30))),   # as "at 3:30"
    ("setengah 4", When(date(2026, 11, 23), time(15, 30))),       # as "jam 3:30", like replies
    ("bsk jam setengah 10 pagi", When(date(2026, 11, 24), time(9, 30))),
    ("setengah 1 siang", When(date(2026, 11, 23), time(12, 30))),
    ("jumat setengah 8 mlm", When(date(2026, 11, 27), time(19, 30)))])
def test_half_before_the_hour(text, expected):
    assert parse_when(text, BALI, NOW) == expected


@pytest.mark.parametrize("text, expected", [
    ("tomorrow at 3pm", When(date(2026, 11, 24), time(15, 0))),
    ("tmrw 3pm", When(date(2026, 11, 24), time(15, 0))),
    ("besok jam 3", When(date(2026, 11, 24), time(15, 0))),
    ("next friday morning", When(date(2026, 11, 27), None, "morning")),
    ("next monday", When(date(2026, 11, 30))),
    ("sat", When(date(2026, 11, 28))),
    ("saturday 10am", When(date(2026, 11, 28), time(10, 0))),
    ("25/10", When(date(2027, 10, 25))),          # day first; already past this year
    ("1/12 at 10", When(date(2026, 12, 1), time(10, 0))),
    ("25 dec 2pm", When(date(2026, 12, 25), time(14, 0))),
    ("in 2 hours", When(date(2026, 11, 23), time(12, 0))),
    ("in 30 mins", When(date(2026, 11, 23), time(10, 30))),
    ("this evening", When(date(2026, 11, 23), None, "evening")),
    ("tonight", When(date(2026, 11, 23), None, "evening")),
    ("the day after tomorrow", When(date(2026, 11, 25))),
    ("3pm", When(date(2026, 11, 23), time(15, 0))),
    ("9am", When(date(2026, 11, 24), time(9, 0))),  # already past today: tomorrow
    ("15:00", When(date(2026, 11, 23), time(15, 0))),
    ("at 3", When(date(2026, 11, 23), time(15, 0))),  # a spa at 3 means the afternoon
    ("on the 2nd", When(date(2026, 12, 2))),
    ("monday 9am", When(date(2026, 11, 30), time(9, 0))),  # said on Monday at 10:00
    ("monday 11am", When(date(2026, 11, 23), time(11, 0))),          # a past day of the month: next month
    ("2 nov", When(date(2027, 11, 2))),               # a past date: next year
])
def test_expressions_resolve_in_business_time(text, expected):
    assert parse_when(text, BALI, NOW) == expected


@pytest.mark.parametrize("text, expected", [
    ("massage tomorrow please", When(date(2026, 11, 24))),
    ("can i come friday for a facial", When(date(2026, 11, 27))),
    ("book hot stone on 28 nov at 2pm", When(date(2026, 11, 28), time(14, 0))),
])
def test_a_date_inside_a_sentence_is_found(text, expected):
    assert parse_when(text, BALI, NOW) == expected


@pytest.mark.parametrize("text", ["hello", "for 2", "", "🌺🌺", "2", "massage pls", "   ",
                                  "the   one", "that one", "this one please",
                                  "deep tissue, my back is sore"])
def test_no_date_gives_none(text):
    assert parse_when(text, BALI, NOW) is None


def test_the_instant_is_local_and_windows_are_known():
    when = parse_when("tomorrow at 3pm", BALI, NOW)
    assert when.start(BALI).isoformat() == "2026-11-24T15:00:00+08:00"
    assert parse_when("next friday morning", BALI, NOW).window() == (time(8), time(12))


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=120))
def test_any_text_never_raises_and_never_gives_the_past(text):
    when = parse_when(text, BALI, NOW)
    if when is not None:
        assert when.day >= NOW.date()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["tomorrow", "fri", "25/12", "next week", "today", "in 3 days"]),
       st.sampled_from(["", " at 3pm", " morning", " 10:30", " jam 4"]))
def test_day_and_time_combinations_always_resolve(day, clock):
    assert parse_when(day + clock, BALI, NOW) is not None
