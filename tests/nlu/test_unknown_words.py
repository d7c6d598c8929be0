"""The guard that turns messages of never-seen words into ``nlu_fallback``."""
from nlu.unknown_words import unknown, words_of

VOCABULARY = {"yes", "book", "a", "massage", "pm", "sore", "jam", "with", "made"}


def test_words_are_lowercased_letters_and_single_digits():
    assert words_of("Book a MASSAGE at 5pm!") == ["book", "a", "massage", "at", "5", "pm"]
    assert words_of("17.00") == ["1", "7", "0", "0"]


def test_a_message_of_only_unknown_words_is_unknown():
    assert unknown("jsjsjs", VOCABULARY)
    assert unknown("asdf qwer zxcv", VOCABULARY)


def test_one_known_word_a_digit_a_payload_or_no_letters_leaves_it_to_the_classifier():
    assert not unknown("yess book", VOCABULARY)
    assert not unknown("17.00", VOCABULARY)  # a time typed at the time list
    assert not unknown("BK123456", VOCABULARY)  # a booking code
    assert not unknown("/affirm", VOCABULARY)
    assert not unknown("👍", VOCABULARY)  # emoji are the classifier's (trained as affirm)
    assert not unknown("with Made", VOCABULARY)


def test_a_word_one_slip_from_a_known_one_is_known():
    for typo in ("yess", "bokk", "masage", "massgae", "massaje"):
        assert not unknown(typo, VOCABULARY), typo
    assert unknown("zzzz", VOCABULARY) and unknown("xyz", VOCABULARY)
