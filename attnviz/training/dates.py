"""Written dates and their ISO form: the data of the two date-translation models.

The task: read a date written the way people write it and output ``YYYY-MM-DD``::

    "21 November 2026"                ->  "2026-11-21"
    "November 21, 2026"               ->  "2026-11-21"
    "Nov 21 2026"                     ->  "2026-11-21"
    "21 nov. 2026"                    ->  "2026-11-21"
    "Saturday, November 21, 2026"     ->  "2026-11-21"
    "the 21st of November, 2026"      ->  "2026-11-21"

Why this task is good for looking at attention: every output digit has a *known right place* in the
input. The year digits of ``2026-11-21`` come from ``2026``, the month digits from ``November`` and the
day digits from ``21st``. So a cross-attention map (BART) or a Bahdanau attention map (GRU) can be scored
against the truth, not just admired. :class:`DateExample` therefore carries the span of each field.

Spans
-----
``char_spans[field] = (start, end)`` are Python slice bounds into ``source``: ``source[start:end]`` is
the year (``"2026"``), the month (``"November"``, ``"Nov"``, ``"nov"`` — the abbreviation's dot is
punctuation, not the field) or the day (``"21"``, or ``"21st"`` with its ordinal suffix).

``token_spans`` are the same spans in *token* positions for the course's character-level tokenizers
(the BART tokenizer and the GRU vocabulary). Both put ``<s>`` at token index 0 and then one token per
character, so token index = character index + 1. For any other tokenizer use
:func:`token_spans_from_offsets` with the tokenizer's offset mapping.

Output side: in the 10-character target ``YYYY-MM-DD`` the digits of each field sit at
:data:`TARGET_POSITIONS` (year 0-3, month 5-6, day 8-9; the dashes at 4 and 7 belong to no field).

Everything is seeded: ``make_examples(1000, seed=7)`` returns the same 1,000 dates on every machine.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
MONTH_ABBREVIATIONS = tuple(name[:3] for name in MONTHS)  # "Jan" ... "Dec"
WEEKDAYS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)  # date.weekday() order

FIRST_DATE = dt.date(1900, 1, 1)
LAST_DATE = dt.date(2099, 12, 31)

# Each format is a list of pieces: literal text, or a field written a certain way.
# "{day}" = 21, "{ordinal}" = 21st, "{Month}" = November, "{Mon}" = Nov, "{mon}" = nov,
# "{year}" = 2026, "{Weekday}" = Saturday.
FORMATS: dict[str, str] = {
    "day_month_year": "{day} {Month} {year}",  # 21 November 2026
    "month_day_year": "{Month} {day}, {year}",  # November 21, 2026
    "mon_day_year": "{Mon} {day} {year}",  # Nov 21 2026
    "day_mon_dot_year": "{day} {mon}. {year}",  # 21 nov. 2026
    "weekday_month_day_year": "{Weekday}, {Month} {day}, {year}",  # Saturday, November 21, 2026
    "ordinal_of_month_year": "the {ordinal} of {Month}, {year}",  # the 21st of November, 2026
}

FIELDS = ("year", "month", "day")
TARGET_POSITIONS: dict[str, tuple[int, ...]] = {"year": (0, 1, 2, 3), "month": (5, 6), "day": (8, 9)}
TARGET_LENGTH = 10  # len("2026-11-21")

# Every character a source or a target can contain: the alphabet of the character-level models.
# (All letters, not only those the formats use, so that any typed date at least tokenizes.)
CHARACTERS = "0123456789-,. " + "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Seeds used by the course: training draws its stream from TRAIN_SEED, the model cards are measured on
# CARD_SEED, and the tests use their own seed. Fresh seeds give fresh samples.
TRAIN_SEED = 0
CARD_SEED = 1


def ordinal(day: int) -> str:
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 4 -> '4th', 11 -> '11th', 21 -> '21st', 22 -> '22nd'."""
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


@dataclass(frozen=True)
class DateExample:
    """One training or test pair, with the place of each field in the source."""

    source: str  # "the 21st of November, 2026"
    target: str  # "2026-11-21"
    date: dt.date
    format: str  # a key of FORMATS
    char_spans: dict[str, tuple[int, int]]  # field -> (start, end), source[start:end] is the field's text

    @property
    def token_spans(self) -> dict[str, tuple[int, int]]:
        """Field spans in token positions of the course's character tokenizers (``<s>`` is token 0)."""
        return {field: (start + 1, end + 1) for field, (start, end) in self.char_spans.items()}

    def field_text(self, field: str) -> str:
        start, end = self.char_spans[field]
        return self.source[start:end]


def render(date: dt.date, format_name: str) -> DateExample:
    """Write ``date`` in one of the :data:`FORMATS`, recording where each field lands."""
    values = {
        "{day}": ("day", str(date.day)),
        "{ordinal}": ("day", ordinal(date.day)),
        "{Month}": ("month", MONTHS[date.month - 1]),
        "{Mon}": ("month", MONTH_ABBREVIATIONS[date.month - 1]),
        "{mon}": ("month", MONTH_ABBREVIATIONS[date.month - 1].lower()),
        "{year}": ("year", str(date.year)),
        "{Weekday}": (None, WEEKDAYS[date.weekday()]),  # not a field of the output
    }
    template = FORMATS[format_name]
    source, spans = "", {}
    i = 0
    while i < len(template):
        # Is a placeholder starting here? Then append its value and remember its span.
        placeholder = next((p for p in values if template.startswith(p, i)), None)
        if placeholder is None:
            source += template[i]
            i += 1
            continue
        field, text = values[placeholder]
        if field is not None:
            spans[field] = (len(source), len(source) + len(text))
        source += text
        i += len(placeholder)
    return DateExample(source, date.isoformat(), date, format_name, spans)


def random_date(rng: random.Random) -> dt.date:
    """A date drawn uniformly from 1900-01-01 … 2099-12-31."""
    return FIRST_DATE + dt.timedelta(days=rng.randrange((LAST_DATE - FIRST_DATE).days + 1))


def make_examples(n: int, seed: int, formats: Sequence[str] | None = None) -> list[DateExample]:
    """``n`` random dates, each in a random format from ``formats`` (default: all of them)."""
    rng = random.Random(seed)
    formats = list(formats or FORMATS)
    return [render(random_date(rng), rng.choice(formats)) for _ in range(n)]


def example_stream(seed: int, formats: Sequence[str] | None = None):
    """An endless, seeded stream of examples (the training data)."""
    rng = random.Random(seed)
    formats = list(formats or FORMATS)
    while True:
        yield render(random_date(rng), rng.choice(formats))


def token_spans_from_offsets(
    char_spans: dict[str, tuple[int, int]], offsets: Sequence[tuple[int, int]]
) -> dict[str, tuple[int, int]]:
    """Map character spans to token spans with a tokenizer's offset mapping.

    ``offsets[i] = (start, end)`` is the character range of token ``i`` (what a fast tokenizer returns
    with ``return_offsets_mapping=True``; special tokens have ``(0, 0)``). A field's token span runs from
    the first to the last token that overlaps the field's characters.
    """
    token_spans = {}
    for field, (start, end) in char_spans.items():
        hits = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
        if not hits:
            raise ValueError(f"no token overlaps the {field} characters {start}:{end}")
        token_spans[field] = (hits[0], hits[-1] + 1)
    return token_spans
