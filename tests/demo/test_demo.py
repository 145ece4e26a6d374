"""The demo district is deterministic for a seed and looks like a real register."""

from __future__ import annotations

import psycopg
import pytest

from portal.demo.loader import DemoError, load_demo
from portal.platform import migrate
from portal.settings import Settings
from spatial.codes import parse_unit_number

TABLES = ("parcels", "parcel_lineage", "units", "parties", "rights", "right_holders", "restrictions",
          "sources", "admin_areas")
# Every row but the sealed identity numbers (AES-GCM under a random nonce: never the same bytes twice;
# the digest and the masked form stand for the number).
ROW = "(to_jsonb(t) - 'id_document_sealed')::text"
CHECKSUM = " || ".join(
    f"(SELECT coalesce(md5(string_agg({ROW}, '|' ORDER BY {ROW})), '') FROM {table} t)" for table in TABLES)  # noqa: S608
CHECKSUM = f"SELECT md5({CHECKSUM})"


def _load(fresh_database, seed: int) -> str:
    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=150, seed=seed)
    with psycopg.connect(url) as conn:
        return conn.execute(CHECKSUM).fetchone()[0]


@pytest.mark.slow
def test_same_seed_same_district(fresh_database) -> None:
    first = _load(fresh_database, 11)
    assert first == _load(fresh_database, 11)
    assert first != _load(fresh_database, 12)


def test_demo_refuses_a_cadastre_that_is_not_empty(database_url) -> None:
    with pytest.raises(DemoError, match="already holds parcels"):
        load_demo(database_url, settings=Settings(), parcels=50)


def test_demo_register_has_every_kind_of_record(conn) -> None:
    counts = dict(conn.execute(
        "SELECT 'parcels', count(*) FROM current_parcels UNION ALL "
        "SELECT 'co_' || co_ownership, count(*) FROM current_rights GROUP BY co_ownership UNION ALL "
        "SELECT kind || '_' || status, count(*) FROM current_restrictions GROUP BY kind, status UNION ALL "
        "SELECT 'second_rank', count(*) FROM current_restrictions WHERE rank = 2 AND status = 'active' UNION ALL "
        "SELECT 'maximum_amount', count(*) FROM current_restrictions WHERE maximum_amount UNION ALL "
        "SELECT 'lineage_' || event, count(*) FROM parcel_lineage GROUP BY event UNION ALL "
        "SELECT 'transfers', count(*) FROM rights WHERE version = 2").fetchall())
    assert counts["parcels"] == 400
    for key in ("co_sole", "co_joint", "co_by_portions", "mortgage_active", "mortgage_discharged",
                "seizure_active", "maximum_amount", "lineage_split", "lineage_merge", "transfers"):
        assert counts.get(key, 0) > 0, key


def test_demo_units_are_well_formed_and_in_hangzhou(conn) -> None:
    numbers = [r[0] for r in conn.execute("SELECT unit_number FROM current_units")]
    assert numbers and all(parse_unit_number(n).parcel_code.admin_area_code == "330102" for n in numbers)
    xmin, ymin, xmax, ymax = conn.execute(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
        "(SELECT ST_Extent(geom) e FROM current_parcels) s").fetchone()
    assert 120.0 < xmin < xmax < 120.6 and 30.0 < ymin < ymax < 30.6  # lon/lat, not swapped
    gaps_or_overlaps = conn.execute(
        "SELECT count(*) FROM current_parcels a JOIN current_parcels b ON a.parcel_id < b.parcel_id "
        "AND ST_Intersects(a.survey_geom, b.survey_geom) "
        "WHERE ST_Area(ST_Intersection(a.survey_geom, b.survey_geom)) > 0").fetchone()[0]
    assert gaps_or_overlaps == 0


def test_the_demo_respects_separation_of_duties(conn) -> None:
    """Issue 15, section 7: no demo submission or application was decided by whoever uploaded or
    received it (migration 0012's constraints validate over the whole demo history, in a
    transaction rolled back), and the demo has two administrators, so a role that sees personal
    data can be granted and confirmed in the portal."""
    conn.execute("ALTER TABLE submissions VALIDATE CONSTRAINT submission_not_decided_by_its_author")
    conn.execute("ALTER TABLE applications VALIDATE CONSTRAINT application_not_decided_by_its_receiver")
    admins = conn.execute("SELECT count(*) FROM users WHERE 'administrator' = ANY(roles)").fetchone()[0]
    assert admins >= 2


def test_a_fresh_install_from_the_demo_has_every_key_it_starts_with(fresh_database, tmp_path, monkeypatch) -> None:
    """README's `scripts/run` (demo, then serve) on a fresh clone: the demo makes every key file
    while the register is still empty, so the start-up key check that follows passes. Reported
    (review 3): the demo made the identity keys but not sheet.key, and `cadastre serve` then
    refused to start beside a register with parties."""
    from portal.accounts.key_check import check_keys

    for name in ("CADASTRE_ACCOUNTS_IDENTITY_KEY", "CADASTRE_ACCOUNTS_IDENTITY_SEAL_KEY", "CADASTRE_SHEET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CADASTRE_STATE_DIR", str(tmp_path))
    url = fresh_database()
    migrate.upgrade(url)
    load_demo(url, settings=Settings(), parcels=20, seed=3)
    with psycopg.connect(url) as conn:
        check_keys(conn, Settings())  # raises KeyUnusable when a key file is missing
    for name in ("identity.key", "identity-seal.key", "sheet.key"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
