"""Settings, one small class per concern, read from the environment (and `.env`).

Nothing here is built at import time: `create_app(settings)` and the command line build a
`Settings` once and pass it down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DatabaseSettings", "PortalSettings", "TileSettings", "OgcSettings", "Settings", "project_root"]


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


class OgcSettings(BaseSettings):
    """OGC API publishing: page sizes of feature requests."""

    model_config = SettingsConfigDict(env_prefix="CADASTRE_OGC_", env_file=".env", extra="ignore")

    default_limit: int = 10
    max_limit: int = 10_000


class Settings(BaseSettings):
    """Everything the application needs, grouped by concern."""

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    tiles: TileSettings = Field(default_factory=TileSettings)
    ogc: OgcSettings = Field(default_factory=OgcSettings)
