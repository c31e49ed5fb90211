"""Binder: every Jupyter server of the image starts the workbench's demo instance.

postBuild appends this to the environment's ``jupyter_server_config.py``.
The demo is an SSH server on 127.0.0.1 inside the Jupyter server, so the
image needs no sshd.
"""

c = get_config()  # noqa: F821 - Jupyter defines get_config for config files
c.WorkbenchApp.demo = True
