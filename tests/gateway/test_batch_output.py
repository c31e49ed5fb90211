"""The bounded per-host output buffer and the run options' checks."""

from __future__ import annotations

import pytest

from jupyter_workbench.gateway.batch import OutputBuffer, RunOptions, remote_command
from jupyter_workbench.gateway.errors import WorkbenchError


def test_small_output_is_kept_whole():
    buffer = OutputBuffer(keep=8)
    for chunk in (b"abc", b"def", b"ghij"):
        buffer.append(chunk)
    assert buffer.text() == "abcdefghij"
    assert (buffer.total, buffer.truncated) == (10, 0)


def test_large_output_keeps_head_and_tail_and_counts_the_rest():
    buffer = OutputBuffer(keep=4)
    for _ in range(1000):
        buffer.append(b"0123456789")
    assert bytes(buffer.head) == b"0123" and bytes(buffer.tail) == b"6789"
    assert buffer.total == 10000 and buffer.truncated == 10000 - 8
    assert buffer.text() == "0123\n[… 9992 bytes not kept …]\n6789"


def test_a_character_split_between_head_and_tail_survives_when_nothing_is_dropped():
    buffer = OutputBuffer(keep=1)
    buffer.append("é".encode())
    assert buffer.text() == "é"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("concurrency", 0, "concurrency"),
        ("command_timeout", -1, "Timeouts"),
        ("env", {"1BAD": "x"}, "not valid"),
        ("error_budget", "ten", "error_budget"),
        ("error_budget", "150%", "error_budget"),
    ],
)
def test_bad_options_are_refused(field, value, message):
    with pytest.raises(WorkbenchError, match=message):
        RunOptions(**{field: value}).check()


def test_error_budget_as_count_or_share():
    assert RunOptions(error_budget=3).budget(100) == 3
    assert RunOptions(error_budget="10%").budget(50) == 5
    assert RunOptions().budget(50) is None


def test_the_sudo_password_is_not_in_the_command_line_or_repr():
    options = RunOptions(sudo=True, sudo_password="s3cret", env={"A": "b c"})
    line = remote_command("echo hi", options, sudo_prompt=b"[p]")
    assert "s3cret" not in line and "s3cret" not in repr(options)
    assert line.startswith("exec sudo -S -k -p '[p]' -- /bin/sh -c")
    assert "export A=" in line and "wb-run 'echo hi'" in line
