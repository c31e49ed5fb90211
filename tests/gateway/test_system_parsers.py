"""The system parsers on captured and documented output of several systems.

See tests/system_samples/README.md for where each sample came from: the
``debian12_*``, ``debian13_*``, ``busybox137_*`` and ``rhel-like_*`` files
are real captures (Debian 12 here, a Debian 13 chroot with its own sshd);
the ``ubuntu2204_*``, ``rocky*`` and ``alpine319_*`` ones are written by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from jupyter_workbench.gateway.system import commands, logons
from jupyter_workbench.gateway.system.detect import parse_facts
from jupyter_workbench.gateway.system.errors import SystemInputError, ToolMissing
from jupyter_workbench.gateway.system.logons import LogonFilter
from jupyter_workbench.gateway.system.parsers import (
    build_users,
    merge_units,
    parse_auth_log,
    parse_group,
    parse_last,
    parse_lastlog,
    parse_openrc,
    parse_passwd,
    parse_service_status_all,
    parse_shadow,
    parse_sudoers,
    parse_systemctl_units,
    parse_sysv,
    parse_unit_files,
    parse_who,
)

SAMPLES = Path(__file__).parent.parent / "system_samples"
LONG = "wbt-capture-long-user-name-01"
LONG32 = "wbt-trixie-capture-user-name-32c"  # utmp's limit: 32 characters
WHEEL = "wbt-wheel-admin"
UTC = timezone.utc


def sample(name: str) -> str:
    """Return a sample's text without its ``#@`` provenance header."""
    lines = (SAMPLES / name).read_text().splitlines(keepends=True)
    while lines and lines[0].startswith("#@"):
        lines.pop(0)
    return "".join(lines)


def test_every_sample_states_its_provenance():
    for path in SAMPLES.iterdir():
        if path.suffix == ".txt":
            first = path.read_text().splitlines()[0]
            assert first.startswith("#@ Captured") or "NOT captured" in first, path.name


# -- last / lastb ---------------------------------------------------------


def test_debian_last_iso_capture():
    records = parse_last(sample("debian12_last_iso.txt"))

    assert [r.user for r in records] == [LONG] * 3  # 29 characters, not cut
    now, v6, done = records
    assert now.still_logged_in and now.source == "127.0.0.1" and now.end is None
    assert v6.source == "::1"
    assert done.ended == "logout" and done.terminal == "pts/0"
    assert done.start == datetime(2026, 12, 4, 16, 49, 17, tzinfo=UTC)
    assert done.end == datetime(2026, 12, 4, 16, 49, 18, tzinfo=UTC)
    assert done.duration == 1.0


def test_debian_last_full_and_plain_agree_with_iso():
    iso = parse_last(sample("debian12_last_iso.txt"))
    full = parse_last(sample("debian12_last_full.txt"))
    plain = parse_last(sample("debian12_last_plain.txt"), now=datetime(2026, 12, 5))

    assert [r.start.replace(tzinfo=None) for r in full] == [
        r.start.replace(tzinfo=None) for r in iso
    ]
    assert [r.source for r in full] == [r.source for r in iso]
    # Plain last has no seconds and no year: minutes and the reference year.
    assert [r.start for r in plain] == [
        r.start.replace(tzinfo=None, second=0) for r in iso
    ]
    assert plain[2].ended == "logout" and plain[2].end == datetime(2026, 12, 4, 16, 49)


def test_debian_lastb_capture_is_failed_logins():
    records = parse_last(sample("debian12_lastb_iso.txt"), failed=True)

    assert [(r.kind, r.terminal, r.source) for r in records] == [
        ("failed", "ssh:notty", "::1"),
        ("failed", "ssh:notty", "127.0.0.1"),
    ]
    assert all(r.origin == "btmp" and r.user == LONG for r in records)


