"""Generalised parcels per zoom band, for the map tiles below full detail (z0-z13).

Revision ID: 0022
Revises: 0012
Create Date: 2026-12-06

A tile below z14 shows each current parcel of at least three quarters of a screen pixel's area,
simplified to half a pixel (layers.sql). Doing that per request meant simplifying every parcel
of a z12 tile, which on a million parcels was the bulk of a cold tile. `parcel_generalised`
holds the result once per zoom band (`band` = the zoom, 0-13): the geometry already simplified
with that zoom's tolerance, only for the parcels large enough to be drawn at it, with the two
properties tiles carry. Statement triggers keep it in step with `parcels` in the same
transaction as the change (publication inserts the new versions and retires the old ones), so
a tile never mixes generations. The formulas are layers.sql's (`_tile_values`), in float8, so
tiles made from it equal those made from `parcels` directly (tests/layers/test_ogc_generalised).

The upgrade fills the table from the current parcels (a few minutes for a million).
"""

from alembic import op

revision = "0022"
down_revision = "0012"
branch_labels = None
depends_on = None

# Bands are the zooms below layers.sql.FULL_DETAIL_ZOOM (14).
TOP_BAND = 13
# layers.sql: tolerance = 360 / 2^z / 256 / 2 degrees; min area = (C / 2^z / 256)^2 * 0.75 m².
BANDS = f"""
    SELECT z::smallint AS band, c.parcel_id, c.parcel_code, c.land_use_code,
           ST_Simplify(c.geom, 360.0::float8 / (2.0::float8 ^ z) / 256 / 2) AS geom
    FROM {{rows}} c CROSS JOIN generate_series(0, {TOP_BAND}) AS z
    WHERE c.end_lifespan IS NULL
      AND c.calculated_area >= (40075016.686::float8 / (2.0::float8 ^ z) / 256)
                             * (40075016.686::float8 / (2.0::float8 ^ z) / 256) * 0.75
"""

# One index per band: a tile's query names its band as a constant (layers.sql), so the planner
# picks the band's own index and never scans the rows of the other zooms.
INDEXES = "\n".join(
    f"CREATE INDEX parcel_generalised_geom_{z} ON parcel_generalised USING gist (geom) "
    f"WHERE band = {z};" for z in range(TOP_BAND + 1))

UPGRADE = f"""
CREATE TABLE parcel_generalised (
    band smallint NOT NULL CHECK (band BETWEEN 0 AND {TOP_BAND}),
    parcel_id bigint NOT NULL,
    parcel_code char(19) NOT NULL,
    land_use_code varchar(4) NOT NULL,
    geom geometry(Geometry, 4490) NOT NULL,
    PRIMARY KEY (parcel_id, band)
);
COMMENT ON TABLE parcel_generalised IS 'Current parcels simplified per zoom band for map tiles (z = band), kept by triggers on parcels';
INSERT INTO parcel_generalised
    SELECT * FROM ({BANDS.format(rows="parcels")}) s WHERE s.geom IS NOT NULL AND NOT ST_IsEmpty(s.geom);
{INDEXES}

CREATE FUNCTION parcel_generalised_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- A version that was current and is changed or retired: its bands go.
        DELETE FROM parcel_generalised g USING gone o
            WHERE o.end_lifespan IS NULL AND g.parcel_id = o.parcel_id;
    END IF;
    INSERT INTO parcel_generalised
        SELECT * FROM ({BANDS.format(rows="changed")}) s
        WHERE s.geom IS NOT NULL AND NOT ST_IsEmpty(s.geom)
        ON CONFLICT (parcel_id, band) DO UPDATE
            SET parcel_code = EXCLUDED.parcel_code, land_use_code = EXCLUDED.land_use_code,
                geom = EXCLUDED.geom;
    RETURN NULL;
END $$;
CREATE TRIGGER parcels_generalised_inserted AFTER INSERT ON parcels
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION parcel_generalised_changed();
CREATE TRIGGER parcels_generalised_updated AFTER UPDATE ON parcels
    REFERENCING OLD TABLE AS gone NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION parcel_generalised_changed();
CREATE FUNCTION parcel_generalised_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM parcel_generalised g USING gone o WHERE g.parcel_id = o.parcel_id
        AND o.end_lifespan IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER parcels_generalised_deleted AFTER DELETE ON parcels
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION parcel_generalised_deleted();
"""  # noqa: S608 (constants)

DOWNGRADE = """
DROP TRIGGER parcels_generalised_deleted ON parcels;
DROP TRIGGER parcels_generalised_updated ON parcels;
DROP TRIGGER parcels_generalised_inserted ON parcels;
DROP FUNCTION parcel_generalised_deleted(), parcel_generalised_changed();
DROP TABLE parcel_generalised;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
