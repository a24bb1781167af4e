"""The key that signs access tokens, and its public JWK."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class SigningKey:
    """The RSA key that signs access tokens, with its RFC 7638 thumbprint as `kid`."""

    private_pem: str
    public_jwk: dict[str, str]
    # Parsed once: handed the PEM text, PyJWT parses and checks the RSA key again for every token,
    # which costs far more than signing it.
    private_key: rsa.RSAPrivateKey = field(repr=False, compare=False)

    @property
    def kid(self) -> str:
        return self.public_jwk["kid"]

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
            raise ValueError("AUTH_JWT_PRIVATE_KEY must be an RSA key of at least 2048 bits")
        numbers = key.public_key().public_numbers()

        def b64(n: int) -> str:
            return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode().rstrip("=")

        jwk = {"kty": "RSA", "e": b64(numbers.e), "n": b64(numbers.n)}
        canonical = '{{"e":"{}","kty":"RSA","n":"{}"}}'.format(jwk["e"], jwk["n"])
        kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")
        return cls(private_pem=pem, public_jwk={**jwk, "kid": kid, "use": "sig", "alg": "RS256"}, private_key=key)


def generate_private_key_pem() -> str:
    """A fresh 2048-bit RSA key in PKCS#8 PEM (development and tests)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
