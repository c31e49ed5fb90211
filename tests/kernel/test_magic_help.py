"""``%workbench`` help, usage errors and Tab completion.

Completion is checked twice: the pure `complete` function, and a real
IPython kernel started by a real Jupyter server answering a
``complete_request`` sent with jupyter_client, with the names coming
from that server over REST.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.blocking import BlockingKernelClient
from labserver import LabServer

from jupyter_workbench.gateway.policy import ACTIONS
from jupyter_workbench.kernel.client import Workbench
from jupyter_workbench.kernel.magic_help import SUBCOMMANDS, complete
from jupyter_workbench.kernel.magics import WorkbenchMagics

EVERY = [
    "hosts",
    "connect",
    "terminal",
    "run",
    "upload",
    "download",
    "users",
    "logons",
    "services",
    "rdp",
    "policy",
    "login",
    "logout",
    "diagnose",
]
NAMES = ["web-1", "web-2", "db"]


@pytest.fixture
def magics(tmp_path: Path, monkeypatch) -> Iterator[WorkbenchMagics]:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/config instances
    inventory = tmp_path / "fleet.toml"
    inventory.write_text(
        "".join(
            f'[[instances]]\nname = "{n}"\nhost = "10.0.0.{i}"\nuser = "ops"\n'
            for i, n in enumerate(NAMES, 5)
        )
        + '[[instances]]\nname = "win"\nhost = "10.0.0.9"\nprotocol = "rdp"\n'
    )
    wb = Workbench(inventory=inventory, data_dir=tmp_path / "data")
    yield WorkbenchMagics(None, lambda: wb)
    wb.close()


def test_help_lists_every_sub_command_with_its_usage(magics, capsys):
    magics.workbench("help")
    listed = capsys.readouterr().out
    magics.workbench("")
    assert capsys.readouterr().out == listed

    lines = listed.splitlines()
    for name in EVERY:
        (line,) = [x for x in lines if x.startswith(f"%workbench {name} ")]
        assert SUBCOMMANDS[name].usage in line and SUBCOMMANDS[name].summary in line


@pytest.mark.parametrize("name", EVERY)
def test_help_of_one_sub_command_and_its_help_option_agree(magics, capsys, name):
    magics.workbench(f"help {name}")
    text = capsys.readouterr().out
    args = "web-1 --help -- ls" if name == "run" else "web-1 --help"
    magics.workbench(f"{name} -h")
    assert capsys.readouterr().out == text
    magics.workbench(f"{name} {args}")
    out = capsys.readouterr()

    assert text.startswith(SUBCOMMANDS[name].synopsis + "\n")
    assert out.err == "" and out.out == text


def test_run_help_option_is_only_read_before_the_command(magics, capsys):
    # "-h" after "--" belongs to the remote command; no host is logged in,
    # so the run itself is what fails (as one line).
    magics.workbench("run nowhere -- ls -h")
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1
    assert "nowhere" in out.err


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("logni web-1", "unknown sub-command 'logni'; did you mean 'login'?"),
        ("frobnicate", "unknown sub-command 'frobnicate'; %workbench help"),
        ("help frobnicate", "unknown sub-command 'frobnicate'"),
        ("login", "wrong arguments for 'login'; usage: %workbench login NAME [USER]"),
        ("diagnose a b", "wrong arguments for 'diagnose'; usage: %workbench diagnose"),
        ("upload only-one", "wrong arguments for 'upload'; usage: %workbench upload"),
        ("policy show x y z", "wrong arguments for 'policy'; usage: %workbench policy"),
        ("rdp win --size big", "--size 'big' is not WIDTHxHEIGHT; usage:"),
        ("rdp win --domain", "--domain needs a value; usage:"),
        ("rdp win bob carol", "unexpected 'carol'; usage:"),
        ("login 'web-1", "No closing quotation in: login 'web-1"),
        ("diagnose nowhere", "No instance named 'nowhere'"),
        ("run", "Name the targets"),
        ("run web-1 --bogus -- true", "Unknown option --bogus"),
        ("upload /no/such/file web-1:/tmp", "No local file matches /no/such/file"),
    ],
)
def test_errors_are_one_line_without_traceback(magics, capsys, line, expected):
    assert magics.workbench(line) is None

    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("workbench: ") and out.err.count("\n") == 1
    assert expected in out.err


def test_only_run_takes_a_cell_body(magics, capsys):
    magics.workbench("hosts", "echo hi\n")
    assert capsys.readouterr().err == (
        "workbench: only 'run' takes a cell body: %%workbench run TARGETS\n"
    )


def test_rdp_asks_for_the_password_and_needs_the_server(magics, capsys, monkeypatch):
    prompts = []
    monkeypatch.setattr(
        "getpass.getpass", lambda prompt: prompts.append(prompt) or "s3cret"
    )

    magics.workbench("rdp win Administrator --domain CORP --size 800x600")

    assert prompts == ["Password for Administrator@win: "]
    err = capsys.readouterr().err
    assert err.startswith("workbench: A remote desktop needs the Jupyter server")
    assert err.count("\n") == 1 and "s3cret" not in err


def test_local_file_errors_are_one_line(magics, capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")

    magics.workbench(f"download web-1:/etc/hostname {blocker}/sub")

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(blocker) in err and "Traceback" not in err


def names() -> list[str]:
    return NAMES


@pytest.mark.parametrize(
    ("before", "fragment", "matches"),
    [
        ("%workbench ", "", list(SUBCOMMANDS)),
        ("%workbench lo", "lo", ["login", "logout", "logons"]),
        ("%workbench help r", "r", ["run", "rdp"]),
        ("%workbench diagnose ", "", NAMES),
        ("%workbench terminal we", "we", ["web-1", "web-2"]),
        ("%workbench logons db ", "", []),
        ("x = %workbench run w", "w", ["web-1", "web-2"]),
        ("%%workbench run web-1,", "web-1,", ["web-1,web-2", "web-1,db", "web-1,all"]),
        ("%workbench run web-1 --t", "--t", ["--timeout"]),
        ("%workbench run web-1 --cwd /tmp ", "", []),
        ("%workbench download d", "d", ["db:"]),
        ("%workbench policy ", "", ["check"]),
        ("%workbench policy check ", "", []),
        ("%workbench policy check bob ", "", [a.split(":")[1] for a in ACTIONS]),
        ("%workbench policy check bob Run", "Run", ["RunCommand"]),
        ("%workbench policy check bob RunCommand w", "w", ["web-1", "web-2"]),
        ("%workbench rdp db --size 800x600 ", "", []),
    ],
)
def test_completion_of_sub_commands_names_and_options(before, fragment, matches):
    found = complete(before, names)

    assert found is not None and found.exclusive
    assert (found.fragment, found.matches) == (fragment, matches)


@pytest.mark.parametrize(
    "before",
    [
        "%workbench",  # the magic's own name: IPython completes magics
        "print(1)",
        "%workbench run all -- ls /",  # a shell command: IPython's completion
        "%workbench download web-1:/var/",
        "%workbench download web-1:/etc/hostname ./lo",
    ],
)
def test_completion_leaves_other_lines_to_ipython(before):
    assert complete(before, names) is None


def test_upload_completion_offers_hosts_next_to_local_files():
    found = complete("%workbench upload a.csv w", names)
    assert found is not None and not found.exclusive
    assert found.matches == ["web-1:", "web-2:"]


def test_completion_never_asks_for_names_it_does_not_need():
    def no_names() -> list[str]:
        raise AssertionError("instance names were fetched")

    assert complete("%workbench lo", no_names) is not None
    assert complete("%workbench policy check bob L", no_names) is not None


def test_tab_completion_in_a_kernel_of_a_real_server(lab: LabServer):
    status, kernel = lab.call("POST", "api/kernels", {"name": "python3"})
    assert status == 201, kernel
    client = BlockingKernelClient()
    connection = lab.directory / "runtime" / f"kernel-{kernel['id']}.json"
    client.load_connection_info(json.loads(connection.read_text()))
    client.start_channels()
    try:
        # Not wait_for_ready(): without a manager it takes a heartbeat missed
        # on a busy machine for a dead kernel.
        client.kernel_info()
        assert client.get_shell_msg(timeout=120)["msg_type"] == "kernel_info_reply"
        reply = client.execute_interactive(
            "%load_ext jupyter_workbench", timeout=120, output_hook=lambda m: None
        )
        assert reply["content"]["status"] == "ok"

        def matches(code: str) -> tuple[list[str], int]:
            client.complete(code, len(code))
            content = client.get_shell_msg(timeout=120)["content"]
            return content["matches"], content["cursor_start"]

        assert matches("%workbench ") == (list(SUBCOMMANDS), 11)
        assert matches("%workbench te") == (["terminal"], 11)
        # The instance names come from the server over REST.
        assert matches("x = 1\n%workbench diagnose r") == (["real"], 26)
        assert matches("%%workbench run real,") == (["real,all"], 16)
    finally:
        client.stop_channels()
        lab.call("DELETE", f"api/kernels/{kernel['id']}")
