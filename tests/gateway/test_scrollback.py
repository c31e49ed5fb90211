"""Unit tests of the bounded scrollback a reattaching terminal replays."""

from __future__ import annotations

import random

from jupyter_workbench.gateway.terminals import Scrollback


def test_short_output_is_kept_whole_and_in_order() -> None:
    scrollback = Scrollback(100)

    for chunk in ("$ echo hi\r\n", "hi\r\n", "", "$ "):
        scrollback.append(chunk)

    assert scrollback.text() == "$ echo hi\r\nhi\r\n$ "


def test_only_the_latest_characters_are_kept() -> None:
    scrollback = Scrollback(10)

    scrollback.append("abcdef")
    scrollback.append("ghijkl")

    assert scrollback.text() == "cdefghijkl"


def test_a_chunk_larger_than_the_limit_keeps_its_tail() -> None:
    scrollback = Scrollback(4)

    scrollback.append("ab")
    scrollback.append("0123456789")

    assert scrollback.text() == "6789"


def test_exactly_full_is_not_trimmed() -> None:
    scrollback = Scrollback(6)

    scrollback.append("abc")
    scrollback.append("def")

    assert scrollback.text() == "abcdef"


def test_limits_count_characters_not_bytes() -> None:
    scrollback = Scrollback(3)

    scrollback.append("日本語")
    scrollback.append("€")

    assert scrollback.text() == "本語€"


def test_zero_limit_keeps_nothing() -> None:
    scrollback = Scrollback(0)

    scrollback.append("anything")

    assert scrollback.text() == ""


def test_bound_and_order_hold_for_many_random_chunks() -> None:
    rng = random.Random(7)
    scrollback = Scrollback(1000)
    written = []

    for number in range(2000):
        chunk = f"<{number}>" * rng.randrange(0, 40)
        written.append(chunk)
        scrollback.append(chunk)

        assert len(scrollback.text()) <= 1000

    assert scrollback.text() == "".join(written)[-1000:]
