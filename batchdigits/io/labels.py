"""The ``label`` column of a labels or corrections CSV: one ASCII digit, or empty for "not a digit"."""

from __future__ import annotations


def parse_label(text: str) -> int | None:
    """A label as written in a corrections file: ``"7"`` -> 7, ``""`` -> None (not a digit).

    Only one ASCII digit is a label; anything else raises ``ValueError``.

    >>> parse_label("7"), parse_label("")
    (7, None)
    """
    if text == "":
        return None
    if len(text) == 1 and "0" <= text <= "9":
        return int(text)
    raise ValueError(f"label must be a digit 0-9 or empty (not a digit), got {text!r}")
