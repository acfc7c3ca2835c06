"""Vonage on loopback: the emulator (``.emulator``) and the sandbox (``.sandbox``).

Built on the vendor-neutral kit in :mod:`eventkit.testing`; nothing here is imported
by the provider itself, and importing this package starts nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs


@attrs.frozen
class KeyPair:
    """An RSA key pair for tests, as PEM text: the application's private key and its public half."""

    private_pem: str = attrs.field(repr=False)
    """PKCS#8 PEM: the ``private_key`` setting (the provider signs its API JWTs with it)."""
    public_pem: str
    """SubjectPublicKeyInfo PEM: what the emulator (``VonageEmulator(public_key=...)``) verifies with."""

    def __iter__(self) -> Iterator[str]:
        """Unpacks as ``private_pem, public_pem = key_pair()``."""
        return iter((self.private_pem, self.public_pem))


def key_pair(bits: int = 2048) -> KeyPair:
    """A fresh RSA key pair for one test run (Vonage applications sign RS256 JWTs with theirs).

    Generated at call time with ``cryptography`` (the ``crypto`` extra), so no key
    is ever committed; 2048 bits is the size Vonage's dashboard generates.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return KeyPair(private.decode(), public.decode())


__all__ = ["KeyPair", "key_pair"]
