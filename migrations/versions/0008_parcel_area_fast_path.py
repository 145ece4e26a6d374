"""Parcel insert trigger: compute the area of parcels surveyed in a CGCS2000 Gauss-Krüger zone
without a catalogue lookup.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

`parcel_area()` decides planar or ellipsoidal by matching the survey CRS's proj4 text in
`spatial_ref_sys`. That lookup is a SQL function that cannot be inlined: it cost 18 µs a row,
1.8 s of a 100,000-parcel publication. Nearly every parcel is surveyed in one of the national
Gauss-Krüger zones, EPSG:4491-4554, which are all transverse Mercator, so the trigger takes the
planar area of those directly; every other CRS still goes through `parcel_area()`, which is
unchanged.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TRIGGER = """
CREATE OR REPLACE FUNCTION parcel_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.geom IS NULL AND NEW.survey_geom IS NOT NULL THEN
        NEW.geom := ST_Multi(ST_Transform(NEW.survey_geom, 4490));
    END IF;
    IF NEW.survey_geom IS NOT NULL AND NEW.geom IS NOT NULL THEN
        IF ST_SRID(NEW.survey_geom) BETWEEN 4491 AND 4554 THEN
            -- CGCS2000 Gauss-Krüger zones: planar, as parcel_area() would decide.
            NEW.calculated_area := round(ST_Area(NEW.survey_geom)::numeric, 2);
        ELSE
            NEW.calculated_area := parcel_area(NEW.survey_geom, NEW.geom);
        END IF;
    END IF;
    RETURN NEW;
END $$;
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION parcel_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.geom IS NULL AND NEW.survey_geom IS NOT NULL THEN
        NEW.geom := ST_Multi(ST_Transform(NEW.survey_geom, 4490));
    END IF;
    IF NEW.survey_geom IS NOT NULL AND NEW.geom IS NOT NULL THEN
        NEW.calculated_area := parcel_area(NEW.survey_geom, NEW.geom);
    END IF;
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute(PREVIOUS)
