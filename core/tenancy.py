"""Tenants: whose records a raw message holds, and how a producer proves it.

A raw record may name a `tenant`; its window key becomes `<tenant>~<key>` (`~` is not allowed in ids, so a
tenant's keys never meet the default tenant's or another tenant's). Naming a tenant proves nothing by
itself: every producer can write every field. Where the worker holds tenant keys
(`TAILOR_TENANT_KEYS`), a record naming a tenant must carry the HMAC-SHA256 of its exact value bytes
under that tenant's key in the `tailor-tenant-mac` header (hex), which only that tenant's producers hold.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

TENANT_HEADER = "tailor-tenant-mac"
SEPARATOR = "~"


def scoped_key(tenant: str | None, key: str) -> str:
    """The window key of `key` for `tenant` (the key itself for the default tenant)."""
    return key if tenant is None else f"{tenant}{SEPARATOR}{key}"


def tenant_mac(secret: bytes, value: bytes) -> bytes:
    """The header value that proves `value` was written by a holder of `secret`."""
    return hmac.new(secret, value, hashlib.sha256).hexdigest().encode()


def mac_ok(secret: bytes, value: bytes, mac: bytes | None) -> bool:
    return mac is not None and hmac.compare_digest(tenant_mac(secret, value), mac.strip())


def header(headers: Iterable[tuple[str, bytes | None]] | None, name: str) -> bytes | None:
    """The last value of header `name` (None when absent)."""
    found = None
    for key, value in headers or ():
        if key == name:
            found = value
    return found
