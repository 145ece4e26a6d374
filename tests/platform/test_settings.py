"""Settings refuse combinations that cannot work, at start-up, with a message naming the rule."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from portal.cli import main
from portal.settings import (
    AccountSettings,
    DatabaseSettings,
    MapSettings,
    OgcSettings,
    PortalSettings,
    Settings,
    TileSettings,
)


def test_defaults_are_consistent() -> None:
    settings = Settings(database=DatabaseSettings(DATABASE_URL="postgresql://db.example/cadastre"),
                        accounts=AccountSettings(identity_key="1de7" * 16))
    budget = settings.database
    assert budget.connections_per_process == (budget.pool_max_size + budget.work_pool_size + budget.ogc_pool_max_size
                                              + budget.provider_pool_max_size + 1) == 45


def test_ogc_default_limit_above_max_limit_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"default_limit \(500\) must be between 1 and max_limit \(100\)"):
        OgcSettings(default_limit=500, max_limit=100)
    assert OgcSettings(default_limit=100, max_limit=100).default_limit == 100


@pytest.mark.parametrize("zooms", [
    {"parcels_min_zoom": 18, "labels_min_zoom": 17},
    {"labels_min_zoom": 21, "max_zoom": 20},
    {"parcels_min_zoom": 21, "labels_min_zoom": 21, "max_zoom": 20},
])
def test_map_zooms_out_of_order_are_refused(zooms: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match="map zooms out of order: parcels_min_zoom"):
        MapSettings(**zooms)


def test_tile_buffer_not_below_extent_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"tile buffer \(4096\) must be at least 0 and less than the tile extent"):
        TileSettings(buffer=4096, extent=4096)
    with pytest.raises(ValidationError, match="tile buffer"):
        TileSettings(buffer=-1)


def test_office_timezone_must_be_an_iana_zone() -> None:
    assert PortalSettings(office_timezone="Asia/Urumqi").office_timezone == "Asia/Urumqi"
    for wrong in ("Beijing", "+08:00", "../../etc/passwd"):
        with pytest.raises(ValidationError, match="not an IANA time zone"):
            PortalSettings(office_timezone=wrong)


def test_pool_min_size_above_max_size_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"pool_min_size \(8\) must not exceed pool_max_size \(4\)"):
        DatabaseSettings(pool_min_size=8, pool_max_size=4)


def test_database_url_without_identity_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CADASTRE_ACCOUNTS_IDENTITY_KEY", raising=False)
    with pytest.raises(ValidationError, match="DATABASE_URL is set but CADASTRE_ACCOUNTS_IDENTITY_KEY is not"):
        Settings(database=DatabaseSettings(DATABASE_URL="postgresql://db.example/cadastre"),
                 accounts=AccountSettings())
    # The managed cluster keeps its own key file: no key needed there.
    assert Settings(database=DatabaseSettings(DATABASE_URL=""), accounts=AccountSettings()).database.managed


def test_the_command_refuses_bad_settings_with_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://db.example/cadastre")
    monkeypatch.delenv("CADASTRE_ACCOUNTS_IDENTITY_KEY", raising=False)
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 1
    assert "settings refused: DATABASE_URL is set but CADASTRE_ACCOUNTS_IDENTITY_KEY is not" in result.output
    monkeypatch.setenv("CADASTRE_ACCOUNTS_IDENTITY_KEY", "1de7" * 16)
    monkeypatch.setenv("CADASTRE_OGC_DEFAULT_LIMIT", "20000")
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 1 and "default_limit (20000) must be between 1 and max_limit" in result.output


def test_the_connection_budget_reaches_the_pools() -> None:
    from layers.config import build_config
    from portal.app import layers_settings

    settings = Settings(database=DatabaseSettings(DATABASE_URL="", ogc_pool_max_size=5, provider_pool_max_size=3))
    layers = layers_settings(settings)
    assert (layers.pool_max_size, layers.provider_pool_max_size) == (5, 3)
    config = build_config(layers, "postgresql://db.example/cadastre", {})
    sizes = {provider["options"]["pool_max_size"] for resource in config["resources"].values()
             for provider in resource["providers"]}
    assert sizes == {3}
