"""``wb.users/logons/services``, ``wb.system`` and ``%workbench users|logons|services``.

In-process against the real sshd, and from a kernel of a real Jupyter
server (the REST backend) for the magics.
"""

from __future__ import annotations

import os
import pwd
import secrets
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from labserver import LabServer, execute
from sshd import USER_COMMENT, USER_PREFIX, LocalUser, SSHServer
from wbtest import local_workbench

from jupyter_workbench.gateway.errors import WorkbenchError
from jupyter_workbench.gateway.system import LogonRecord, ServiceInfo, UserInfo
from jupyter_workbench.kernel.client import Workbench


@pytest.fixture
def wb(
    tmp_path: Path, monkeypatch, sshd: SSHServer, sudo_user: LocalUser
) -> Iterator[Workbench]:
    client = local_workbench(tmp_path, monkeypatch, sshd, sudo_user)
    yield client
    client.close()


def test_tables_of_users_logons_and_services_in_process(wb: Workbench, sudo_user):
    users = wb.users("real")
    logons = wb.logons("real", user=sudo_user.name)
    services = wb.services("real")

    mine = next(u for u in users if u.name == sudo_user.name)
    assert isinstance(mine, UserInfo) and mine.sudo is True and mine.locked is False
    assert all(isinstance(r, LogonRecord) and r.user == sudo_user.name for r in logons)
    assert all(isinstance(s, ServiceInfo) for s in services)
    assert "ssh" in {s.name for s in services}
    html = users._repr_html_()
    assert "<table>" in html and sudo_user.name in html


def test_system_changes_in_process(wb: Workbench):
    name = USER_PREFIX + secrets.token_hex(3)
    system = wb.system("real")
    try:
        created = system.create_user(name, comment=f"{USER_COMMENT}{os.getpid()}")
        assert created.name == name and pwd.getpwnam(name)
        assert system.lock_user(name).locked is True
        assert system.unlock_user(name).locked is False
        assert system.grant_sudo(name).sudo is True
        system.delete_user(name, remove_home=True)
        with pytest.raises(KeyError):
            pwd.getpwnam(name)
    finally:
        try:
            entry = pwd.getpwnam(name)
            LocalUser(name, "", Path(entry.pw_dir)).delete()
        except KeyError:
            pass


def test_to_dataframe_without_pandas_says_what_to_install(wb: Workbench, monkeypatch):
    users = wb.users("real")
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if pandas were absent

    with pytest.raises(WorkbenchError, match="pip install pandas"):
        users.to_dataframe()


def test_magics_list_users_logons_and_services_from_a_kernel(
    lab: LabServer, sshd: SSHServer, sudo_user: LocalUser
):
    code = textwrap.dedent(f"""
        from jupyter_workbench import Workbench
        Workbench().login("real", {sudo_user.name!r}, password={sudo_user.password!r},
                          host_key={sshd.host_key_fingerprint!r})
        %load_ext jupyter_workbench
        users = %workbench users real
        logons = %workbench logons real {sudo_user.name}
        services = %workbench services real
        print("users", sorted(u.name for u in users if u.name == {sudo_user.name!r}))
        print("sudo", [u.sudo for u in users if u.name == {sudo_user.name!r}])
        print("logons", {{r.user for r in logons}} <= {{{sudo_user.name!r}}})
        print("services", "ssh" in {{s.name for s in services}})
        print("html", "<table>" in users._repr_html_())
    """)

    output = execute(lab, code)

    assert f"users ['{sudo_user.name}']" in output
    assert "sudo [True]" in output
    assert "logons True" in output and "services True" in output
    assert "html True" in output
