"""Each rule the database enforces refuses a bad row with an error that names it."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

SQUARE = "SRID=4528;POLYGON((40515000 3345000,40515020 3345000,40515020 3345020,40515000 3345020,40515000 3345000))"
BOWTIE = "SRID=4528;POLYGON((40515000 3345000,40515020 3345020,40515020 3345000,40515000 3345020,40515000 3345000))"


def insert_parcel(conn: psycopg.Connection, code: str, geom: str = SQUARE, **extra: object) -> int:
    columns = {"parcel_code": code, "admin_area_code": code[:6], "land_use_code": "0701",
               "survey_geom": geom, "valid_from": "2020-01-01", **extra}
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    row = conn.execute(f"INSERT INTO parcels ({names}) VALUES ({marks}) RETURNING parcel_id",  # noqa: S608
                       list(columns.values())).fetchone()
    return int(row[0])


def refused(conn: psycopg.Connection, error: type[Exception], match: str, statement: str,
            params: tuple = ()) -> None:
    with pytest.raises(error, match=match):
        with conn.transaction():
            conn.execute(statement, params)


def test_valid_parcel_is_accepted_and_area_is_computed(conn) -> None:
    pid = insert_parcel(conn, "330102999001GB00001")
    geom_srid, area, lon = conn.execute(
        "SELECT ST_SRID(geom), calculated_area, ST_X(ST_Centroid(geom)) FROM parcels WHERE parcel_id = %s",
        (pid,)).fetchone()
    assert geom_srid == 4490
    assert float(area) == pytest.approx(400.0, abs=0.01)  # planar Gauss-Krüger area
    assert 120.0 < lon < 121.0  # x is longitude, not latitude


@pytest.mark.parametrize("survey", [
    SQUARE,  # CGCS2000 Gauss-Krüger zone 40: the trigger's fast path
    "SRID=32651;POLYGON((226000 3346000,226030 3346000,226030 3346020,226000 3346020,226000 3346000))",  # UTM
    "SRID=4490;POLYGON((120.15 30.25,120.1502 30.25,120.1502 30.2502,120.15 30.2502,120.15 30.25))",  # lon/lat
])
def test_calculated_area_follows_the_survey_crs(conn, survey: str) -> None:
    """Planar in a projected survey CRS, ellipsoidal in a geographic one, by whichever path."""
    pid = insert_parcel(conn, "330102999001GB00009", survey)
    area, expected = conn.execute(
        "SELECT calculated_area, parcel_area(survey_geom, geom) FROM parcels WHERE parcel_id = %s",
        (pid,)).fetchone()
    assert area == expected
    planar = conn.execute("SELECT round(ST_Area(%s::geometry)::numeric, 2)", (survey,)).fetchone()[0]
    assert (area == planar) == ("4490" not in survey)


def test_invalid_geometry_is_refused(conn) -> None:
    with pytest.raises(errors.CheckViolation, match="parcel_(survey_)?geom_valid"):
        with conn.transaction():
            insert_parcel(conn, "330102999001GB00002", BOWTIE)


def test_empty_geometry_is_refused(conn) -> None:
    with pytest.raises(errors.CheckViolation, match="geom_valid"):
        with conn.transaction():
            insert_parcel(conn, "330102999001GB00003", "SRID=4528;POLYGON EMPTY")


@pytest.mark.parametrize("code", ["330102999001GB0001", "330102999001GQ00001", "330102999001GB00000",
                                  "030102999001GB00001", "33010299900AGB00001"])
def test_malformed_parcel_code_is_refused(conn, code: str) -> None:
    with pytest.raises((errors.CheckViolation, errors.StringDataRightTruncation)):
        with conn.transaction():
            insert_parcel(conn, code)


def test_parcel_code_must_belong_to_its_admin_area(conn) -> None:
    with pytest.raises(errors.ForeignKeyViolation):
        with conn.transaction():
            insert_parcel(conn, "330105999001GB00001")


def test_malformed_unit_number_is_refused(conn) -> None:
    pid = insert_parcel(conn, "330102999001GB00004")
    for number in ("330102999001GB00004F0001000", "330102999001GB00004W00010001",
                   "330102999001GB00004K00010001"):
        with pytest.raises((errors.CheckViolation, errors.StringDataRightTruncation)):
            with conn.transaction():
                conn.execute("INSERT INTO units (unit_number, parcel_id, location) VALUES (%s, %s, '某路1号')",
                             (number, pid))


def test_unit_number_must_start_with_its_parcel_code(conn) -> None:
    pid = insert_parcel(conn, "330102999001GB00005")
    refused(conn, errors.CheckViolation, "does not start with the code",
            "INSERT INTO units (unit_number, parcel_id, location) VALUES (%s, %s, '某路1号')",
            ("330102999001GB00006F00010001", pid))


def test_unit_of_missing_parcel_is_refused(conn) -> None:
    refused(conn, errors.ForeignKeyViolation, "parcel .* does not exist",
            "INSERT INTO units (unit_number, parcel_id, location) VALUES (%s, %s, '某路1号')",
            ("330102999001GB00007F00010001", 987654321))


def test_end_before_beginning_is_refused(conn) -> None:
    with pytest.raises(errors.CheckViolation, match="lifespan_order"):
        with conn.transaction():
            insert_parcel(conn, "330102999001GB00008", begin_lifespan="2024-01-01",
                          end_lifespan="2023-01-01")
    with pytest.raises(errors.CheckViolation, match="validity_order"):
        with conn.transaction():
            insert_parcel(conn, "330102999001GB00009", valid_to="2019-01-01")


def test_two_current_versions_of_one_parcel_are_refused(conn) -> None:
    pid = insert_parcel(conn, "330102999001GB00010")
    with pytest.raises(errors.UniqueViolation, match="parcels_current_id"):
        with conn.transaction():
            insert_parcel(conn, "330102999001GB00015", parcel_id=pid, version=2)


def _ended_parcel(conn: psycopg.Connection, code: str) -> tuple[int, object]:
    pid = insert_parcel(conn, code, begin_lifespan="2024-01-01")
    conn.execute("UPDATE parcels SET end_lifespan = '2025-01-01' WHERE parcel_id = %s", (pid,))
    return pid, conn.execute("SELECT end_lifespan FROM parcels WHERE parcel_id = %s", (pid,)).fetchone()[0]


@pytest.mark.parametrize("begins", ["2024-06-01", "2025-06-01"], ids=["overlapping", "after_a_gap"])
def test_a_version_must_begin_when_the_previous_one_ended(conn, begins) -> None:
    pid, _ = _ended_parcel(conn, "330102999001GB00012")
    with pytest.raises(errors.ForeignKeyViolation, match="follows_previous_version"):
        with conn.transaction():
            insert_parcel(conn, "330102999001GB00012", parcel_id=pid, version=2, begin_lifespan=begins)


def test_a_version_cannot_skip_one(conn) -> None:
    pid, ended = _ended_parcel(conn, "330102999001GB00013")
    with pytest.raises(errors.ForeignKeyViolation, match="follows_previous_version"):
        with conn.transaction():
            insert_parcel(conn, "330102999001GB00013", parcel_id=pid, version=3, begin_lifespan=ended)


def test_the_next_version_begins_where_the_previous_ended(conn) -> None:
    pid, ended = _ended_parcel(conn, "330102999001GB00014")
    insert_parcel(conn, "330102999001GB00014", parcel_id=pid, version=2, begin_lifespan=ended)
    versions = conn.execute("SELECT version, previous_version FROM parcels WHERE parcel_id = %s ORDER BY 1",
                            (pid,)).fetchall()
    assert versions == [(1, None), (2, 1)]


def test_every_versioned_table_chains_its_versions(conn) -> None:
    chained = {row[0] for row in conn.execute(
        "SELECT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
        "AND conname LIKE '%%_follows_previous_version' AND confrelid = conrelid")}
    assert chained == {"parcels", "units", "parties", "rights", "restrictions"}


def test_two_current_parcels_with_one_code_are_refused(conn) -> None:
    insert_parcel(conn, "330102999001GB00011")
    with pytest.raises(errors.UniqueViolation, match="parcels_current_code"):
        with conn.transaction():
            insert_parcel(conn, "330102999001GB00011")


def test_versions_are_never_overwritten_or_deleted(conn) -> None:
    pid = insert_parcel(conn, "330102999001GB00012")
    refused(conn, errors.RestrictViolation, "only end_lifespan",
            "UPDATE parcels SET land_use_code = '0501' WHERE parcel_id = %s", (pid,))
    refused(conn, errors.RestrictViolation, "never deleted", "DELETE FROM parcels WHERE parcel_id = %s", (pid,))
    refused(conn, errors.RestrictViolation, "never truncated", "TRUNCATE parcels CASCADE")
    conn.execute("UPDATE parcels SET end_lifespan = now() + interval '1 second' WHERE parcel_id = %s", (pid,))
    refused(conn, errors.RestrictViolation, "past versions are read-only",
            "UPDATE parcels SET end_lifespan = now() + interval '2 seconds' WHERE parcel_id = %s", (pid,))


def _right_with_holders(conn, form: str, shares: list[tuple[int | None, int | None]]) -> int:
    unit_id, source_id = conn.execute(
        "SELECT u.unit_id, (SELECT min(source_id) FROM sources) FROM current_units u "
        "WHERE NOT EXISTS (SELECT 1 FROM current_rights r WHERE r.unit_id = u.unit_id AND r.kind = 'ownership') "
        "LIMIT 1").fetchone() or (None, None)
    if unit_id is None:
        unit_id, source_id = conn.execute(
            "SELECT unit_id, (SELECT min(source_id) FROM sources) FROM current_units LIMIT 1").fetchone()
        conn.execute("UPDATE rights SET end_lifespan = now() WHERE unit_id = %s AND end_lifespan IS NULL",
                     (unit_id,))
    version_id = conn.execute(
        "INSERT INTO rights (unit_id, co_ownership, registered_on, source_id) "
        "VALUES (%s, %s, '2024-05-01', %s) RETURNING version_id", (unit_id, form, source_id)).fetchone()[0]
    parties = [r[0] for r in conn.execute(
        "SELECT party_id FROM current_parties WHERE kind = 'natural_person' ORDER BY party_id LIMIT %s",
        (len(shares),))]
    for party, (n, d) in zip(parties, shares, strict=True):
        conn.execute("INSERT INTO right_holders VALUES (%s, %s, %s, %s)", (version_id, party, n, d))
    return int(version_id)


def test_shares_by_portions_must_add_up_to_one(writable_database: str) -> None:
    """The shares are checked by a deferred constraint trigger, so only a real COMMIT shows it."""
    with psycopg.connect(writable_database) as conn:
        _right_with_holders(conn, "by_portions", [(1, 3), (1, 3), (1, 4)])
        with pytest.raises(errors.CheckViolation, match=r"add up to 11/12, not 1"):
            conn.commit()
    with psycopg.connect(writable_database) as conn:
        version_id = _right_with_holders(conn, "by_portions", [(1, 3), (1, 3), (1, 3)])
        conn.commit()  # exact fractions: thirds add up to one
    with psycopg.connect(writable_database) as conn:
        stored = conn.execute("SELECT count(*), sum(share_numerator::numeric / share_denominator) "
                              "FROM right_holders WHERE right_version_id = %s", (version_id,)).fetchone()
        current = conn.execute("SELECT co_ownership FROM current_rights WHERE version_id = %s",
                               (version_id,)).fetchone()
    assert stored[0] == 3 and round(stored[1], 12) == 1
    assert current == ("by_portions",)


def test_joint_ownership_needs_two_holders(writable_database: str) -> None:
    with psycopg.connect(writable_database) as conn:
        _right_with_holders(conn, "joint", [(None, None)])
        with pytest.raises(errors.CheckViolation, match="at least two holders"):
            conn.commit()


def test_two_active_mortgages_of_equal_rank_are_refused(conn) -> None:
    unit_id, party_id, source_id = conn.execute(
        "SELECT r.unit_id, r.party_id, r.source_id FROM current_restrictions r "
        "WHERE kind = 'mortgage' AND status = 'active' AND rank = 1 LIMIT 1").fetchone()
    refused(conn, errors.ExclusionViolation, "mortgage_rank_unique",
            "INSERT INTO restrictions (unit_id, kind, party_id, secured_amount, maximum_amount, rank, "
            "term_start, source_id) VALUES (%s, 'mortgage', %s, 100000, false, 1, '2025-01-01', %s)",
            (unit_id, party_id, source_id))


def test_mortgage_needs_its_fields(conn) -> None:
    unit_id, source_id = conn.execute("SELECT unit_id, source_id FROM current_rights LIMIT 1").fetchone()
    refused(conn, errors.CheckViolation, "mortgage_fields",
            "INSERT INTO restrictions (unit_id, kind, source_id) VALUES (%s, 'mortgage', %s)",
            (unit_id, source_id))


def test_resident_id_shape_is_checked(conn) -> None:
    # The number itself is checked in code before it is sealed (GB 11643); the database checks
    # what it can see: the masked form's shape, the digest's and the sealed number's lengths.
    refused(conn, errors.CheckViolation, "party_resident_id_masked",
            "INSERT INTO parties (kind, name, id_document_type, id_document_digest, id_document_masked, "
            "id_document_sealed) VALUES ('natural_person', '测试', 'resident_id', sha256('x'), '330************12', "
            "decode(repeat('00', 40), 'hex'))")
    refused(conn, errors.CheckViolation, "party_document_digest",
            "INSERT INTO parties (kind, name, id_document_type, id_document_digest, id_document_masked, "
            "id_document_sealed) VALUES ('natural_person', '测试', 'resident_id', 'short', '330*************12', "
            "decode(repeat('00', 40), 'hex'))")