def test_debian13_wtmpdb_last_capture():
    records = [
        r
        for r in parse_last(sample("debian13_last_iso.txt"), origin="wtmpdb")
        if r.user in (LONG32, WHEEL) or r.kind != "login"
    ]

    assert [(r.kind, r.user) for r in records] == [
        ("login", LONG32),
        ("reboot", "soft-reboot"),
        ("login", WHEEL),
        ("login", LONG32),
        ("reboot", "soft-reboot"),
        ("shutdown", "shutdown"),
    ]
    open_now, boot_now, crashed, done, boot_then, down = records
    assert open_now.still_logged_in and open_now.source == "::1"
    assert open_now.terminal == "pts/1" and open_now.origin == "wtmpdb"
    assert boot_now.still_logged_in and boot_now.source is None
    assert boot_now.terminal == "system boot"
    # The session open across the shutdown: wtmpdb closes it as a crash.
    assert crashed.ended == "crash" and crashed.source == "127.0.0.1"
    assert crashed.end is None and not crashed.still_logged_in
    assert done.ended == "logout" and done.source == "::1"
    assert done.start == datetime(2026, 12, 4, 18, 53, 14, tzinfo=UTC)
    assert done.end == datetime(2026, 12, 4, 18, 53, 16, tzinfo=UTC)
    assert done.duration == 2.0
    assert boot_then.end == down.start and down.terminal == "system down"


def test_debian13_wtmpdb_full_and_plain_agree_with_iso():
    iso = parse_last(sample("debian13_last_iso.txt"))
    full = parse_last(sample("debian13_wtmpdb_last_full.txt"))
    plain = parse_last(
        sample("debian13_wtmpdb_last_plain.txt"), now=datetime(2026, 12, 5)
    )

    assert [(r.user, r.kind, r.source, r.ended) for r in full] == [
        (r.user, r.kind, r.source, r.ended) for r in iso
    ]
    assert [r.start.replace(tzinfo=None) for r in full] == [
        r.start.replace(tzinfo=None) for r in iso
    ]
    # Plain wtmpdb last leaves out -x's shutdown record and the seconds.
    without_shutdown = [r for r in iso if r.kind != "shutdown"]
    assert [r.start for r in plain] == [
        r.start.replace(tzinfo=None, second=0) for r in without_shutdown
    ]
    assert [r.user for r in plain] == [r.user for r in without_shutdown]


def test_debian13_has_no_lastb_and_its_who_asks_logind():
    # Captured error text: nothing in it is taken for a record.
    assert "lastb: not found" in sample("debian13_lastb.txt")
    assert parse_last(sample("debian13_lastb.txt"), failed=True) == []
    # coreutils 9.7's who asks systemd-logind, which a chroot lacks: empty,
    # while BusyBox who reads the utmp that sshd wrote.
    assert parse_who(sample("debian13_who.txt")) == []
    sessions = parse_who(sample("busybox137_who.txt"), now=datetime(2026, 12, 5))
    assert [(s.user, s.terminal, s.source) for s in sessions] == [
        (WHEEL, "pts/0", "127.0.0.1"),
        (LONG32, "pts/1", "::1"),
    ]
    assert sessions[1].since == datetime(2026, 12, 4, 18, 53, 21)


def test_busybox_last_capture_cuts_32_character_names_run_into_the_host():
    text = sample("busybox137_last.txt")
    assert f"{LONG32}::1 pts/1" in text  # what BusyBox really prints
    records = parse_last(text, now=datetime(2026, 12, 5))

    assert [(r.user, r.terminal, r.source) for r in records[:3]] == [
        (LONG32, "pts/1", "::1"),
        (WHEEL, "pts/0", "127.0.0.1"),
        (LONG32, "pts/0", "::1"),
    ]
    assert records[0].start == datetime(2026, 12, 4, 18, 53)
    assert all(r.end is None and r.kind == "login" for r in records)
    # No year in BusyBox's dates: in January, a December date is last year's.
    early = parse_last(text, now=datetime(2027, 1, 2))
    assert early[0].start == datetime(2026, 12, 4, 18, 53)


