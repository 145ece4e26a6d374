"""Submissions: surveyors' uploads on their way from draft to the published cadastre.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

A submission keeps the uploaded file (the evidence), the parcels read from it, the parcels it
retires (split, merge, boundary adjustment) and its validation report. Its status moves only
forward: draft -> submitted -> approved | rejected, or draft -> withdrawn; a trigger refuses any
other move, a rejection without reasons, and any change to a decided submission. Nothing in
these tables is part of the cadastre until approval publishes it in one transaction.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE TABLE submissions (
    submission_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'submitted', 'approved', 'rejected', 'withdrawn')),
    purpose text NOT NULL DEFAULT 'new'
        CHECK (purpose IN ('new', 'split', 'merge', 'boundary_adjustment')),
    file_name text NOT NULL CHECK (btrim(file_name) <> ''),
    file_format text NOT NULL,
    file_sha256 char(64) NOT NULL,
    file_content bytea NOT NULL,
    crs integer NOT NULL,
    description text,
    report jsonb NOT NULL,
    error_count integer NOT NULL CHECK (error_count >= 0),
    warning_count integer NOT NULL CHECK (warning_count >= 0),
    created_by bigint,
    created_by_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    submitted_at timestamptz,
    decided_at timestamptz,
    decided_by bigint,
    decided_by_name text,
    reasons text[],
    source_id bigint REFERENCES sources (source_id),
    CONSTRAINT submission_decision CHECK (
        (status IN ('approved', 'rejected')) = (decided_at IS NOT NULL)),
    CONSTRAINT submission_rejected_with_reasons CHECK (
        status <> 'rejected' OR cardinality(reasons) > 0),
    CONSTRAINT submission_published_with_source CHECK (
        (status = 'approved') = (source_id IS NOT NULL)),
    CONSTRAINT submission_submitted_clean CHECK (
        status NOT IN ('submitted', 'approved') OR error_count = 0)
);
CREATE INDEX submissions_queue ON submissions (status, submitted_at);
CREATE INDEX submissions_created_by ON submissions (created_by, created_at DESC);
COMMENT ON TABLE submissions IS 'Surveyors'' uploads: draft, submitted, approved (published), rejected';

CREATE TABLE submission_parcels (
    submission_id bigint NOT NULL REFERENCES submissions ON DELETE CASCADE,
    position integer NOT NULL CHECK (position >= 0),
    place text NOT NULL,
    parcel_code char(19),
    land_use_code text,
    name text,
    declared_area numeric(14, 2),
    survey_geom geometry NOT NULL,
    geom geometry(MultiPolygon, 4490),
    PRIMARY KEY (submission_id, position)
);
CREATE INDEX submission_parcels_geom ON submission_parcels USING gist (geom);
COMMENT ON TABLE submission_parcels IS 'Parcels read from a submission''s file, in the delivered CRS and in CGCS2000';

CREATE TABLE submission_retirements (
    submission_id bigint NOT NULL REFERENCES submissions ON DELETE CASCADE,
    parcel_id bigint NOT NULL,
    parcel_code char(19) NOT NULL,
    PRIMARY KEY (submission_id, parcel_id)
);
COMMENT ON TABLE submission_retirements IS 'Current parcels a split, merge or boundary adjustment retires';

CREATE FUNCTION guard_submission_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status NOT IN ('draft', 'withdrawn') THEN
            RAISE EXCEPTION 'submission % is %: only drafts may be deleted', OLD.submission_id, OLD.status
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status IN ('approved', 'rejected', 'withdrawn') THEN
        RAISE EXCEPTION 'submission % is % and can no longer change', OLD.submission_id, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.status <> OLD.status AND NOT (
           (OLD.status = 'draft' AND NEW.status IN ('submitted', 'withdrawn'))
        OR (OLD.status = 'submitted' AND NEW.status IN ('approved', 'rejected'))) THEN
        RAISE EXCEPTION 'submission % cannot move from % to %', OLD.submission_id, OLD.status, NEW.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.file_content IS DISTINCT FROM OLD.file_content OR NEW.file_sha256 <> OLD.file_sha256
       OR NEW.created_by IS DISTINCT FROM OLD.created_by OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'submission %: the uploaded file and its author are evidence and never change',
            OLD.submission_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER submissions_status BEFORE UPDATE OR DELETE ON submissions
    FOR EACH ROW EXECUTE FUNCTION guard_submission_status();

CREATE FUNCTION guard_submission_content() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    state text;
BEGIN
    SELECT status INTO state FROM submissions
     WHERE submission_id = COALESCE(NEW.submission_id, OLD.submission_id);
    IF state IS NOT NULL AND state <> 'draft' THEN
        RAISE EXCEPTION 'submission % is %: its parcels no longer change',
            COALESCE(NEW.submission_id, OLD.submission_id), state
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN COALESCE(NEW, OLD);
END $$;
CREATE TRIGGER submission_parcels_frozen BEFORE INSERT OR UPDATE OR DELETE ON submission_parcels
    FOR EACH ROW EXECUTE FUNCTION guard_submission_content();
CREATE TRIGGER submission_retirements_frozen BEFORE INSERT OR UPDATE OR DELETE ON submission_retirements
    FOR EACH ROW EXECUTE FUNCTION guard_submission_content();
"""

DOWNGRADE = """
DROP TABLE submission_retirements, submission_parcels, submissions;
DROP FUNCTION guard_submission_content(), guard_submission_status();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
