"""Digitising scanned drawings: a scan, its control points, the fitted transformation, the warp
and the parcels traced over it, until they become an ordinary survey submission.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

- `digitisations`: one row per scan being digitised (the scan is an archive file). It changes
  while the surveyor works; once its parcels are submitted (`submission_id` set) the row is the
  evidence of how they were georeferenced and a trigger refuses every later change and deletion.
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE digitisations (
    digitisation_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256 char(64) NOT NULL REFERENCES archive_files (sha256),
    file_name text NOT NULL CHECK (btrim(file_name) <> ''),
    page integer NOT NULL CHECK (page >= 1),
    image_width integer NOT NULL CHECK (image_width >= 1),
    image_height integer NOT NULL CHECK (image_height >= 1),
    crs integer NOT NULL CHECK (crs > 0),
    scale_denominator integer CHECK (scale_denominator > 0),
    control_points jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(control_points) = 'array'),
    fit jsonb,
    warped jsonb,
    parcels jsonb,
    submission_id bigint REFERENCES submissions (submission_id),
    created_by bigint,
    created_by_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX digitisations_created_by ON digitisations (created_by, created_at DESC);
COMMENT ON TABLE digitisations IS 'Scans being digitised into parcels; evidence of the georeferencing once submitted';

CREATE FUNCTION digitisation_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.submission_id IS NOT NULL THEN
        RAISE EXCEPTION 'digitisation % was submitted: it is kept unchanged as evidence', OLD.digitisation_id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER digitisations_frozen BEFORE UPDATE OR DELETE ON digitisations
    FOR EACH ROW EXECUTE FUNCTION digitisation_frozen();
CREATE TRIGGER digitisations_no_truncate BEFORE TRUNCATE ON digitisations
    FOR EACH STATEMENT EXECUTE FUNCTION guard_no_truncate();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE digitisations; DROP FUNCTION digitisation_frozen()")