def test_busybox_syslogd_capture_gives_logins_and_failures_once():
    records = parse_auth_log(
        sample("busybox137_syslogd_messages.txt"), now=datetime(2026, 12, 5)
    )

    assert [(r.kind, r.user, r.source) for r in records] == [
        ("login", LONG32, "::1"),
        ("login", WHEEL, "127.0.0.1"),
        ("login", LONG32, "::1"),
        ("failed", "wbt-no-such-user", "127.0.0.1"),  # logged twice by sshd
        ("failed", LONG32, "::1"),
    ]
    assert records[0].start == datetime(2026, 12, 4, 18, 53, 21)
    assert all(r.origin == "auth-log" and r.end is None for r in records)


def test_ubuntu_last_with_reboots_shutdowns_ipv6_down_and_crash():
    records = parse_last(sample("ubuntu2204_last_iso.txt"))
    by_kind: dict[str, list] = {}
    for record in records:
        by_kind.setdefault(record.kind, []).append(record)

    assert len(records) == 9
    first = records[0]
    assert first.user == "ubuntu-operations-engineer-2024"
    assert first.source == "2001:db8:85a3::8a2e:370:7334" and first.still_logged_in
    reboot_now, reboot_then = by_kind["reboot"]
    assert reboot_now.still_logged_in and reboot_now.source is None
    assert reboot_then.end - reboot_then.start == timedelta(
        days=1, hours=13, minutes=28, seconds=59
    )
    assert by_kind["shutdown"][0].terminal == "system down"
    assert by_kind["runlevel"][0].terminal == "(to lvl 5)"
    down = next(r for r in records if r.ended == "down")
    assert (
        down.source == "fe80::1ff:fe23:4567:890a"
        and down.duration == 5 * 3600 + 49 * 60
    )
    crash = next(r for r in records if r.ended == "crash")
    assert crash.source is None and crash.duration == 86400 + 12 * 3600 + 59 * 60
    gone = next(r for r in records if r.ended == "gone")
    assert gone.source == "198.51.100.23" and gone.end is None


def test_rocky_last_full_and_lastb():
    records = parse_last(sample("rocky9_last_full.txt"))
    failed = parse_last(sample("rocky9_lastb_full.txt"), failed=True)

    assert records[0].user == "admin-with-a-rather-long-name"
    assert records[0].end - records[0].start == timedelta(hours=2, minutes=2, seconds=2)
    assert [r.kind for r in records] == [
        "login",
        "login",
        "reboot",
        "shutdown",
        "login",
    ]
    assert records[4].source == "2001:db8::42"
    assert [(r.user, r.source) for r in failed] == [
        ("oracle", "2001:db8:dead:beef::1"),
        ("admin", "192.0.2.99"),
    ]


def test_logon_filters_by_user_source_network_and_time():
    records = parse_last(sample("ubuntu2204_last_iso.txt"))

    assert {r.user for r in records if LogonFilter(user="deploy").keep(r)} == {"deploy"}
    v6 = [r for r in records if LogonFilter(source="2001:db8::/32").keep(r)]
    assert [r.user for r in v6] == ["ubuntu-operations-engineer-2024"]
    exact = [r for r in records if LogonFilter(source="203.0.113.7").keep(r)]
    assert len(exact) == 1
    since = datetime(2024, 3, 11, tzinfo=UTC)
    assert all(r.start >= since for r in records if LogonFilter(since=since).keep(r))
    until = LogonFilter(until=datetime(2024, 3, 9, 23, 59, tzinfo=UTC))
    assert len([r for r in records if until.keep(r)]) == 3


DEBIAN32 = "wbt-debian12-capture-name-of-32c"


def test_debian12_who_capture_with_utmp_in_both_date_forms():
    assert parse_who(sample("debian12_who.txt")) == []  # no utmp: nothing
    c_locale = parse_who(sample("debian12_who_utmp.txt"), now=datetime(2026, 12, 5))
    iso = parse_who(sample("debian12_who_utmp_iso.txt"))

    assert [(s.user, s.terminal, s.source, s.origin) for s in c_locale] == [
        (DEBIAN32, "pts/0", "::1", "utmp"),
        (DEBIAN32, "pts/2", "127.0.0.1", "utmp"),
    ]
    assert [(s.user, s.source, s.since) for s in iso] == [
        (s.user, s.source, s.since) for s in c_locale
    ]
    assert iso[0].since == datetime(2026, 12, 4, 19, 3)


