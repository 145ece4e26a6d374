"""Settings, one small class per concern, read from the environment (and `.env`).

Nothing here is built at import time: `create_app(settings)` and the command line build a
`Settings` once and pass it down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DatabaseSettings", "PortalSettings", "TileSettings", "MapSettings", "Settings", "project_root",
]


def project_root() -> Path:
    """The checkout the package runs from (where pyproject.toml is), else the working directory.

    The managed PostgreSQL cluster keeps its data inside the project, so the same checkout
    always finds the same cluster whatever directory a command is started from.
    """
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists():
        return here
    return Path.cwd()


class DatabaseSettings(BaseSettings):
    """Where the cadastre lives: `DATABASE_URL`, or a cluster this project manages itself."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    state_dir: Path = Field(
        default_factory=lambda: project_root() / ".cadastre", validation_alias="CADASTRE_STATE_DIR"
    )
    database_name: str = Field(default="cadastre", validation_alias="CADASTRE_DATABASE")
    pool_min_size: int = 2
    pool_max_size: int = 16

    @field_validator("database_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def managed(self) -> bool:
        return self.database_url is None


class PortalSettings(BaseSettings):
    """The web application: where it listens and how it presents itself."""

    model_config = SettingsConfigDict(env_prefix="CADASTRE_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    title: str = "Cadastre"
    public_url: str | None = None
    basemap_url: str | None = None


class TileSettings(BaseSettings):
    """Vector tiles: how much goes into one tile and how long it is kept."""

    model_config = SettingsConfigDict(env_prefix="CADASTRE_TILE_", env_file=".env", extra="ignore")

    max_features: int = 20_000
    extent: int = 4096
    buffer: int = 64
    cache_size: int = 20_000


class MapSettings(BaseSettings):
    """The public map page: where its parcel tiles come from and when labels appear."""

    model_config = SettingsConfigDict(env_prefix="CADASTRE_MAP_", env_file=".env", extra="ignore")

    # The OGC API tiles that layers/ publishes; a setting so a deployment can put a cache in front.
    parcel_tiles_url: str = "/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt"
    parcel_tiles_layer: str = "parcels"
    parcels_min_zoom: int = Field(default=14, ge=0, le=22)
    labels_min_zoom: int = Field(default=17, ge=0, le=22)
    max_labels: int = Field(default=600, ge=1, le=5000)
    max_zoom: int = Field(default=20, ge=1, le=22)


class Settings(BaseSettings):
    """Everything the application needs, grouped by concern."""

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    tiles: TileSettings = Field(default_factory=TileSettings)
    map: MapSettings = Field(default_factory=MapSettings)
