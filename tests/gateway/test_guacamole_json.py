"""The signed and encrypted JSON for Guacamole's JSON auth extension.

There is no Guacamole web app here: these tests check the format against
the extension's documented algorithm (HMAC-SHA256 signature followed by
the JSON, AES-128-CBC with a zero IV, base64), computed independently with
the openssl command line as the extension's own documentation does.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from jupyter_workbench.gateway.guacamole_json import (
    GuacamoleAuthError,
    auth_document,
    client_url,
    decrypt_and_verify,
    parse_secret,
    sign_and_encrypt,
)

SECRET = "4c0b569e4c96df157eee1b65dd0e4d41"


def openssl_sign_and_encrypt(data: bytes, secret: str, tmp_path: Path) -> str:
    """The documented algorithm, run with the openssl command line."""
    source = tmp_path / "auth.json"
    source.write_bytes(data)
    signature = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-mac",
            "HMAC",
            "-macopt",
            f"hexkey:{secret}",
            "-binary",
            str(source),
        ],
        check=True,
        capture_output=True,
    ).stdout
    encrypted = subprocess.run(
        [
            "openssl",
            "enc",
            "-aes-128-cbc",
            "-K",
            secret,
            "-iv",
            "0" * 32,
            "-nosalt",
            "-a",
            "-A",
        ],
        input=signature + data,
        check=True,
        capture_output=True,
    ).stdout
    return encrypted.decode().strip()


def test_matches_the_documented_algorithm(tmp_path):
    document = auth_document(
        "alice",
        "win-1",
        {"hostname": "10.0.0.7", "port": "3389", "password": "pä55 ✓"},
        now=1_700_000_000.0,
    )
    data = json.dumps(document, separators=(",", ":")).encode()

    ours = sign_and_encrypt(document, parse_secret(SECRET))

    assert ours == openssl_sign_and_encrypt(data, SECRET, tmp_path)


def test_round_trip_and_document_shape():
    key = parse_secret(SECRET)
    document = auth_document("alice", "win-1", {"hostname": "h"}, now=100.0)

    data = decrypt_and_verify(sign_and_encrypt(document, key), key)

    assert json.loads(data) == {
        "username": "alice",
        "expires": 160_000,
        "connections": {"win-1": {"protocol": "rdp", "parameters": {"hostname": "h"}}},
    }


def test_a_wrong_key_or_tampered_data_is_refused():
    key = parse_secret(SECRET)
    token = sign_and_encrypt(b'{"username":"alice"}', key)
    raw = bytearray(base64.b64decode(token))
    raw[0] ^= 1  # the first block's change garbles the signature

    with pytest.raises(GuacamoleAuthError):
        decrypt_and_verify(token, parse_secret("00" * 16))
    with pytest.raises(GuacamoleAuthError, match="signature"):
        decrypt_and_verify(base64.b64encode(bytes(raw)).decode(), key)


@pytest.mark.parametrize("bad", ["", "abc", "zz" * 16, "00" * 15, "00" * 32])
def test_the_secret_must_be_32_hex_digits_and_is_never_echoed(bad):
    with pytest.raises(GuacamoleAuthError, match="32 hexadecimal digits") as caught:
        parse_secret(bad)
    assert not bad or bad not in caught.value.message


def test_client_url_names_the_connection_of_the_json_data_source():
    url = client_url("https://guac.example.com/guacamole/", "win-1", "TOKEN+1")

    base, _, fragment = url.partition("/#/client/")
    identifier, _, query = fragment.partition("?")
    assert base == "https://guac.example.com/guacamole"
    decoded = base64.b64decode(urllib.parse.unquote(identifier))
    assert decoded == b"win-1\0c\0json"
    assert urllib.parse.parse_qs(query) == {"token": ["TOKEN+1"]}