def test_debian12_last_cuts_open_sessions_of_32_character_names():
    records = parse_last(sample("debian12_last_32c.txt"))

    # util-linux 2.38 shows the open sessions of a 32-character name cut to
    # 31 characters, and (not finding that user) as "gone - no logout".
    assert [(len(r.user), r.ended, r.source) for r in records[:3]] == [
        (31, "gone", "127.0.0.1"),
        (31, "gone", "::1"),
        (32, "logout", "127.0.0.1"),
    ]
    mine = [r for r in records if LogonFilter(user=DEBIAN32).keep(r)]
    assert len(mine) == len(records)
    assert not LogonFilter(user=DEBIAN32[:-1] + "x").keep(records[2])


@pytest.mark.parametrize(
    "name", ["debian13_rsyslog_auth_log.txt", "rsyslog_traditional_secure.txt"]
)
def test_rsyslog_captures_in_both_file_formats(name):
    records = parse_auth_log(sample(name), now=datetime(2026, 12, 5))

    assert [(r.kind, r.user, r.source) for r in records] == [
        ("login", LONG32, "::1"),
        ("failed", "wbt-no-such-user", "127.0.0.1"),  # logged twice by sshd
        ("failed", LONG32, "::1"),
    ]
    when = records[0].start
    assert (when.year, when.month, when.day, when.hour) == (2026, 12, 4, 19)
    # RFC 3339 lines keep their offset; traditional ones have none.
    assert (when.tzinfo is not None) == name.startswith("debian13")


def test_the_log_reaching_later_wins_over_a_stale_one():
    journal = parse_auth_log(sample("debian13_journalctl_sshd.txt"))  # 19:22
    messages = parse_auth_log(
        sample("busybox137_syslogd_messages.txt"), now=datetime(2026, 12, 5)
    )  # 18:53, no offset: read as UTC
    assert logons._latest([messages, [], journal]) is journal
    assert logons._latest([[], messages]) is messages
    assert logons._latest([[], []]) == []


def test_auth_log():
    records = parse_auth_log(
        sample("ubuntu2204_auth_log.txt"), now=datetime(2024, 3, 12)
    )
    assert [(r.kind, r.user, r.source) for r in records] == [
        ("login", "ubuntu", "203.0.113.7"),
        ("failed", "deploy", "203.0.113.7"),
        ("failed", "test", "198.51.100.9"),
        ("failed", "oracle", "198.51.100.9"),
        ("login", "deploy", "2001:db8::1"),
    ]
    assert records[0].start == datetime(2024, 3, 11, 9, 18, tzinfo=UTC)


# -- accounts -------------------------------------------------------------


def test_debian_accounts_capture():
    passwd = parse_passwd(sample("debian12_getent_passwd.txt"))
    groups = parse_group(sample("debian12_getent_group.txt"))
    users = {u.name: u for u in build_users(passwd, groups)}

    assert users["root"].uid == 0 and users["root"].sudo is True
    assert users["nobody"].system and users["nobody"].sudo is None
    assert users[LONG].home == f"/home/{LONG}" and users[LONG].primary_group == LONG
    assert users[LONG].locked is None  # no shadow given: unknown, not False
    assert "sudo" in groups and groups["sudo"][0] == 27


def test_debian_lastlog_capture_has_the_latest_login_of_the_long_name():
    assert parse_lastlog(sample("debian12_lastlog.txt")) == {
        LONG: (datetime(2026, 12, 4, 16, 49, 20, tzinfo=UTC), "127.0.0.1")
    }
    text = (
        "Username         Port     From                                       Latest\n"
        "deploy-long-user-name pts/0    2001:db8::1                               "
        "Mon Mar 11 09:14:02 +0000 2024\n"
    )
    found = parse_lastlog(text)
    assert found["deploy-long-user-name"] == (
        datetime(2024, 3, 11, 9, 14, 2, tzinfo=UTC),
        "2001:db8::1",
    )


