"""Optional bearer-token API keys, kept only as SHA-256 digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeys:
    """The configured keys; an empty set means the API is open."""

    def __init__(self, keys: list[str]) -> None:
        self._digests = [_digest(k) for k in keys if k]

    @classmethod
    def from_environment(cls) -> ApiKeys:
        """Keys from POLICY_SEARCH_API_KEYS and POLICY_SEARCH_API_KEYS_FILE (a key a line)."""
        keys = [k.strip() for k in os.environ.get("POLICY_SEARCH_API_KEYS", "").split(",")]
        key_file = os.environ.get("POLICY_SEARCH_API_KEYS_FILE")
        if key_file:
            keys += [
                line.strip()
                for line in Path(key_file).read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")
            ]
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
