"""Telling English from Indonesian in short, code-mixed WhatsApp messages (booking.language)."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking import language
from booking.language import LANGUAGES, decide, detect
from tools.language_eval import TARGET, accuracy, load

SAMPLES = load()
SHORT = [s for s in SAMPLES if s.short]


def test_the_labelled_set_is_big_enough_and_mostly_short():
    assert len(SAMPLES) >= 400
    assert len(SHORT) >= 300
    assert {s.label for s in SAMPLES} == {"en", "id", None}
    assert sum(s.check for s in SAMPLES) >= 100  # the check set at the end, kept out of tuning
    assert len({s.text.lower() for s in SAMPLES}) == len(SAMPLES), "a message is listed twice"


def test_accuracy_on_two_to_five_word_messages_meets_the_target():
    share, count = accuracy(SHORT)
    misses = [(s.text, s.label, detect(s.text)) for s in SHORT if detect(s.text) != s.label]
    assert share >= TARGET, f"{share:.3f} on {count}; misses: {misses[:20]}"


def test_accuracy_on_the_check_set_meets_the_target():
    share, _ = accuracy(s for s in SAMPLES if s.check)
    assert share >= TARGET


@pytest.mark.parametrize("text, want", [
    ("kak mau book massage besok", "id"),  # the matrix language, not the loaned words
    ("can I book pijat bali tomorrow", "en"),
    ("book the lulur scrub", "en"),
    ("in villa massage at Villa Sawah Ubud", "en"),
    ("is Wayan available tomorrow", "en"),
    ("sama Wayan aja", "id"),
    ("bsk jm 3 bs?", "id"),
    ("massagenya enak bgt", "id"),  # -nya on an English loan is Indonesian grammar
    ("bisa dicancel?", "id"),
    ("u open tmrw?", "en"),
    ("okeee kakk", "id"),  # elongation
    ("pleaseee", "en"),
    ("can i book tommorow", "en"),
])
def test_code_mixed_short_forms_and_typos(text, want):
    assert detect(text) == want


@pytest.mark.parametrize("text, want", [
    ("terima kasih", "id"),  # written in Indonesian
    ("suksma", "id"),
    ("pagi kak", "id"),
    ("terima kasih, see you tomorrow", "en"),  # courtesy yields to any other telling word
    ("suksma, see you soon", "en"),
    ("thanks, terima kasih!", "en"),  # a tie of courtesy words goes to English
    ("thank you kak", "id"),
    ("sorry", "en"),
    ("sorry kak telat", "id"),
])
def test_courtesy_words(text, want):
    assert detect(text) == want


@pytest.mark.parametrize("text", [
    "/affirm", '/choose_time{"time": "15:00"}', "ok", "oke", "okay", "OK!!", "BK123456", "3pm",
    "15:00", "15.00", "2", "👍", "🙏🙏", "Wayan", "Made", "Ubud", "Villa Sawah Ubud",
    "Balinese Massage", "lulur", "haha", "", "   ", "John Smith", "+62 812 3456 7890",
    "john.smith@gmail.com", "https://wa.me/628123456789",
])
def test_messages_that_say_nothing_are_none(text):
    assert detect(text) is None


@pytest.mark.parametrize("text", ["ya", "iya", "iyaaa", "yaa boleh"])
def test_ya_is_indonesian_yes(text):
    assert detect(text) == "id"


def test_a_chosen_language_stays_whatever_is_written():
    assert decide("en", True, "mau pijat besok kak", "id") == "en"
    assert decide("id", True, "can I book tomorrow", "en") == "id"


def test_a_telling_message_sets_the_language_unless_chosen():
    assert decide("en", False, "mau pijat besok kak", "en") == "id"
    assert decide("id", False, "can I book tomorrow", "id") == "en"
    assert decide(None, False, "halo kak", "en") == "id"


def test_one_borrowed_word_does_not_leave_an_established_language():
    assert decide("id", False, "yes", "en") == "id" and decide("id", False, "done", "en") == "id"
    assert decide("en", False, "sip", "en") == "en" and decide("en", False, "ya", "id") == "en"
    assert decide(None, False, "yes", "id") == "en"  # but it sets a first one
    assert decide("id", False, "yes please", "en") == "en"  # two telling words do move it


def test_a_message_that_says_nothing_keeps_the_current_language():
    assert decide("id", False, "👍", "en") == "id"
    assert decide("en", False, "BK123456", "id") == "en"


def test_with_no_current_language_the_business_default_is_used():
    assert decide(None, False, "15:00", "id") == "id"
    assert decide(None, True, "ok", "en") == "en"  # "chosen" with nothing chosen
    assert decide("fr", False, "Wayan", "en") == "en"  # an unknown current one is ignored


def test_the_word_lists_refuse_a_word_listed_twice(tmp_path: Path):
    words = tmp_path / "words.txt"
    words.write_text("[en 2]\nthe a\n[id 2]\nyang the\n", encoding="utf-8")
    with pytest.raises(ValueError, match="twice"):
        language._load(words)
    words.write_text("the a\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header"):
        language._load(words)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_detect_never_raises_on_arbitrary_unicode(text):
    assert detect(text) in (*LANGUAGES, None)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(language.WORDS) + ["xyzzy", "Wayan", "3pm", "👍", "/b"]),
                max_size=12).map(" ".join),
       st.sampled_from([None, *LANGUAGES]), st.booleans(), st.sampled_from(LANGUAGES))
def test_decide_always_answers_a_language(text, current, chosen, default):
    got = decide(current, chosen, text, default)
    assert got in LANGUAGES
    if chosen and current:
        assert got == current


def test_a_long_message_is_cut_not_slow():
    assert detect("kak " * 100_000) == "id"
    assert detect("x" * 100_000) is None


def test_no_listed_phrase_is_longer_than_the_tokenizer_joins():
    assert max(len(w.split("_")) for w in language.WORDS) <= language.MAX_PHRASE
