"""`make nlu-eval`: score the trained NLU on the held-out examples of each language (never trained
on: tests/nlu/holdout.yml in English, holdout_id.yml in Indonesian) and on keyboard mashes
(tests/nlu/gibberish.txt, which must all come out as ``nlu_fallback``). Prints per language the
examples, intent accuracy, macro-F1 (over the held-out intents), intents below target and the
misses; exits 1 when a target is missed. ``python -m tools.nlu_eval [--model PATH]``."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HELD_OUT = ROOT / "tests" / "nlu"
GIBBERISH = HELD_OUT / "gibberish.txt"
MODEL = ROOT / "models" / "assistant.tar.gz"


@dataclass(frozen=True)
class Language:
    code: str
    holdout: Path
    target: float  # intent accuracy; each intent's F1 is held to it too


LANGUAGES = (Language("en", HELD_OUT / "holdout.yml", 0.95),
             Language("id", HELD_OUT / "holdout_id.yml", 0.92))
MAX_MISSES = 20


@dataclass(frozen=True)
class Score:
    examples: int
    accuracy: float
    macro_f1: float
    f1: dict[str, float]
    misses: list[tuple[str, str, str]]  # text, predicted, wanted


def held_out(path: Path) -> list[tuple[str, str]]:
    """(text, intent) of a held-out file in Rasa's NLU format."""
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    data = RasaYAMLReader().read(path)
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def score(pairs: list[tuple[str, str]], predicted: list[str]) -> Score:
    from sklearn.metrics import f1_score

    gold = [intent for _, intent in pairs]
    labels = sorted(set(gold))
    per_intent = f1_score(gold, predicted, labels=labels, average=None, zero_division=0)
    hits = sum(g == p for g, p in zip(gold, predicted))
    misses = [(t, p, g) for (t, g), p in zip(pairs, predicted) if p != g]
    return Score(len(gold), hits / len(gold), float(per_intent.mean()),
                 dict(zip(labels, map(float, per_intent))), misses)


def report(language: Language, result: Score) -> bool:
    """Print one language's figures; whether it meets its target."""
    print(f"[{language.code}] {language.holdout.relative_to(ROOT)}")
    print(f"  held-out examples: {result.examples}")
    print(f"  intent accuracy:   {result.accuracy:.3f}  (target >= {language.target:.2f})")
    print(f"  intent macro-F1:   {result.macro_f1:.3f}")
    for intent, f1 in sorted(result.f1.items(), key=lambda kv: kv[1]):
        if f1 < language.target:
            print(f"  below {language.target:.2f}: {intent} F1 {f1:.2f}")
    for text, got, wanted in result.misses[:MAX_MISSES]:
        print(f"  miss: {text!r} -> {got} (want {wanted})")
    return result.accuracy >= language.target


def gibberish(parsed: list[dict[str, Any]], texts: list[str]) -> bool:
    """Print the share of keyboard mashes that come out as ``nlu_fallback``; whether all do."""
    wrong = [(t, r["intent"]["name"]) for t, r in zip(texts, parsed)
             if r["intent"]["name"] != "nlu_fallback"]
    # DIET's own ranking (before nlu.unknown_words took its confidence away): what it would say
    guessed = sum(1 for r in parsed if r["intent_ranking"][1:2]
                  and r["intent_ranking"][1]["confidence"] >= 0.5)
    print(f"gibberish -> fallback: {1 - len(wrong) / len(texts):.3f} of {len(texts)} "
          f"(DIET alone: {1 - guessed / len(texts):.3f})")
    for text, intent in wrong:
        print(f"  guessed: {text!r} -> {intent}")
    return not wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--lang", choices=[lang.code for lang in LANGUAGES], action="append",
                        help="only these held-out sets (default: all)")
    args = parser.parse_args(argv)
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # not a debug line per parsed message
    agent = Agent.load(str(args.model))

    async def parse_all(texts: list[str]) -> list[dict[str, Any]]:
        return [await agent.parse_message(t) for t in texts]

    ok = True
    for language in LANGUAGES:
        if args.lang and language.code not in args.lang:
            continue
        pairs = held_out(language.holdout)
        parsed = asyncio.run(parse_all([t for t, _ in pairs]))
        ok &= report(language, score(pairs, [p["intent"]["name"] for p in parsed]))
    lines = [t.strip() for t in GIBBERISH.read_text().splitlines()]
    texts = [t for t in lines if t and not t.startswith("#")]
    ok &= gibberish(asyncio.run(parse_all(texts)), texts)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
