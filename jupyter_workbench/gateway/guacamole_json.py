"""Sign-in to a Guacamole web app through its encrypted JSON auth extension.

For teams that already run the Guacamole web application with the
``guacamole-auth-json`` extension: the workbench describes the user and one
connection in JSON, signs it and encrypts it with the shared
``json-secret-key``, posts it to the app's ``/api/tokens``, and embeds the
app's client page with the token it answers.

The format, as the extension documents it:

1. sign: ``HMAC-SHA256(key, json_bytes)``, 32 bytes, followed by the JSON
   bytes themselves;
2. encrypt that with AES-128 in CBC mode, key = the 16-byte secret,
   IV = sixteen zero bytes, PKCS#7 padding;
3. base64 the result; post it form-encoded as ``data`` to ``/api/tokens``.

The JSON names ``username``, ``expires`` (milliseconds since the epoch) and
``connections`` (name to ``{"protocol", "parameters"}``). The extension
only accepts data signed with its key, so the key is as sensitive as the
RDP passwords that the data carries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import Unreachable, WorkbenchError

log = logging.getLogger(__name__)

ZERO_IV = bytes(16)
SIGNATURE_SIZE = 32
DATA_SOURCE = "json"


class GuacamoleAuthError(WorkbenchError):
    """The Guacamole web app refused the signed JSON, or the secret key is unusable."""

    code = "guacamole_auth"


def parse_secret(secret_hex: str) -> bytes:
    """Return the 16-byte key from the extension's 32 hexadecimal digits.

    Raises
    ------
    GuacamoleAuthError
        When the key is not 32 hexadecimal digits (the message never shows it).
    """
    try:
        key = bytes.fromhex(secret_hex.strip())
    except ValueError:
        key = b""
    if len(key) != 16:
        raise GuacamoleAuthError(
            "WorkbenchApp.guacamole_json_secret must be 32 hexadecimal digits, the "
            "json-secret-key of the Guacamole web app"
        )
    return key


def auth_document(
    username: str,
    connection: str,
    parameters: Mapping[str, str],
    *,
    protocol: str = "rdp",
    lifetime: float = 60.0,
    now: float | None = None,
) -> dict[str, Any]:
    """Return the JSON document granting *username* the one *connection*."""
    issued = time.time() if now is None else now
    return {
        "username": username,
        "expires": int((issued + lifetime) * 1000),
        "connections": {
            connection: {"protocol": protocol, "parameters": dict(parameters)}
        },
    }


def sign_and_encrypt(document: Mapping[str, Any] | bytes, key: bytes) -> str:
    """Sign and encrypt *document* as the JSON auth extension expects; base64 text."""
    data = (
        document
        if isinstance(document, bytes)
        else json.dumps(document, separators=(",", ":")).encode("utf-8")
    )
    signed = hmac.new(key, data, hashlib.sha256).digest() + data
    padder = padding.PKCS7(128).padder()
    plain = padder.update(signed) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(ZERO_IV)).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def decrypt_and_verify(token: str, key: bytes) -> bytes:
    """Undo `sign_and_encrypt` and check the signature; return the JSON bytes.

    This is what the extension does on its side; the workbench uses it to
    test its own output.

    Raises
    ------
    GuacamoleAuthError
        When the data does not decrypt or its signature does not match.
    """
    try:
        raw = base64.b64decode(token, validate=True)
        decryptor = Cipher(algorithms.AES(key), modes.CBC(ZERO_IV)).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        signed = unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise GuacamoleAuthError(
            "The signed JSON does not decrypt with this key"
        ) from exc
    signature, data = signed[:SIGNATURE_SIZE], signed[SIGNATURE_SIZE:]
    expected = hmac.new(key, data, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise GuacamoleAuthError("The signature of the JSON does not match the key")
    return data


def client_url(base_url: str, connection: str, token: str) -> str:
    """Return the web app's page that shows *connection*, signed in with *token*.

    The app names a connection in its URL by base64 of ``id NUL type NUL
    data source`` (``c`` for a connection).
    """
    identifier = base64.b64encode(
        "\0".join((connection, "c", DATA_SOURCE)).encode("utf-8")
    ).decode()
    query = urllib.parse.urlencode({"token": token})
    return f"{base_url.rstrip('/')}/#/client/{urllib.parse.quote(identifier)}?{query}"


async def obtain_token(base_url: str, data: str, *, timeout: float = 10.0) -> str:
    """Post the signed *data* to the web app's ``/api/tokens``; return its auth token.

    Raises
    ------
    GuacamoleAuthError
        When the app refuses the data (wrong key, expired, extension missing).
    Unreachable
        When the app cannot be reached.
    """
    # Imported here: only this alternative mode needs an HTTP client.
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError

    url = f"{base_url.rstrip('/')}/api/tokens"
    body = urllib.parse.urlencode({"data": data})
    try:
        response = await AsyncHTTPClient().fetch(
            url,
            method="POST",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            request_timeout=timeout,
        )
    except HTTPClientError as exc:
        raise GuacamoleAuthError(
            f"The Guacamole web app at {base_url} refused the sign-in (HTTP "
            f"{exc.code}): check that guacamole-auth-json is installed and that its "
            "json-secret-key equals WorkbenchApp.guacamole_json_secret",
            status=exc.code,
        ) from None
    except OSError as exc:
        raise Unreachable(
            f"Cannot reach the Guacamole web app at {base_url} ({exc}): check "
            "WorkbenchApp.guacamole_url",
            reason="refused",
            host=base_url,
        ) from None
    try:
        token = json.loads(response.body)["authToken"]
    except (ValueError, KeyError, TypeError):
        token = None
    if not isinstance(token, str) or not token:
        raise GuacamoleAuthError(
            f"The Guacamole web app at {base_url} answered without an authToken"
        )
    return token