def test_rhel_like_accounts_capture_wheel_locked_and_passwordless():
    passwd = parse_passwd(sample("debian13_getent_passwd.txt"))
    groups = parse_group(sample("debian13_getent_group.txt"))
    shadow = parse_shadow(sample("rhel-like_getent_shadow.txt"))
    sudoers = parse_sudoers(sample("rhel-like_sudoers.txt"))
    users = {
        u.name: u
        for u in build_users(
            passwd, groups, shadow=shadow, sudoers=sudoers, today=20791
        )
    }

    assert sudoers == ({"root"}, {"sudo", "wheel"})
    wheel = users[WHEEL]
    assert wheel.sudo is True and wheel.groups == [WHEEL, "wheel"]
    assert wheel.has_password is True and wheel.locked is False
    long = users[LONG32]
    assert long.sudo is False and long.home == f"/home/{LONG32}"
    # usermod -L -e 1: "!" before the hash and expired since day 1.
    locked = users["wbt-locked-user"]
    assert locked.locked is True and locked.has_password is True
    nopass = users["wbt-no-password"]
    assert nopass.has_password is False and nopass.locked is False
    assert users["root"].sudo is True and users["_apt"].system


def test_debian13_unit_files_capture_with_masked_and_enabled_units():
    files = parse_unit_files(sample("debian13_systemctl_unit_files.json.txt"))
    services = {s.name: s for s in merge_units([], files)}

    assert files["wbt-fails.service"] == "enabled"
    assert files["systemd-timesyncd.service"] == "masked"
    assert files["getty@.service"] == "enabled"
    assert "getty@.service" not in services
    assert services["wbt-sleeps.service"].active == "inactive"
    assert "System has not been booted with systemd" in sample(
        "debian13_systemctl_units_error.txt"
    )


def test_rocky_accounts_with_shadow_and_sudoers():
    passwd = parse_passwd(sample("rocky9_getent_passwd.txt"))
    groups = parse_group(sample("rocky9_getent_group.txt"))
    shadow = parse_shadow(sample("rocky9_shadow.txt"))
    sudoers = parse_sudoers(sample("rocky9_sudoers.txt"))
    users = {
        u.name: u
        for u in build_users(
            passwd, groups, shadow=shadow, sudoers=sudoers, today=19800
        )
    }

    assert len(passwd) == 7  # the broken line is skipped
    assert sudoers == ({"root", "svc.backup"}, {"wheel"})
    admin = users["admin"]
    assert admin.sudo is True and admin.groups == ["admin", "wheel"]
    assert admin.comment == "Admin, Room 101, +1 555 0100"
    assert admin.has_password is True and admin.locked is False
    long = users["admin-with-a-rather-long-name"]
    assert long.locked is True and long.has_password is True and long.sudo is False
    backup = users["svc.backup"]
    assert (
        backup.has_password is False and backup.locked is False and backup.sudo is True
    )
    assert users["nfsnobody"].system and users["sshd"].system


def test_alpine_accounts_wheel_group_without_sudoers():
    passwd = parse_passwd(sample("alpine319_getent_passwd.txt"))
    groups = parse_group(sample("alpine319_getent_group.txt"))
    users = {u.name: u for u in build_users(passwd, groups)}

    assert users["alpine"].sudo is True and users["alpine"].shell == "/bin/ash"
    assert users["alpine"].comment == "Linux User,,,"
    assert users["daemon"].sudo is None


# -- services -------------------------------------------------------------


