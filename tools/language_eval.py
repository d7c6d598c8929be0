"""Score booking.language.detect on the labelled set (tests/nlu/language_samples.tsv): accuracy
overall and on two-to-five-word messages, on the check set at its end, a confusion count and the
misses; exit 1 below the target on two-to-five-word messages."""
from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional

from booking.language import detect

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "nlu" / "language_samples.tsv"
TARGET = 0.95
CHECK_MARK = "# check set"  # the comment line that starts the check set
MAX_MISSES = 20


@dataclass(frozen=True)
class Sample:
    """One labelled message: ``label`` is "en", "id" or None (``-``, says nothing)."""

    label: Optional[str]
    text: str
    check: bool

    @property
    def short(self) -> bool:
        """Two to five words (split on white space)."""
        return 2 <= len(self.text.split()) <= 5


def load(path: Path = SAMPLES) -> List[Sample]:
    """The labelled lines, ``label<TAB>text``; ``#`` lines are comments."""
    samples: List[Sample] = []
    check = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(CHECK_MARK):
            check = True
        if not line.strip() or line.startswith("#"):
            continue
        label, sep, text = line.partition("\t")
        if not sep or label not in ("en", "id", "-") or not text:
            raise ValueError(f"{path.name}:{number}: want 'en|id|-<TAB>text', got {line!r}")
        samples.append(Sample(None if label == "-" else label, text, check))
    return samples


def accuracy(samples: Iterable[Sample]) -> tuple[float, int]:
    """The share detected right (None on en/id, or a guess on ``-``, is wrong), and the count."""
    rows = list(samples)
    right = sum(detect(s.text) == s.label for s in rows)
    return (right / len(rows) if rows else 0.0), len(rows)


def main() -> int:
    """Print the figures and the misses; non-zero below the target on 2-5-word messages."""
    samples = load()
    figures = [("all", samples), ("2-5 words", [s for s in samples if s.short]),
               ("check set", [s for s in samples if s.check]),
               ("check set 2-5 words", [s for s in samples if s.check and s.short])]
    for name, rows in figures:
        share, count = accuracy(rows)
        print(f"{name + ':':22s}{share:.3f}  of {count}")
    confusion = Counter((s.label or "-", detect(s.text) or "-") for s in samples)
    print("confusion (label -> detected):")
    for want in ("en", "id", "-"):
        print(f"  {want:2s} -> " + "  ".join(f"{got}: {confusion[(want, got)]:3d}"
                                              for got in ("en", "id", "-")))
    misses = [s for s in samples if detect(s.text) != s.label]
    for s in misses[:MAX_MISSES]:
        print(f"  miss: {s.text!r} -> {detect(s.text) or '-'} (want {s.label or '-'})")
    if len(misses) > MAX_MISSES:
        print(f"  ... and {len(misses) - MAX_MISSES} more")
    short, _ = accuracy(s for s in samples if s.short)
    if short < TARGET:
        print(f"FAIL: {short:.3f} on 2-5-word messages, below {TARGET}")
        return 1
    print(f"ok: {short:.3f} on 2-5-word messages (target >= {TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
