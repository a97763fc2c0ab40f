"""Settings of tenancy on the raw topics: tenant keys and whether the default tenant is allowed."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class TenancyConfig(BaseModel):
    tenant_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Per tenant, the secret its producers sign raw records with (HMAC-SHA256 of the value in "
        "the `tailor-tenant-mac` header; core/tenancy.py). When any is set, a record naming a tenant without "
        "a valid MAC is dead-lettered (`tenant_unverified`) and one naming a tenant not listed too "
        "(`unknown_tenant`). Empty: a tenant field only separates the keys of cooperating producers.",
    )
    tenant_required: bool = Field(
        default=False,
        description="Refuse raw records that name no tenant (`tenant_missing`). False: they belong to the "
        "default tenant, as every producer's records did before tenants.",
    )