def test_debian13_live_systemd_units_with_odd_states():
    units = parse_systemctl_units(sample("debian13_systemctl_units.json.txt"))
    files = parse_unit_files(sample("debian13_systemctl_unit_files_services.json.txt"))
    services = {s.name: s for s in merge_units(units, files)}

    fails = services["wbt-fails.service"]
    assert (fails.active, fails.sub, fails.enabled) == ("failed", "failed", "enabled")
    restarts = services["wbt-restarts.service"]
    assert (restarts.active, restarts.sub) == ("activating", "auto-restart")
    assert services["wbt-sleeps.service"].sub == "running"
    assert (services["ssh.service"].active, services["ssh.service"].enabled) == (
        "active",
        "enabled",
    )
    auditd = services["auditd.service"]
    assert (auditd.load, auditd.active, auditd.enabled) == (
        "not-found",
        "inactive",
        None,
    )
    assert services["sshd@sshd-keygen.service"].enabled is not None  # template's
    assert files["sshd.service"] == "alias"  # of ssh.service
    # Masked and not loaded: listed from its file as inactive.
    timesyncd = services["systemd-timesyncd.service"]
    assert (timesyncd.enabled, timesyncd.active) == ("masked", "inactive")
    assert "enabled-runtime" in files.values() and "indirect" in files.values()
    # The plain table (with its failure marks) says the same.
    plain = parse_systemctl_units(sample("debian13_systemctl_units_plain.txt"))
    listed = parse_systemctl_units(sample("debian13_systemctl_units.json.txt"))
    assert [(u.name, u.load, u.active, u.sub) for u in plain] == [
        (u.name, u.load, u.active, u.sub) for u in listed
    ]
    assert len(listed) > 50


def test_debian13_journal_and_wtmpdb_of_a_booted_system():
    records = parse_auth_log(sample("debian13_journalctl_sshd.txt"))
    assert [(r.kind, r.user, r.source) for r in records] == [
        ("login", LONG32, "127.0.0.1"),
        ("login", LONG32, "::1"),
        ("failed", LONG32, "::1"),
    ]
    assert records[0].start == datetime(2026, 12, 4, 19, 22, 12, tzinfo=UTC)

    history = parse_last(sample("debian13_systemd_last_iso.txt"), origin="wtmpdb")
    assert history[0].still_logged_in and history[0].source == "127.0.0.1"
    boots = [r for r in history if r.kind == "reboot"]
    # wtmpdb-update-boot.service's records: the kernel did not restart, so
    # "soft-reboot"; the boot before was killed, so it ends in "crash".
    assert boots[0].still_logged_in and boots[1].ended == "crash"
    # No D-Bus in a minimal system, so no logind: who has nothing to say.
    assert parse_who(sample("debian13_systemd_who.txt")) == []


def test_rocky8_systemctl_plain_tables():
    units = parse_systemctl_units(sample("rocky8_systemctl_units_plain.txt"))
    files = parse_unit_files(sample("rocky8_systemctl_unit_files_plain.txt"))
    services = {s.name: s for s in merge_units(units, files)}

    assert services["kdump.service"].active == "failed"
    assert services["ntpd.service"].load == "not-found"
    assert services["tuned.service"].active == "activating"
    assert services["rhsmcertd.service"].description.startswith("Enable periodic")
    assert services["nfs-server.service"].enabled == "masked"
    assert services["sshd.service"].enabled == "enabled"


def test_debian_sysv_capture():
    services = {
        s.name: s
        for s in parse_sysv(
            sample("debian12_sysv_status.txt"), sample("debian12_rc_links.txt")
        )
    }

    assert services["ssh"].active == "inactive" and services["ssh"].enabled == "enabled"
    assert services["procps"].active == "active"  # its status exits 0
    assert services["x11-common"].active == "unknown"  # LSB 4
    assert services["udev"].enabled == "disabled"  # only K links
    assert all(s.manager == "sysv" for s in services.values())
    marks = parse_service_status_all(sample("debian12_service_status_all.txt"))
    assert marks["ssh"] == "inactive" and marks["hwclock.sh"] == "unknown"


