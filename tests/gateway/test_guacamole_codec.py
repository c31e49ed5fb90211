"""The Guacamole instruction codec: lengths, split input, malformed input."""

from __future__ import annotations

import random

import pytest

from jupyter_workbench.gateway.guacamole import (
    CODE_POINTS,
    UTF16_UNITS,
    GuacamoleProtocolError,
    InstructionParser,
    decode,
    describe_status,
    element_length,
    encode,
    error_from,
)

MIXED = ("name", "桌面 ✓ 🖥 é", "", "a,b;c.d")


def test_encode_counts_code_points_for_guacd():
    assert encode(("size", "0", "1024", "768")) == "4.size,1.0,4.1024,3.768;"
    assert encode(("name", "桌面🖥")) == "4.name,3.桌面🖥;"


def test_encode_counts_utf16_units_for_the_browser():
    # guacamole-common-js measures JavaScript strings: an emoji is two units.
    assert encode(("name", "桌面🖥"), UTF16_UNITS) == "4.name,4.桌面🖥;"
    assert element_length("🖥", UTF16_UNITS) == 2
    assert element_length("🖥", CODE_POINTS) == 1


@pytest.mark.parametrize("units", [CODE_POINTS, UTF16_UNITS])
def test_round_trip_with_cjk_emoji_and_separators_in_values(units):
    text = encode(MIXED, units) + encode(("nop",), units)

    assert decode(text, units) == [MIXED, ("nop",)]


@pytest.mark.parametrize("units", [CODE_POINTS, UTF16_UNITS])
def test_instructions_split_anywhere_are_reassembled(units):
    text = "".join(encode((*MIXED, str(n)), units) for n in range(30))
    rng = random.Random(3)

    for _ in range(50):
        parser = InstructionParser(units)
        got = []
        position = 0
        while position < len(text):
            step = rng.randint(1, 9)
            got.extend(parser.feed(text[position : position + step]))
            position += step
        assert got == [(*MIXED, str(n)) for n in range(30)]
        assert not parser.pending


def test_one_character_at_a_time():
    parser = InstructionParser()
    got = []
    for character in "4.size,1.0,4.1024,3.768;3.nop;":
        got.extend(parser.feed(character))

    assert got == [("size", "0", "1024", "768"), ("nop",)]


def test_code_point_lengths_read_as_utf16_lengths_are_refused():
    # What a browser would get if the tunnel did not re-encode: the length
    # ends the element early, and the next character is not a terminator.
    with pytest.raises(GuacamoleProtocolError, match="followed by"):
        decode(encode(("name", "🖥x")), UTF16_UNITS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x.size;", "Malformed Guacamole element length"),
        ("4size;", "Malformed Guacamole element length"),
        ("-1.a;", "Malformed"),
        ("4.sizeX", "followed by 'X'"),
        ("٤.size;", "Malformed"),
        ("99999999999.a;", "Malformed"),
    ],
)
def test_malformed_input_is_refused_with_a_clear_error(text, message):
    with pytest.raises(GuacamoleProtocolError, match=message):
        InstructionParser().feed(text)


def test_truncated_input_is_an_error_for_decode():
    with pytest.raises(GuacamoleProtocolError, match="Incomplete"):
        decode("4.size,1.0")


def test_oversized_instructions_are_refused():
    parser = InstructionParser(max_instruction=100)

    with pytest.raises(GuacamoleProtocolError, match="500 characters is too long"):
        parser.feed("4.blob,1.1," + "500." + "a" * 200)
    with pytest.raises(GuacamoleProtocolError, match="longer than 100"):
        InstructionParser(max_instruction=100).feed("4.blob" + ",1.a" * 60)


def test_encode_refuses_non_strings_and_empty_instructions():
    with pytest.raises(ValueError):
        encode(())
    with pytest.raises(ValueError):
        encode(("size", 1))  # type: ignore[arg-type]


def test_guacd_errors_say_what_the_status_means():
    error = error_from(("error", "Authentication failure", "769"))

    assert error.details["status"] == 0x0301
    assert error.details["status_name"] == "CLIENT_UNAUTHORIZED"
    assert "refused the user name or password" in error.message
    assert "Authentication failure" in error.message
    assert "cannot reach the remote desktop server" in describe_status(0x0207)
    assert "0x0999" in describe_status(0x0999)
