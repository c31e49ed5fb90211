"""``wb.run``, ``%workbench run`` and the command cell in a real kernel.

The kernel is started by a real Jupyter server, so the client uses the
REST API and follows the run over the events websocket.
"""

from __future__ import annotations

import textwrap

from labserver import LabServer, execute
from sshd import LocalUser, SSHServer


def test_runs_from_a_kernel_over_rest(
    lab: LabServer, sshd: SSHServer, ssh_user: LocalUser
):
    code = textwrap.dedent(f"""
        from jupyter_workbench import Workbench
        wb = Workbench()
        print("backend", wb.backend.description.split()[0])
        wb.login("real", {ssh_user.name!r}, password={ssh_user.password!r},
                 host_key={sshd.host_key_fingerprint!r})
        %load_ext jupyter_workbench
        r = %workbench run real -- echo $((6*7))
        print("magic", r.ok, repr(r["real"].stdout))
        r2 = wb.run("real", "echo bad >&2; exit 3", live=False)
        print("failed", r2.failed, r2["real"].exit_status, repr(r2["real"].stderr))
        cell = wb.command_cell(targets="real", command="echo cell-$((1+1))")
        cell.run()
        cell.finished.wait(30)
        print("cell", cell.result.ok, cell.result["real"].stdout.strip())
    """)

    output = execute(lab, code)

    assert "backend server" in output
    assert "real | 42" in output
    assert "magic ['real'] '42\\n'" in output
    assert "failed ['real'] 3 'bad\\n'" in output
    assert "cell ['real'] cell-2" in output
    assert ssh_user.password not in lab.log_text()