def test_openrc_capture_started_crashed_and_never_started():
    services = {
        s.name: s
        for s in parse_openrc(
            sample("openrc056_rc_status.txt"), sample("openrc056_rc_update_show.txt")
        )
    }

    sleeps = services["wbt-sleeps"]
    assert (sleeps.active, sleeps.sub, sleeps.enabled) == (
        "active",
        "started",
        "enabled",
    )
    assert sleeps.description == "default" and sleeps.manager == "openrc"
    crashes = services["wbt-crashes"]
    assert (crashes.active, crashes.sub) == ("failed", "crashed")
    stopped = services["wbt-stopped"]  # in no runlevel, never started
    assert (stopped.active, stopped.enabled) == ("inactive", "disabled")
    assert services["procps"].active == "inactive"
    assert services["procps"].description == "sysinit"
    assert services["savecache"].description == "off"
    assert "[exit status 0]" in sample("openrc056_rc_status.txt")  # not a service
    assert not any(name.startswith("[") for name in services)
    assert "status: crashed" in sample("openrc056_status_crashed.txt")


# -- detection and commands -----------------------------------------------

ALPINE_FACTS = """\
NAME="Alpine Linux"
ID=alpine
PRETTY_NAME="Alpine Linux v3.19"
@@facts
uid=0
user=root
now=1709650000
tool.adduser=/bin/busybox
tool.deluser=/bin/busybox
tool.addgroup=/bin/busybox
tool.passwd=/bin/busybox
tool.chpasswd=/bin/busybox
tool.last=/bin/busybox
tool.rc-service=/sbin/rc-service
init=openrc
"""


def test_detect_alpine_busybox_and_build_its_commands():
    facts = parse_facts(ALPINE_FACTS)

    assert (facts.family, facts.init, facts.privilege, facts.busybox) == (
        "alpine",
        "openrc",
        "root",
        True,
    )
    assert commands.create_user(facts, "bob", groups=["wheel"], shell="/bin/ash") == (
        "adduser -D -s /bin/ash bob && addgroup bob wheel"
    )
    assert (
        commands.delete_user(facts, "bob", remove_home=True)
        == "deluser --remove-home bob"
    )
    assert commands.lock_user(facts, "bob", lock=True) == "passwd -l bob"
    assert (
        commands.service_action(facts, "nginx", "enable")
        == "rc-update add nginx default"
    )
    assert (
        commands.service_action(facts, "nginx", "restart") == "rc-service nginx restart"
    )


def test_detect_rhel_family_and_missing_tools_are_named():
    facts = parse_facts(
        'ID="rocky"\nID_LIKE="rhel centos fedora"\nPRETTY_NAME="Rocky Linux 9.3"\n'
        "@@facts\nuid=1000\nuser=admin\nsudo=password\ninit=systemd\n"
        "tool.useradd=/usr/sbin/useradd\n"
    )
    assert (facts.family, facts.privilege) == ("rhel", "sudo-password")
    assert commands.service_action(facts, "sshd", "stop") == "systemctl stop -- sshd"
    with pytest.raises(ToolMissing, match="Rocky Linux 9.3.*userdel"):
        commands.delete_user(facts, "bob", remove_home=False)
    bare = parse_facts("ID=debian\n@@facts\nuid=0\ninit=sysv\n")
    with pytest.raises(ToolMissing, match="update-rc.d or chkconfig"):
        commands.service_action(bare, "x", "enable")


@pytest.mark.parametrize(
    "name", ["-rf", "a b", "a;b", "$(id)", "", "x" * 33, ".hidden", "a\nb", "é"]
)
def test_unsafe_names_are_refused(name):
    with pytest.raises(SystemInputError):
        commands.check_name(name)
    with pytest.raises(SystemInputError):
        commands.check_service(name if name != "x" * 33 else "-x")


def test_values_are_quoted_in_scripts():
    facts = parse_facts(
        "ID=debian\n@@facts\nuid=0\ninit=sysv\ntool.useradd=/usr/sbin/useradd\n"
    )
    script = commands.create_user(
        facts, "bob", comment="O'Brien; rm -rf /", groups=["a", "b"]
    )
    assert "--comment 'O'\"'\"'Brien; rm -rf /'" in script
    assert script.endswith("-- bob")
    assert (
        commands.check_authorized_key("ssh-ed25519 AAAAC3Nza me@host ")
        == "ssh-ed25519 AAAAC3Nza me@host"
    )
    with pytest.raises(SystemInputError):
        commands.check_password("two\nlines")
