"""The jupyter-server extension: configuration, the gateway, and routes."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Bool, Dict, Enum, Float, Int, List, Unicode

from ..gateway.access import AccessConfig
from ..gateway.demo import DemoInstance
from ..gateway.gateway import DemoLogin, Gateway, GatewayConfig
from ..gateway.inventory import (
    Instance,
    Inventory,
    instance_from_mapping,
    load_file,
    load_ssh_config,
)
from ..gateway.network import DEFAULT_ALLOW, DEFAULT_DENY
from ..gateway.policy import SESSION_RECORDED, parse_groups, parse_policies
from ..gateway.rdp import SECURITY_MODES, RDPConfig, RDPService
from . import (
    access_handlers,
    handlers,
    rdp,
    rdp_tunnel,
    runs,
    system_handlers,
    terminal_socket,
)
from .files import route_table as file_routes

API = "workbench/api/v1"
DEMO_NAME = "demo"


class WorkbenchApp(ExtensionApp):
    """Instance terminals over SSH, from JupyterLab and from kernels."""

    name = "jupyter_workbench"
    description = __doc__

    inventory_file = Unicode(
        "",
        config=True,
        help="An inventory file (TOML or JSON) of instances; see docs/inventory.md.",
    )
    instances = List(
        Dict(),
        config=True,
        help="Instances given in config, each a dict with the inventory fields.",
    )
    ssh_config = Unicode(
        "~/.ssh/config",
        allow_none=True,
        config=True,
        help="An OpenSSH client config whose concrete Host entries become instances "
        "(None to ignore it).",
    )
    allow = List(
        Unicode(),
        list(DEFAULT_ALLOW),
        config=True,
        help="Networks (and ports) the gateway may connect to: 'CIDR' or 'CIDR 22' "
        "or 'CIDR 22-2222'.",
    )
    deny = List(
        Unicode(),
        list(DEFAULT_DENY),
        config=True,
        help="Networks the gateway must never connect to; wins over allow. The default "
        "refuses cloud metadata services and link-local addresses.",
    )
    connect_timeout = Float(
        10.0, config=True, help="Seconds to wait for a TCP connection."
    )
    handshake_timeout = Float(
        20.0,
        config=True,
        help="Seconds for the SSH handshake after TCP connects (prompts not counted).",
    )
    keepalive_interval = Float(
        30.0, config=True, help="Seconds between SSH keepalives; 0 turns them off."
    )
    channels_per_connection = Int(
        10,
        config=True,
        help="Sessions carried by one SSH connection before another is opened "
        "(OpenSSH's MaxSessions is 10 by default).",
    )
    idle_timeout = Float(
        600.0, config=True, help="Seconds a connection with no session stays open."
    )
    scrollback = Int(
        256 * 1024,
        config=True,
        help="Characters of output kept for reattaching terminals.",
    )
    demo = Bool(
        False,
        config=True,
        help="Start a built-in demo instance on 127.0.0.1 (what 'jupyter workbench demo' does).",
    )
    principal_mode = Enum(
        ["auto", "user", "owner"],
        "auto",
        config=True,
        help="Whose state a request uses: 'user' keys logins and terminals by Jupyter "
        "user name; 'owner' shares them among everybody who can use this server; "
        "'auto' picks 'owner' for jupyter-server's own token or password login "
        "(whose browsers get random anonymous names) and 'user' otherwise.",
    )
    data_dir = Unicode(
        "",
        config=True,
        help="Where per-user known_hosts files live (default: the Jupyter data dir).",
    )
    policies = List(
        Dict(),
        config=True,
        help="Access policies, each {'name', 'document', 'users', 'groups'} where "
        "'document' is a RAM-style policy document; see docs/api.md. With no "
        "policy and no policy_file, every user may do everything.",
    )
    policy_file = Unicode(
        "",
        config=True,
        help="A JSON file {'policies': [...], 'groups': {...}} of access policies, "
        "re-read when it changes; while it is invalid every action is denied.",
    )
    groups = Dict(
        config=True,
        help="Group memberships for policies: {'group': ['user', ...]}, added to "
        "the groups the identity provider (JupyterHub) reports.",
    )
    admin_users = List(
        Unicode(),
        config=True,
        help="Users who may create, rotate and install the gateway key and see "
        "everybody's recordings and policy decisions (the server's owner is one in "
        "owner mode).",
    )
    audit_log = Unicode(
        "",
        config=True,
        help="The audit log file, JSON lines (default: audit.jsonl in the data dir).",
    )
    instance_groups = Dict(
        value_trait=List(Unicode()),
        config=True,
        help="Named groups of instances for batch runs, selected as '@name': "
        "{'db': ['db-1', 'db-2']}. An instance can also join groups with its "
        "tag group = 'db,backup'.",
    )
    record_terminals = Bool(
        False,
        config=True,
        help="Record terminal output in asciicast v2 files under the data dir.",
    )

    guacd_host = Unicode(
        "127.0.0.1",
        config=True,
        help="Where guacd (Apache Guacamole's proxy daemon) listens, for remote "
        "desktops to RDP instances.",
    )
    guacd_port = Int(4822, config=True, help="guacd's TCP port.")
    rdp_security = Enum(
        list(SECURITY_MODES),
        "any",
        config=True,
        help="RDP security mode guacd negotiates: any, nla, nla-ext, tls, "
        "vmconnect or rdp.",
    )
    rdp_ignore_cert = Bool(
        True,
        config=True,
        help="Accept the RDP server's certificate without checking it (Windows "
        "servers usually present a self-signed one).",
    )
    guacamole_url = Unicode(
        "",
        config=True,
        help="A Guacamole web app with the encrypted JSON auth extension, e.g. "
        "'https://guac.example.com/guacamole'. When set, remote desktops open in "
        "that app instead of through guacd directly.",
    )
    guacamole_json_secret = Unicode(
        "",
        config=True,
        help="The web app's json-secret-key (32 hexadecimal digits), used to sign "
        "and encrypt the sign-in JSON. Keep it out of shared config files.",
    )

    gateway: Gateway
    demo_instance: DemoInstance | None = None

    def initialize_settings(self) -> None:
        # The gateway logs through module loggers; give them the server's
        # handlers and level so that --log-level and the server's format
        # apply, while records still propagate to the root logger as usual.
        package_log = logging.getLogger("jupyter_workbench")
        for handler in self.log.handlers:
            if handler not in package_log.handlers:
                package_log.addHandler(handler)
        package_log.setLevel(self.log.getEffectiveLevel())

        inventory = self._load_inventory()
        data_dir = Path(self.data_dir or os.path.join(jupyter_data_dir(), "workbench"))
        config = GatewayConfig(
            data_dir=data_dir,
            allow=self.allow,
            deny=self.deny,
            connect_timeout=self.connect_timeout,
            handshake_timeout=self.handshake_timeout,
            keepalive_interval=self.keepalive_interval,
            channels_per_connection=self.channels_per_connection,
            idle_timeout=self.idle_timeout,
            scrollback=self.scrollback,
            groups={k: list(v) for k, v in self.instance_groups.items()},
            access=self._access_config(),
        )
        self.gateway = Gateway(inventory, config)
        self.rdp = RDPService(
            inventory,
            self.gateway.rules,
            RDPConfig(
                guacd_host=self.guacd_host,
                guacd_port=self.guacd_port,
                connect_timeout=self.connect_timeout,
                security=self.rdp_security,
                ignore_cert=self.rdp_ignore_cert,
            ),
            authorize=self._rdp_authorizer(),
            audit=self.gateway.access.audit,
        )
        self.kernel_key = secrets.token_urlsafe(32)
        # Requests wait for the demo instance, which starts once the loop runs.
        self.started = asyncio.Event()
        if not self.demo:
            self.started.set()
        self.settings.update(
            workbench_gateway=self.gateway,
            workbench_kernel_key=self.kernel_key,
            workbench_started=self.started,
            workbench_owner=self._owner(),
            workbench_rdp=self.rdp,
            workbench_guacamole_url=self.guacamole_url,
            workbench_guacamole_json_secret=self.guacamole_json_secret,
        )
        self.log.info(
            "Workbench: %d instances; known_hosts under %s", len(inventory), data_dir
        )

    def initialize_handlers(self) -> None:
        name = r"(?P<name>[^/]+)"
        run = r"(?P<run_id>[0-9a-f]+)"
        self.handlers.extend(
            [
                (f"{API}/instances", handlers.InstancesHandler),
                (f"{API}/instances/{name}/login", handlers.LoginHandler),
                (
                    f"{API}/instances/{name}/login/(?P<challenge>[0-9a-f]+)",
                    handlers.LoginHandler,
                ),
                (f"{API}/instances/{name}/hostkey", handlers.HostKeyHandler),
                (f"{API}/instances/{name}/diagnose", handlers.DiagnoseHandler),
                *file_routes(API, name),
                *system_handlers.routes(API, name),
                (f"{API}/terminals", handlers.TerminalsHandler),
                (
                    f"{API}/terminals/(?P<terminal_id>[0-9a-f]+)",
                    handlers.TerminalHandler,
                ),
                (
                    f"{API}/terminals/(?P<terminal_id>[0-9a-f]+)/channel",
                    terminal_socket.TerminalSocketHandler,
                ),
                *access_handlers.routes(API),
                (f"{API}/runs", runs.RunsHandler),
                (f"{API}/runs/{run}", runs.RunHandler),
                (f"{API}/runs/{run}/rerun", runs.RerunHandler),
                (
                    f"{API}/runs/{run}/compare/(?P<other_id>[0-9a-f]+)",
                    runs.CompareHandler,
                ),
                (f"{API}/runs/{run}/events", runs.RunEventsHandler),
                (f"{API}/rdp", rdp.RDPSessionsHandler),
                (
                    f"{API}/rdp/(?P<session_id>[0-9a-f]+)/tunnel",
                    rdp_tunnel.RDPTunnelHandler,
                ),
                (r"workbench/static/(?P<path>[A-Za-z0-9_.-]+)", rdp.StaticPageHandler),
            ]
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        try:
            if self.demo:
                await self._start_demo()
        finally:
            self.started.set()
        self._publish_for_kernels()

    async def stop_extension(self) -> None:
        await self.gateway.close()
        if self.demo_instance is not None:
            self.demo_instance.close()
            await self.demo_instance.wait_closed()

    async def _start_demo(self) -> None:
        demo = await DemoInstance.start("127.0.0.1", 0)
        self.demo_instance = demo
        instance = Instance(
            id="i-demo",
            name=DEMO_NAME,
            host=demo.host,
            port=demo.port,
            user=demo.username,
            tags={"env": "demo"},
            source="demo",
        )
        self.gateway.add_demo(
            instance, DemoLogin(demo.username, demo.password, demo.host_key)
        )
        self.log.info(
            "Workbench demo instance '%s' listening on %s:%s (host key %s)",
            DEMO_NAME,
            demo.host,
            demo.port,
            demo.host_key_fingerprint,
        )

    def _publish_for_kernels(self) -> None:
        # Kernels inherit the server's environment: this is how a notebook's
        # Workbench() finds its server without a pasted URL or token.
        serverapp = self.serverapp
        if serverapp is None or serverapp.sock:
            return
        host = (
            serverapp.ip
            if serverapp.ip not in ("", "0.0.0.0", "::", "*")
            else "127.0.0.1"
        )
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if serverapp.certfile else "http"
        url = url_path_join(f"{scheme}://{host}:{serverapp.port}", serverapp.base_url)
        os.environ["JUPYTER_WORKBENCH_URL"] = url
        os.environ["JUPYTER_WORKBENCH_KEY"] = self.kernel_key

    def _rdp_authorizer(self) -> Any:
        # The gateway's policy check (access policies) takes an instance name.
        authorize = getattr(self.gateway, "authorize", None)
        if authorize is None:
            return None
        # The gateway does not record desktops: a policy that allows them only
        # as recorded sessions refuses them.
        unrecorded = {SESSION_RECORDED: False}
        return lambda principal, action, instance: authorize(
            principal, action, instance.name, context=unrecorded
        )

    def _access_config(self) -> AccessConfig:
        owner = self._owner()
        return AccessConfig(
            policies=parse_policies(self.policies, where="WorkbenchApp.policies"),
            policy_file=Path(self.policy_file).expanduser()
            if self.policy_file
            else None,
            groups=parse_groups(self.groups, where="WorkbenchApp.groups"),
            admins={*self.admin_users, *([owner] if owner else [])},
            audit_file=Path(self.audit_log).expanduser() if self.audit_log else None,
            record_terminals=self.record_terminals,
        )

    def _owner(self) -> str | None:
        mode = self.principal_mode
        if mode == "auto":
            provider = (
                type(self.serverapp.identity_provider) if self.serverapp else None
            )
            stock = (
                provider is not None
                and provider.__module__ == "jupyter_server.auth.identity"
            )
            mode = "owner" if stock else "user"
        if mode == "user":
            return None
        return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()

    def _load_inventory(self) -> Inventory:
        inventory = Inventory()
        if self.inventory_file:
            for instance in load_file(self.inventory_file):
                inventory.add(instance)
        for index, entry in enumerate(self.instances):
            where = f"WorkbenchApp.instances[{index}]"
            inventory.add(instance_from_mapping(entry, where=where, source="config"))
        if self.ssh_config:
            for instance in load_ssh_config(self.ssh_config):
                inventory.add(instance)
        return inventory
