"""The Gateway: the one object that decides who may reach what, and reaches it.

It owns the inventory, the network rules, the principals' known_hosts,
the connection pool and the terminal sessions. Server handlers and the
in-process notebook client are thin layers over it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .access import Access, AccessConfig
from .batch import BatchRun, RunOptions, RunRegistry
from .connect import Connector, LoginChallenge
from .credentials import Credentials
from .diagnose import Diagnosis, diagnose
from .direct import connect_once
from .errors import (
    HostKeyChanged,
    HostKeyError,
    NotLoggedIn,
    SSHError,
    TerminalNotFound,
    WorkbenchError,
)
from .file_audit import AuditedFiles
from .hostkeys import KnownHosts, fingerprint, principal_file
from .inventory import Instance, Inventory
from .network import DEFAULT_ALLOW, DEFAULT_DENY, NetworkRules
from .policy import (
    DOWNLOAD_FILE,
    LOGIN,
    RUN_COMMAND,
    SESSION_RECORDED,
    UPLOAD_FILE,
    Decision,
)
from .pool import ConnectionPool, Login
from .system import CHANGE_ACTION, READ_ACTION, RemoteShell, SystemManager
from .targets import select
from .terminals import TerminalSession

log = logging.getLogger(__name__)


@dataclass
class GatewayConfig:
    """Settings of a `Gateway`; the server fills it from traitlets."""

    data_dir: Path
    allow: Iterable[str] = DEFAULT_ALLOW
    deny: Iterable[str] = DEFAULT_DENY
    connect_timeout: float = 10.0
    handshake_timeout: float = 20.0
    keepalive_interval: float = 30.0
    channels_per_connection: int = 10
    idle_timeout: float = 600.0
    scrollback: int = 256 * 1024
    term: str = "xterm-256color"
    env: dict[str, str] = field(default_factory=lambda: {"LANG": "C.UTF-8"})
    access: AccessConfig = field(default_factory=AccessConfig)
    #: Named groups of instance names for batch-run selections (``@name``).
    groups: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class DemoLogin:
    """Credentials and host key the gateway holds for the built-in demo."""

    username: str
    password: str
    host_key: Any


class Gateway:
    """Instances, logins and terminals for every principal.

    Parameters
    ----------
    inventory
        The instances that can be reached.
    config
        Network rules, timeouts and limits.
    """

    def __init__(self, inventory: Inventory, config: GatewayConfig) -> None:
        self.inventory = inventory
        self.config = config
        self.rules = NetworkRules(config.allow, config.deny)
        connector = Connector(
            self.rules,
            connect_timeout=config.connect_timeout,
            handshake_timeout=config.handshake_timeout,
            keepalive_interval=config.keepalive_interval,
        )
        self._connector = connector
        self.pool = ConnectionPool(
            inventory,
            connector,
            self.known_hosts,
            channels_per_connection=config.channels_per_connection,
            idle_timeout=config.idle_timeout,
        )
        self._terminals: dict[str, TerminalSession] = {}
        self._system_shells: dict[tuple[str, str, str], tuple[Login, RemoteShell]] = {}
        self._sudo_passwords: dict[tuple[str, str, str], str] = {}
        self._files: dict[tuple[str, str], AuditedFiles] = {}
        self.access = Access(config.access, config.data_dir)
        self._demo: dict[str, DemoLogin] = {}
        self.runs = RunRegistry(self.pool, audit=self._audit_run)

    # -- instances --------------------------------------------------------

    def instances(self, principal: str) -> list[dict[str, Any]]:
        """Return every instance with the principal's login state."""
        listed = []
        for instance in self.inventory:
            data = instance.to_dict()
            login = self.pool.login_for(principal, instance.name)
            data["login_users"] = [
                other.credentials.username
                for other in self.pool.logins(principal, instance.name)
            ]
            data["logged_in"] = login is not None
            data["allowed_actions"] = self.access.allowed_actions(principal, instance)
            data["login_user"] = login.credentials.username if login else None
            listed.append(data)
        return listed

    def add_demo(self, instance: Instance, demo: DemoLogin) -> None:
        """List the built-in demo instance, whose credentials the gateway holds."""
        self.inventory.add(instance, replace=True)
        self._demo[instance.name] = demo

    def known_hosts(self, principal: str) -> KnownHosts:
        """Return the principal's known_hosts."""
        return _DemoAwareKnownHosts(
            principal_file(self.config.data_dir / "known_hosts", principal), self
        )

    # -- logging in -------------------------------------------------------

    async def login(
        self, principal: str, name: str, credentials: Credentials | None = None
    ) -> Login | LoginChallenge:
        """Log the principal in to an instance.

        With no credentials (or no secret in them) on the demo instance, the
        gateway's own demo credentials are used.

        Raises
        ------
        WorkbenchError
            `HostKeyUnknown` on first contact, `HostKeyChanged`,
            `AuthenticationFailed`, `Unreachable`, `NetworkRefused`.
        """
        instance = self.inventory.get(name)
        self.authorize(principal, LOGIN, name)
        credentials = self._with_demo_secret(instance, credentials)
        try:
            outcome = await self.pool.login(principal, instance, credentials)
        except WorkbenchError as exc:
            self._audit_login(principal, name, credentials, exc)
            log.warning(
                "Login of %s to %s as %s failed: %s",
                principal,
                name,
                credentials.username,
                exc.code,
            )
            raise
        self._audit_login(principal, name, credentials, outcome)
        return outcome

    async def respond(
        self, principal: str, challenge_id: str, responses: list[str]
    ) -> Login | LoginChallenge:
        """Answer keyboard-interactive prompts of a login in progress.

        The policies are checked again before the answers are sent: a
        change since the prompt was shown (a new Deny) ends the login.

        Raises
        ------
        PolicyDenied
            When the policies no longer let the principal log in there; the
            pending login is abandoned.
        NotLoggedIn
            When the prompt is unknown, expired, or another principal's.
        """
        instance = self.pool.pending_instance(principal, challenge_id)
        if instance is not None:
            try:
                self.authorize(principal, LOGIN, instance.name)
            except WorkbenchError:
                await self.pool.abandon(principal, challenge_id)
                raise
        try:
            outcome = await self.pool.respond(principal, challenge_id, responses)
        except WorkbenchError as exc:
            name = exc.details.get("instance")
            self._audit_login(principal, name, None, exc)
            raise
        if isinstance(outcome, Login):
            self._audit_login(
                principal, outcome.instance.name, outcome.credentials, outcome
            )
        return outcome

    # -- access -----------------------------------------------------------

    def authorize(
        self,
        principal: str,
        action: str,
        name: str,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Check that the policies let *principal* do *action* on instance *name*.

        Every gateway operation calls this before it acts; later features
        (files, batch runs, system management, RDP) call it with their action.
        *context* holds the request's condition keys (`SESSION_RECORDED`).

        Raises
        ------
        PolicyDenied
            Naming the statement that denied, or saying that none allowed.
        InstanceNotFound
            When there is no such instance.
        """
        instance = self.inventory.get(name)
        return self.access.authorize(principal, action, instance, context)

    def explain(
        self,
        principal: str,
        action: str,
        name: str,
        *,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Return the policy decision for *principal*, without acting on it."""
        return self.access.decide(principal, action, self.inventory.get(name), context)

    def accept_host_key(
        self, principal: str, name: str, presented_fingerprint: str
    ) -> str:
        """Trust the key the instance (or its jump host) presented at the last login.

        Raises
        ------
        HostKeyError
            When no key was presented, or its fingerprint differs from the one
            the user confirmed (the key changed after it was shown).
        """
        self.authorize(principal, LOGIN, name)
        for instance in self._route(name):
            key = self.pool.host_key_attempts.get(
                (principal, instance.host, instance.port)
            )
            if key is None:
                continue
            if fingerprint(key) != presented_fingerprint.strip():
                continue
            del self.pool.host_key_attempts[(principal, instance.host, instance.port)]
            known = self.known_hosts(principal)
            if known.trusted(instance.host, instance.port):
                raise HostKeyChanged(
                    f"Other keys are already trusted for {instance.name}: a new key "
                    "means its host key changed, which is refused. If the instance "
                    "was rebuilt, forget the old key first, then log in again",
                    instance=instance.name,
                    fingerprint=fingerprint(key),
                )
            self.known_hosts(principal).add(instance.host, instance.port, key)
            self.access.audit.record(
                "host_key_trusted",
                principal=principal,
                instance=instance.name,
                fingerprint=fingerprint(key),
            )
            return instance.name
        raise HostKeyError(
            f"No host key with fingerprint {presented_fingerprint} was presented by {name} "
            "at the last login: log in again and confirm the fingerprint shown then",
            instance=name,
        )

    def forget_host_key(self, principal: str, name: str) -> int:
        """Forget the keys the principal trusts for *name* (a rebuilt instance).

        The next login then asks for confirmation of the new key, as on
        first contact. Returns how many keys were forgotten.
        """
        instance = self.inventory.get(name)
        return self.known_hosts(principal).remove(instance.host, instance.port)

    def pending_host_key(self, principal: str, name: str) -> str | None:
        """Return the fingerprint waiting for confirmation on *name*, if any."""
        for instance in self._route(name):
            key = self.pool.host_key_attempts.get(
                (principal, instance.host, instance.port)
            )
            if key is not None:
                return fingerprint(key)
        return None

    async def logout(
        self, principal: str, name: str, username: str | None = None
    ) -> None:
        """Close the principal's terminals and connections on *name*.

        With *username*, only that login's; otherwise every login's.
        """
        for session in self.terminals(principal):
            if session.instance == name and username in (None, session.login_user):
                await session.close("Logged out")
        files = self._files.pop((principal, name), None)
        if files is not None:
            await files.close()
        await self.pool.logout(principal, name, username)
        # The held sudo passwords and system shells of those logins go too.
        for key in [*self._sudo_passwords, *self._system_shells]:
            if key[:2] == (principal, name) and username in (None, key[2]):
                self._sudo_passwords.pop(key, None)
                self._system_shells.pop(key, None)

    async def diagnose(self, principal: str, name: str) -> Diagnosis:
        """Diagnose reaching *name*: resolve, route, TCP, SSH, auth.

        It shows addresses, rules and host keys, so it needs the login action.
        """
        instance, *jumps = self.inventory.route(name)
        self.authorize(principal, LOGIN, name)
        login = self.pool.login_for(principal, name)
        return await diagnose(
            instance,
            self.rules,
            self.known_hosts(principal),
            login_user=login.credentials.username if login else None,
            jumps=jumps,
            timeout=self.config.connect_timeout,
        )

    # -- terminals --------------------------------------------------------

    async def open_terminal(
        self,
        principal: str,
        name: str,
        *,
        rows: int = 24,
        cols: int = 80,
        login_user: str | None = None,
    ) -> TerminalSession:
        """Open a PTY shell on *name* with the principal's login.

        *login_user* picks among several logins on the instance (as ``ops``
        and as ``root``, say); by default the most recent one is used.

        Raises
        ------
        NotLoggedIn
            When the principal has not logged in to the instance (as
            *login_user*).
        """
        instance = self.inventory.get(name)
        record, required_by = self._recording_plan(principal, instance)
        login = self.pool.login_for(principal, instance.name, login_user)
        if login is None:
            as_user = f" as {login_user}" if login_user else ""
            raise NotLoggedIn(
                f"Log in to {instance.name}{as_user} before opening a terminal",
                instance=instance.name,
            )
        session = TerminalSession(
            principal,
            instance.name,
            login.credentials.username,
            rows=rows,
            cols=cols,
            scrollback=self.config.scrollback,
            on_end=self._forget_terminal,
        )
        if record:
            session.recorder = self.access.recordings.start(
                principal,
                session.id,
                cols=cols,
                rows=rows,
                title=f"{session.login_user}@{instance.name}",
            )
        try:
            await session.start(
                self.pool, term=self.config.term, env=dict(self.config.env)
            )
        except BaseException:
            if session.recorder is not None:
                session.recorder.close()
                session.recorder.path.unlink(missing_ok=True)
            raise
        self._terminals[session.id] = session
        self.access.audit.record(
            "terminal_open",
            principal=principal,
            instance=instance.name,
            terminal=session.id,
            login_user=session.login_user,
            recording=session.id if session.recorder else None,
            recording_required_by=required_by,
        )
        return session

    def _recording_plan(
        self, principal: str, instance: Instance
    ) -> tuple[bool, str | None]:
        """Return whether to record a new terminal, and which statement requires it.

        Recorded when the config says so, or when the policies allow the
        terminal only as a recorded session (a statement with the condition
        ``ecs-workbench:SessionRecorded``).

        Raises
        ------
        PolicyDenied
            When the policies allow the terminal neither way.
        """
        record = self.config.access.record_terminals
        unrecorded = self.access.decide(
            principal, LOGIN, instance, {SESSION_RECORDED: record}
        )
        required_by = None
        if not unrecorded.allowed and not record:
            recorded = {SESSION_RECORDED: True}
            if self.access.decide(principal, LOGIN, instance, recorded).allowed:
                record = True
                required_by = (
                    f"statement {unrecorded.statement} of policy {unrecorded.policy}"
                    if unrecorded.policy
                    else "only statements for recorded sessions allow it"
                )
                log.info(
                    "Recording the terminal of %s on %s: required by %s",
                    principal,
                    instance.name,
                    required_by,
                )
        self.access.authorize(principal, LOGIN, instance, {SESSION_RECORDED: record})
        return record, required_by

    def attach_terminal(self, principal: str, terminal_id: str) -> TerminalSession:
        """Return a terminal to attach to, checking the login action again.

        A policy that changed since the terminal opened applies to new
        attaches; the running shell itself is left alone.

        Raises
        ------
        TerminalNotFound
            As `terminal`.
        PolicyDenied
            When the policies no longer let the principal log in there.
        """
        session = self.terminal(principal, terminal_id)
        recorded = {SESSION_RECORDED: session.recorder is not None}
        self.authorize(principal, LOGIN, session.instance, context=recorded)
        return session

    def terminals(self, principal: str) -> list[TerminalSession]:
        """Return the principal's live terminals, oldest first."""
        sessions = [s for s in self._terminals.values() if s.principal == principal]
        return sorted(sessions, key=lambda s: s.created)

    def terminal(self, principal: str, terminal_id: str) -> TerminalSession:
        """Return one of the principal's terminals.

        Raises
        ------
        TerminalNotFound
            When no live terminal with that id belongs to the principal; a
            terminal of another principal is reported the same way.
        """
        session = self._terminals.get(terminal_id)
        if session is None or session.principal != principal:
            raise TerminalNotFound(
                f"No terminal {terminal_id}: it has ended or never existed"
            )
        return session

    async def close(self) -> None:
        """Close every terminal and connection."""
        for session in list(self._terminals.values()):
            await session.close("The Jupyter server is shutting down")
        for files in self._files.values():
            await files.close()
        self._files.clear()
        await self.runs.close()
        await self.pool.close()

    # -- files ------------------------------------------------------------

    def files(self, principal: str, name: str, *, write: bool = False) -> AuditedFiles:
        """Return the principal's file operations on *name*, written to the audit log.

        The policies must allow downloading files there, or uploading them
        when *write* (every change: upload, save, rename, delete, chmod).

        Raises
        ------
        PolicyDenied
            When the policies do not allow it.
        NotLoggedIn
            When the principal has not logged in to the instance.
        """
        instance = self.inventory.get(name)
        self.authorize(principal, UPLOAD_FILE if write else DOWNLOAD_FILE, name)
        if self.pool.login_for(principal, instance.name) is None:
            raise NotLoggedIn(
                f"Log in to {instance.name} before using its files",
                instance=instance.name,
            )
        key = (principal, instance.name)
        if key not in self._files:
            self._files[key] = AuditedFiles(
                self.pool, principal, instance.name, audit=self.access.audit
            )
        return self._files[key]

    # -- batch runs -------------------------------------------------------

    def start_run(
        self,
        principal: str,
        targets: str | Sequence[str],
        command: str,
        options: RunOptions | None = None,
        *,
        credentials: Credentials | Mapping[str, Credentials] | None = None,
    ) -> BatchRun:
        """Start *command* on the instances *targets* selects; see `batch`.

        Hosts the principal is not logged in to are logged in to with
        *credentials* (one for all, or one per instance name).

        Raises
        ------
        WorkbenchError
            `TargetError` when the selection matches nothing or names
            unknown instances; a plain one for a bad option.
        """
        instances = select(self.inventory, targets, groups=self.config.groups)
        # One denied host refuses the whole run (and is audited as denied),
        # so a pattern never quietly reaches fewer hosts than it names.
        for instance in instances:
            self.access.authorize(principal, RUN_COMMAND, instance)
        selection = targets if isinstance(targets, str) else ",".join(targets)
        return self.runs.start(
            principal,
            command,
            instances,
            options,
            selection=selection,
            credentials=credentials,
        )

    # -- gateway key ------------------------------------------------------

    def gateway_key_status(self) -> dict[str, Any]:
        """Return whether the gateway key exists, its fingerprint and public key."""
        key = self.access.gateway_key
        exists = key.exists()
        return {
            "exists": exists,
            "fingerprint": key.fingerprint() if exists else None,
            "public_key": key.public_line() if exists else None,
        }

    def create_gateway_key(
        self, principal: str, *, rotate: bool = False
    ) -> dict[str, Any]:
        """Create the gateway key (an administrator only), or replace it.

        Raises
        ------
        AdminRequired
            When *principal* is not an administrator.
        """
        what = "rotate the gateway key" if rotate else "create the gateway key"
        self.access.require_admin(principal, what)
        key = self.access.gateway_key
        created = not key.exists()
        fingerprint_ = key.rotate() if rotate else key.create()
        if rotate or created:
            self.access.audit.record(
                "gateway_key_rotated" if rotate else "gateway_key_created",
                principal=principal,
                fingerprint=fingerprint_,
            )
        return self.gateway_key_status()

    async def authorize_instance(
        self, principal: str, name: str, credentials: Credentials
    ) -> dict[str, Any]:
        """Install the gateway's public key for a user of *name*.

        Logs in once with *credentials* (a password the administrator gives,
        used for this login only), replaces any earlier gateway key in that
        user's ``~/.ssh/authorized_keys`` and adds the current one. Behind a
        jump host, the principal's login on the jump host carries the
        connection, or else the same credentials log in there once.

        Raises
        ------
        AdminRequired
            When *principal* is not an administrator.
        GatewayKeyMissing
            When the gateway key has not been created.
        WorkbenchError
            As `login` (host key, authentication, network), or `SSHError`
            when the remote command fails.
        """
        self.access.require_admin(principal, "authorize instances for the gateway key")
        instance = self.inventory.get(name)
        self.authorize(principal, LOGIN, name)
        command = self.access.gateway_key.install_command()
        # Behind a jump host: the principal's login there, or these same
        # credentials for this one connection (see `connect_once`).
        async with connect_once(
            principal,
            instance,
            credentials,
            pool=self.pool,
            connector=self._connector,
            inventory=self.inventory,
            known_hosts=self.known_hosts(principal),
        ) as conn:
            result = await conn.run(command, check=False)
        ok = result.exit_status == 0
        self.access.audit.record(
            "gateway_key_authorized",
            principal=principal,
            instance=name,
            outcome="ok" if ok else "failed",
            login_user=credentials.username,
            fingerprint=self.access.gateway_key.fingerprint(),
        )
        if not ok:
            raise SSHError(
                f"Installing the gateway key for {credentials.username} on {name} "
                f"failed with status {result.exit_status}: {str(result.stderr).strip()}",
                instance=name,
            )
        return {
            "instance": name,
            "username": credentials.username,
            **self.gateway_key_status(),
        }

    def gateway_key_credentials(self, username: str) -> Credentials:
        """Return credentials that log in as *username* with the gateway key.

        Raises
        ------
        GatewayKeyMissing
            When the gateway key has not been created.
        """
        key = self.access.gateway_key.private_key()
        return Credentials(username, private_key=key.export_private_key().decode())

    def _audit_run(self, record: dict[str, Any]) -> None:
        event = "run.end" if "results" in record else "run.start"
        fields = {k: v for k, v in record.items() if k not in ("action", "principal")}
        outcome = "ok" if event == "run.start" else str(record["state"])
        fields.pop("state", None)
        self.access.audit.record(
            event, principal=record["principal"], outcome=outcome, **fields
        )

    # -- system management ------------------------------------------------

    def system(
        self,
        principal: str,
        name: str,
        *,
        login_user: str | None = None,
        sudo_password: str | None = None,
    ) -> SystemManager:
        """Return users, logons and services of *name* through the principal's login.

        Reading needs the LoginInstance action; every change is checked
        against ManageSystem first and written to the audit log after.
        The sudo password is, in order: *sudo_password*, the one set with
        `set_sudo_password`, the login's own password.

        Raises
        ------
        NotLoggedIn
            When the principal has not logged in to the instance.
        PolicyDenied
            When the policies do not allow LoginInstance on it.
        """
        instance = self.inventory.get(name)
        self.authorize(principal, READ_ACTION, instance.name)
        login = self.pool.login_for(principal, instance.name, login_user)
        if login is None:
            raise NotLoggedIn(
                f"Log in to {instance.name} before managing its system",
                instance=instance.name,
            )
        password = (
            sudo_password
            or self._sudo_passwords.get(login.key)
            or login.credentials.password
        )
        cached = self._system_shells.get(login.key)
        if cached is None or cached[0] is not login or sudo_password is not None:
            shell = RemoteShell(
                self.pool,
                principal,
                instance.name,
                login_user=login.credentials.username,
                sudo_password=password,
            )
            self._system_shells[login.key] = (login, shell)
        else:
            shell = cached[1]

        async def before(action: str, details: dict[str, Any]) -> None:
            self.authorize(principal, CHANGE_ACTION, instance.name)

        async def after(action: str, details: dict[str, Any], outcome: str) -> None:
            self.access.audit.record(
                "system_change",
                principal=principal,
                instance=instance.name,
                outcome=outcome,
                action=action,
                login_user=login.credentials.username,
                **details,
            )

        return SystemManager(shell, before_change=before, after_change=after)

    def set_sudo_password(
        self,
        principal: str,
        name: str,
        password: str | None,
        *,
        login_user: str | None = None,
    ) -> None:
        """Hold (in memory only) the sudo password for the principal's login; None forgets.

        Raises
        ------
        NotLoggedIn
            When the principal has not logged in to the instance.
        """
        instance = self.inventory.get(name)
        login = self.pool.login_for(principal, instance.name, login_user)
        if login is None:
            raise NotLoggedIn(
                f"Log in to {instance.name} before giving a sudo password",
                instance=instance.name,
            )
        self._system_shells.pop(login.key, None)
        if password is None:
            self._sudo_passwords.pop(login.key, None)
        else:
            self._sudo_passwords[login.key] = password

    # -- helpers ----------------------------------------------------------

    def _forget_terminal(self, session: TerminalSession) -> None:
        self._terminals.pop(session.id, None)
        self.access.audit.record(
            "terminal_close",
            principal=session.principal,
            instance=session.instance,
            terminal=session.id,
            reason=session.end_reason,
        )

    def _audit_login(
        self,
        principal: str,
        name: str | None,
        credentials: Credentials | None,
        outcome: Login | LoginChallenge | WorkbenchError,
    ) -> None:
        if isinstance(outcome, LoginChallenge):
            return  # still in progress: the answer is recorded
        failed = isinstance(outcome, WorkbenchError)
        self.access.audit.record(
            "login",
            principal=principal,
            instance=name,
            outcome="failed" if failed else "ok",
            login_user=credentials.username if credentials else None,
            method=credentials.method if credentials else "keyboard-interactive",
            error=outcome.code if isinstance(outcome, WorkbenchError) else None,
        )

    def _route(self, name: str) -> list[Instance]:
        return self.inventory.route(name)

    def _with_demo_secret(
        self, instance: Instance, credentials: Credentials | None
    ) -> Credentials:
        demo = self._demo.get(instance.name)
        has_secret = credentials is not None and (
            credentials.password is not None
            or credentials.private_key
            or credentials.key_path
            or credentials.agent
        )
        if demo is not None and not has_secret:
            return Credentials(demo.username, password=demo.password)
        if credentials is None:
            raise NotLoggedIn(f"Give credentials to log in to {instance.name}")
        return credentials


class _DemoAwareKnownHosts(KnownHosts):
    """A principal's known_hosts, plus the demo's key, which the gateway made."""

    def __init__(self, path: Path, gateway: Gateway) -> None:
        super().__init__(path)
        self._gateway = gateway

    def trusted(self, host: str, port: int) -> list[Any]:
        keys = super().trusted(host, port)
        for name, demo in self._gateway._demo.items():
            instance = self._gateway.inventory.get(name)
            if (instance.host, instance.port) == (host, port):
                keys.append(demo.host_key)
        return keys
