"""The engine's checkpoint signing key: Ed25519, created on first use, kept under the home.

Ed25519 rather than HMAC: a verifier holds only the public key (``offboard audit public-key``),
so whoever checks the trail cannot also forge it, and the key never has to leave the engine.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import tempfile
import threading
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from config.settings import Settings, get_settings

KEY_FILE_NAME = "audit-signing-key.pem"


class SigningKeyError(Exception):
    """The signing key cannot be created, read or used; the message names the file."""


class PublicKeyError(ValueError):
    """A ``--public-key`` value that is not an Ed25519 public key nor a file holding one."""


def signing_key_file(settings: Settings | None = None) -> Path:
    """``OFFBOARD_AUDIT_SIGNING_KEY_FILE``, or the key file under the home."""
    settings = settings or get_settings()
    return settings.audit_signing_key_file or settings.home / KEY_FILE_NAME


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key in base64: one short line to paste or keep elsewhere."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint written into each checkpoint, so a rotated key is visible."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def parse_public_key(value: str) -> Ed25519PublicKey:
    """A public key given as base64 (as ``offboard audit public-key`` prints it), or a file
    holding that line or a PEM public key."""
    text = value.strip()
    path = Path(text).expanduser()
    with contextlib.suppress(OSError, ValueError):
        if path.is_file():
            text = path.read_text(encoding="ascii").strip()
    if text.startswith("-----BEGIN"):
        try:
            loaded = serialization.load_pem_public_key(text.encode("ascii"))
        except ValueError:
            raise PublicKeyError("not a PEM public key") from None
        if not isinstance(loaded, Ed25519PublicKey):
            raise PublicKeyError("not an Ed25519 public key")
        return loaded
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise PublicKeyError(
            "neither an Ed25519 public key in base64 nor a file holding one "
            "(see 'offboard audit public-key')"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def verifies(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


_loaded: dict[Path, Ed25519PrivateKey] = {}
_loading = threading.Lock()


def load_signing_key(path: Path | None = None) -> Ed25519PrivateKey:
    """The private key at ``path`` (default: ``signing_key_file()``), created on first use with
    mode 0600. Raises ``SigningKeyError`` naming the file."""
    path = Path(os.path.abspath(path or signing_key_file()))
    with _loading:
        key = _loaded.get(path)
        if key is None:
            key = _read_or_create(path)
            _loaded[path] = key
        return key


def _read_or_create(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = _create(path)
    except OSError as exc:
        raise SigningKeyError(
            f"cannot read the audit signing key {path}: {exc.strerror or exc}"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SigningKeyError(
            f"{path} is not an unencrypted PEM private key (the audit signing key)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 private key (the audit signing key)")
    return key


def _create(path: Path) -> bytes:
    """Write a new key and link it into place, so that of several processes starting at once
    one key wins and every process reads that one."""
    data = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
        try:
            # mkstemp creates the file with mode 0600.
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return path.read_bytes()
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        raise SigningKeyError(
            f"cannot create the audit signing key {path}: {exc.strerror or exc}"
        ) from None
    return data
