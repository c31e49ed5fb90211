"""Unit tests of login credentials: secrets stay hidden, options offer only them."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from jupyter_workbench.gateway.credentials import Credentials
from jupyter_workbench.gateway.errors import AuthenticationFailed

PASSWORD = "hunter2-Pa55word"
PASSPHRASE = "correct horse battery staple"


def encrypt(key: asyncssh.SSHKey, key_format: str = "openssh") -> str:
    """Export *key* with PASSPHRASE; few bcrypt rounds keep the suite fast."""
    exported = key.export_private_key(
        key_format, PASSPHRASE, rounds=1, ignore_few_rounds=True
    )
    return exported.decode()


@pytest.fixture(scope="module")
def private_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture(scope="module")
def encrypted_key_text(private_key: asyncssh.SSHKey) -> str:
    return encrypt(private_key)


@pytest.fixture(scope="module")
def plain_key_text(private_key: asyncssh.SSHKey) -> str:
    return private_key.export_private_key("openssh").decode()


def test_repr_never_shows_secrets(encrypted_key_text: str) -> None:
    credentials = Credentials(
        "alice",
        password=PASSWORD,
        private_key=encrypted_key_text,
        passphrase=PASSPHRASE,
    )
    credentials.keys()

    for shown in (
        repr(credentials),
        str(credentials),
        repr([credentials]),
        f"{credentials}",
    ):
        assert shown == "Credentials(username='alice', method='publickey')" or (
            shown == "[Credentials(username='alice', method='publickey')]"
        )
        assert PASSWORD not in shown
        assert PASSPHRASE not in shown
        assert "PRIVATE KEY" not in shown


@pytest.mark.parametrize(
    ("options", "method", "replayable"),
    [
        ({"password": PASSWORD}, "password", True),
        ({"password": ""}, "password", True),
        ({"private_key": "text"}, "publickey", True),
        ({"key_path": "~/.ssh/id"}, "publickey", True),
        ({"private_key": "text", "password": PASSWORD}, "publickey", True),
        ({"agent": True}, "agent", True),
        ({"agent": True, "password": PASSWORD}, "agent", True),
        ({}, "keyboard-interactive", False),
    ],
)
def test_method_names(
    options: dict[str, object], method: str, replayable: bool
) -> None:
    credentials = Credentials("alice", **options)  # type: ignore[arg-type]

    assert credentials.method == method
    assert credentials.replayable is replayable


def test_encrypted_key_loads_with_its_passphrase(
    encrypted_key_text: str, private_key: asyncssh.SSHKey
) -> None:
    credentials = Credentials(
        "alice", private_key=encrypted_key_text, passphrase=PASSPHRASE
    )

    (key,) = credentials.keys()

    assert key.get_fingerprint() == private_key.get_fingerprint()
    assert credentials.keys()[0] is key


def test_key_file_loads(tmp_path: Path, encrypted_key_text: str) -> None:
    path = tmp_path / "id_ed25519"
    path.write_text(encrypted_key_text)

    credentials = Credentials("alice", key_path=str(path), passphrase=PASSPHRASE)

    assert len(credentials.keys()) == 1


@pytest.mark.parametrize(
    ("algorithm", "key_format"),
    [
        *[
            (name, "openssh")
            for name in ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa")
        ],
        *[
            (name, "pkcs8-pem")
            for name in ("ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa")
        ],
        # Ed25519 keys have no PKCS#1 form.
        *[(name, "pkcs1-pem") for name in ("ecdsa-sha2-nistp256", "ssh-rsa")],
    ],
)
def test_wrong_passphrase_fails_without_echoing_it(
    algorithm: str, key_format: str
) -> None:
    if algorithm == "ssh-rsa":
        key = asyncssh.generate_private_key(algorithm, key_size=2048)
    else:
        key = asyncssh.generate_private_key(algorithm)
    text = encrypt(key, key_format)
    wrong = PASSPHRASE + " but wrong"
    credentials = Credentials("alice", private_key=text, passphrase=wrong)

    with pytest.raises(AuthenticationFailed) as caught:
        credentials.keys()

    assert caught.value.details == {"reason": "key"}
    assert "check the passphrase" in caught.value.message
    assert PASSPHRASE not in caught.value.message
    assert PASSPHRASE not in str(caught.value.to_dict())
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_missing_passphrase_asks_for_it(encrypted_key_text: str) -> None:
    credentials = Credentials("alice", private_key=encrypted_key_text)

    with pytest.raises(AuthenticationFailed, match=r"check the passphrase"):
        credentials.keys()


@pytest.mark.parametrize(
    "garble",
    [
        lambda text: text[: len(text) // 2],
        lambda text: text.replace("A", "%", 3),
        lambda text: "not a key at all",
        lambda text: text.split("\n", 1)[1],
    ],
)
def test_garbled_key_fails_without_echoing_secrets(
    plain_key_text: str, garble: object
) -> None:
    text = garble(plain_key_text)  # type: ignore[operator]
    for passphrase in (None, PASSPHRASE):
        credentials = Credentials("alice", private_key=text, passphrase=passphrase)

        with pytest.raises(AuthenticationFailed) as caught:
            credentials.keys()

        assert caught.value.message.startswith("The private key could not be used")
        assert PASSPHRASE not in caught.value.message
        assert "PRIVATE KEY-----" not in caught.value.message


def test_unreadable_key_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "no-such-key"

    with pytest.raises(AuthenticationFailed) as caught:
        Credentials("alice", key_path=str(path), passphrase=PASSPHRASE).keys()

    assert str(path) in caught.value.message
    assert "No such file or directory" in caught.value.message
    assert PASSPHRASE not in caught.value.message


def test_password_options_offer_no_keys_and_no_agent() -> None:
    options = Credentials("alice", password=PASSWORD).connect_options()

    assert options == {
        "username": "alice",
        "client_keys": None,
        "agent_path": None,
        "gss_host": None,
        "password": PASSWORD,
    }


def test_interactive_options_offer_nothing_of_the_server() -> None:
    options = Credentials("alice").connect_options(agent_keys=["agent key"])

    assert options["client_keys"] is None
    assert options["agent_path"] is None
    assert options["gss_host"] is None
    assert options["password"] is None


def test_key_options_offer_exactly_that_key(
    encrypted_key_text: str, private_key: asyncssh.SSHKey
) -> None:
    credentials = Credentials(
        "alice", private_key=encrypted_key_text, passphrase=PASSPHRASE
    )

    options = credentials.connect_options(agent_keys=["agent key"])

    (key,) = options["client_keys"]
    assert key.get_fingerprint() == private_key.get_fingerprint()
    assert options["agent_path"] is None
    assert options["gss_host"] is None
    assert options["password"] is None


def test_agent_options_offer_only_the_given_agent_keys() -> None:
    credentials = Credentials("alice", agent=True)

    assert credentials.connect_options(agent_keys=["k1", "k2"])["client_keys"] == [
        "k1",
        "k2",
    ]
    assert credentials.connect_options()["client_keys"] is None
    assert credentials.connect_options(agent_keys=["k1"])["agent_path"] is None


def test_options_are_accepted_by_asyncssh() -> None:
    options = Credentials("alice", password=PASSWORD).connect_options()

    # config=None as in connect.py: the server's ~/.ssh/config is not read.
    settings = asyncssh.SSHClientConnectionOptions(
        config=None, known_hosts=None, **options
    )

    assert settings.client_keys is None
    assert settings.gss_host is None
