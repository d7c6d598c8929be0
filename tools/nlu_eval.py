"""`make nlu-eval`: score the trained NLU on held-out examples (tests/nlu/holdout.yml, never
trained on) and print intent accuracy and macro-F1 from Rasa's report."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOLDOUT = ROOT / "tests" / "nlu" / "holdout.yml"
GIBBERISH = ROOT / "tests" / "nlu" / "gibberish.txt"
OUT = ROOT / "results" / "nlu-holdout"


def main() -> int:
    """Run ``rasa test nlu`` on the held-out file and print the figures."""
    rasa = Path(sys.executable).parent / "rasa"
    subprocess.run([str(rasa), "test", "nlu", "--nlu", str(HOLDOUT), "--model", "models",
                    "--out", str(OUT)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    report = json.loads((OUT / "intent_report.json").read_text())
    per_intent = {k: v for k, v in report.items() if isinstance(v, dict) and "f1-score" in v
                  and k not in {"macro avg", "weighted avg", "micro avg"}}
    print(f"held-out examples: {int(report['macro avg']['support'])}")
    print(f"intent accuracy:   {report['accuracy']:.3f}  (target >= 0.95)")
    print(f"intent macro-F1:   {report['macro avg']['f1-score']:.3f}")
    weak = sorted((v["f1-score"], k) for k, v in per_intent.items() if v["f1-score"] < 0.95)
    for f1, intent in weak:
        print(f"  below 0.95: {intent} F1 {f1:.2f}")
    errors = OUT / "intent_errors.json"
    if errors.exists():
        for e in json.loads(errors.read_text())[:15]:
            print(f"  miss: {e['text']!r} -> {e['intent_prediction']['name']} (want {e['intent']})")
    print_gibberish()
    return 0


def print_gibberish() -> None:
    """The share of keyboard mashes that come out as ``nlu_fallback`` (not a guessed intent)."""
    import asyncio

    from rasa.core.agent import Agent

    lines = [t.strip() for t in GIBBERISH.read_text().splitlines()]
    texts = [t for t in lines if t and not t.startswith("#")]
    agent = Agent.load(str(ROOT / "models" / "assistant.tar.gz"))
    results = [asyncio.run(agent.parse_message(t)) for t in texts]
    parsed = [r["intent"]["name"] for r in results]
    wrong = [(t, p) for t, p in zip(texts, parsed) if p != "nlu_fallback"]
    # DIET's own ranking (before nlu.unknown_words took its confidence away): what it would say
    guessed = sum(1 for r in results if r["intent_ranking"][1:2]
                  and r["intent_ranking"][1]["confidence"] >= 0.5)
    print(f"gibberish -> fallback: {1 - len(wrong) / len(texts):.3f} of {len(texts)} "
          f"(DIET alone: {1 - guessed / len(texts):.3f})")
    for text, intent in wrong:
        print(f"  guessed: {text!r} -> {intent}")


if __name__ == "__main__":
    sys.exit(main())
