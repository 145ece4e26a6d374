"""Layers: the public face of the cadastre for OGC API, and a record of changed map extents.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

`published_parcels` and `published_admin_areas` are the whitelist of what OGC API may show
(parcel code, area, land use, administrative area, validity dates, geometry): a view, so a
query through it cannot reach a party, share or restriction column even by mistake. The
benchmark's peers (tipg, stock pygeoapi) read the same views.

`tile_invalidations` records the extent of every change to parcels or administrative areas
(a statement trigger, one row per changed row, or one extent for a bulk statement) and
notifies channel `tile_invalidation` with the row id; the web processes listen and drop
exactly the cached tiles the extent touches. `tile_invalidate(bounds)` is the explicit call
for changes the triggers cannot see.

The upgrade is idempotent (IF NOT EXISTS / OR REPLACE), because bench_1000000 received these
objects by hand while still at revision 0001.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# A statement that changes more rows than this records one extent for all of them.
BULK_ROWS = 1000

UPGRADE = f"""
CREATE OR REPLACE VIEW published_parcels AS
SELECT p.parcel_code, p.calculated_area AS area, p.land_use_code, lu.name_zh AS land_use_name,
       p.admin_area_code, a.name AS admin_area_name, p.valid_from, p.valid_to, p.geom
  FROM parcels p
  JOIN land_uses lu ON lu.code = p.land_use_code
  JOIN admin_areas a ON a.code = p.admin_area_code
 WHERE p.end_lifespan IS NULL;
COMMENT ON VIEW published_parcels IS 'Current parcels, public attributes only (OGC API whitelist)';

CREATE OR REPLACE VIEW published_admin_areas AS
SELECT code AS admin_area_code, name AS admin_area_name, boundary AS geom FROM admin_areas;
COMMENT ON VIEW published_admin_areas IS 'Administrative areas as OGC API publishes them';

CREATE TABLE IF NOT EXISTS tile_invalidations (
    invalidation_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    layer text NOT NULL CHECK (layer IN ('parcels', 'admin-areas')),
    bounds box2d NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS tile_invalidations_recorded ON tile_invalidations (recorded_at);
COMMENT ON TABLE tile_invalidations IS
    'Extents (EPSG:4490, x = longitude) of stale map tiles; see LISTEN tile_invalidation';

CREATE OR REPLACE FUNCTION tile_invalidate(layer text, bounds box2d) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    id bigint;
BEGIN
    INSERT INTO tile_invalidations (layer, bounds) VALUES (layer, bounds)
        RETURNING invalidation_id INTO id;
    PERFORM pg_notify('tile_invalidation', id::text);
    RETURN id;
END $$;

CREATE OR REPLACE FUNCTION tile_invalidate_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    layer text := TG_ARGV[0];
    n bigint;
    b box2d;
BEGIN
    SELECT count(*) INTO n FROM changed;
    IF n = 0 THEN
        RETURN NULL;
    ELSIF n > {BULK_ROWS} THEN
        SELECT ST_Extent(geom) INTO b FROM changed;
        PERFORM tile_invalidate(layer, b);
    ELSE
        FOR b IN SELECT Box2D(geom) FROM changed LOOP
            PERFORM tile_invalidate(layer, b);
        END LOOP;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER parcels_tiles_inserted AFTER INSERT ON parcels
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION tile_invalidate_changed('parcels');
CREATE OR REPLACE TRIGGER parcels_tiles_updated AFTER UPDATE ON parcels
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION tile_invalidate_changed('parcels');

CREATE OR REPLACE FUNCTION admin_area_tiles_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    b box2d;
BEGIN
    FOR b IN SELECT Box2D(boundary) FROM changed LOOP
        PERFORM tile_invalidate('admin-areas', b);
    END LOOP;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER admin_areas_tiles_inserted AFTER INSERT ON admin_areas
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION admin_area_tiles_changed();
CREATE OR REPLACE TRIGGER admin_areas_tiles_updated_new AFTER UPDATE ON admin_areas
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION admin_area_tiles_changed();
CREATE OR REPLACE TRIGGER admin_areas_tiles_updated_old AFTER UPDATE ON admin_areas
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION admin_area_tiles_changed();
CREATE OR REPLACE TRIGGER admin_areas_tiles_deleted AFTER DELETE ON admin_areas
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION admin_area_tiles_changed();
"""  # noqa: S608 (a constant)

DOWNGRADE = """
DROP TRIGGER admin_areas_tiles_deleted ON admin_areas;
DROP TRIGGER admin_areas_tiles_updated_old ON admin_areas;
DROP TRIGGER admin_areas_tiles_updated_new ON admin_areas;
DROP TRIGGER admin_areas_tiles_inserted ON admin_areas;
DROP TRIGGER parcels_tiles_updated ON parcels;
DROP TRIGGER parcels_tiles_inserted ON parcels;
DROP FUNCTION admin_area_tiles_changed(), tile_invalidate_changed(), tile_invalidate(text, box2d);
DROP TABLE tile_invalidations;
DROP VIEW published_admin_areas, published_parcels;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
