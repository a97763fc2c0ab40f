"""Which licence a replayed recording is under: one for every recording (`tailor replay --licence`), else a
table of known recordings by the glob of their source name (the raw records' `source`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# The real samples in ../shared and the package-registry assets (../shared/README.md says where each comes from)
KNOWN_LICENCES: dict[str, str] = {
    "bridge_dataset*": "CC-BY-4.0 (BridgeData V2, Walke et al.)",
    "umi_cup_in_the_wild": "Apache-2.0 (UMI, Chi et al., via huggingface/lerobot test data)",
    "aitw": "Apache-2.0 (Android in the Wild, Google Research, via IMNearth/CoAT)",
    "mind2web": "OpenRAIL-S; Mind2Web data terms apply (OSU NLP group, via SeeAct)",
    "bigbuckbunny.mp4": "CC-BY-3.0 (Big Buck Bunny, Blender Foundation)",
    "display-dual-monitors.webm": "CC-BY-SA-3.0 (GNOME documentation)",
}


class LicenceConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    licence: str | None = Field(
        default=None,
        max_length=200,
        description="Licence of every replayed recording (SPDX id or terms); unset: looked up in `known`.",
    )
    known: dict[str, str] = Field(
        default_factory=lambda: dict(KNOWN_LICENCES),
        description="Licences of known recordings by a glob of their source name; first match wins.",
    )
