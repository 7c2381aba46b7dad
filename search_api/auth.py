"""Optional bearer-token API keys, kept only as SHA-256 digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeyError(ValueError):
    """The key configuration is set but unusable; the service refuses to start rather than run open."""


class ApiKeys:
    """The configured keys; an empty set means the API is open."""

    def __init__(self, keys: list[str]) -> None:
        self._digests = [_digest(k) for k in keys if k]

    @classmethod
    def from_environment(cls) -> ApiKeys:
        """Keys from POLICY_SEARCH_API_KEYS (comma-separated) and POLICY_SEARCH_API_KEYS_FILE (a key a
        line, ``#`` comments). A variable that is set but names no key is an error: a typo must not
        leave the service open."""
        listed = os.environ.get("POLICY_SEARCH_API_KEYS")
        keys = [k.strip() for k in (listed or "").split(",") if k.strip()]
        if listed and not keys:
            raise ApiKeyError(f"POLICY_SEARCH_API_KEYS={listed!r} names no key; unset it to run without keys")
        key_file = os.environ.get("POLICY_SEARCH_API_KEYS_FILE")
        if key_file:
            try:
                lines = Path(key_file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ApiKeyError(
                    f"cannot read the key file POLICY_SEARCH_API_KEYS_FILE={key_file}: {exc}"
                ) from exc
            from_file = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
            if not from_file:
                raise ApiKeyError(f"the key file {key_file} holds no key")
            keys += from_file
        return cls(keys)

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def allows(self, authorization: str | None) -> bool:
        if not self.enabled:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        candidate = _digest(token.strip())
        # compare against every key so the time taken does not reveal which one matched
        return sum(hmac.compare_digest(candidate, d) for d in self._digests) > 0
