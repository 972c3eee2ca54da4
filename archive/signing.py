"""The operator's Ed25519 seal key: created on first use (mode 0600), public half exportable as PEM."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from schemas.errors import EncaisseError, ErrorCode
from schemas.settings import Settings, get_settings

KEY_FILENAME = "archive-ed25519.pem"


class SealKeyError(EncaisseError):
    """The seal key is missing, unreadable or not an Ed25519 key."""

    code = ErrorCode.ARCHIVE_SEAL


def default_key_path(settings: Settings | None = None) -> Path:
    """``ENCAISSE_ARCHIVE_KEY_FILE``, else ``ENCAISSE_DATA_DIR/keys/archive-ed25519.pem``."""
    settings = settings or get_settings()
    return settings.archive_key_file or Path(settings.data_dir) / "keys" / KEY_FILENAME


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The private key at ``path``; a new one is written there (0600, folder 0700) when none exists."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return load_key(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        return key
    return load_key(path)


def load_key(path: Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key (PEM, PKCS#8, unencrypted)."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SealKeyError(f"cannot read the seal key: {exc}", where=str(path)) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SealKeyError("the seal key is not an Ed25519 key", where=str(path))
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The public key as PEM (SubjectPublicKeyInfo), as ``openssl pkeyutl -pubin`` reads it."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_pem(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise SealKeyError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SealKeyError("the public key is not an Ed25519 key")
    return key


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte public key: names the key inside each seal."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def signature_valid(public: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` is ``public``'s Ed25519 signature of ``data``."""
    try:
        public.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def trusted_keys_dir(settings: Settings | None = None) -> Path:
    """Where public keys of seals this instance accepts besides its own are kept (an imported archive's)."""
    return default_key_path(settings).parent / "trusted"


def verification_keys(settings: Settings | None = None) -> list[Ed25519PublicKey]:
    """The operator's public key (the key is created on first use) and every trusted one."""
    keys = [load_or_create_key(default_key_path(settings)).public_key()]
    folder = trusted_keys_dir(settings)
    if folder.is_dir():
        keys += [load_public_pem(p.read_bytes()) for p in sorted(folder.glob("*.pem"))]
    return keys


def trust_public_key(pem: bytes, settings: Settings | None = None) -> Path:
    """Accept seals signed by this public key from now on (``keys/trusted/<key id>.pem``)."""
    key = load_public_pem(pem)
    folder = trusted_keys_dir(settings)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{key_id(key)}.pem"
    if not path.exists():
        path.write_bytes(public_pem(key))
    return path
