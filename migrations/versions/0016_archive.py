"""The registration archive: scans and PDFs of source documents, content-addressed.

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-06

- `archive_files`: one row per distinct file content, keyed by its SHA-256 (the bytes live in
  the file store, `portal.archive.store`, under the same hash): media type decided from the
  bytes, page count, pixel size (images) or page size in points (PDF), byte size, who stored it
  first and when.
- `source_files`: which files a source document (`sources`) carries, attached by a registrar at
  intake of an application or later; `submission_files`: files a surveyor attached to a survey
  submission, which become the files of the submission's source when it is approved (the
  source is found through `submissions.source_id`, so approval needs no step of its own).
- Like `sources`, every row is immutable and never deleted: UPDATE, DELETE and TRUNCATE are
  refused by triggers for every role.
"""

from alembic import op

revision = "0016"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = ("archive_files", "source_files", "submission_files")

UPGRADE = """
CREATE TABLE archive_files (
    sha256 char(64) PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    media_type text NOT NULL CHECK (media_type IN ('application/pdf', 'image/tiff', 'image/jpeg', 'image/png')),
    byte_size bigint NOT NULL CHECK (byte_size > 0),
    pages integer NOT NULL CHECK (pages >= 1),
    width integer NOT NULL CHECK (width >= 1),
    height integer NOT NULL CHECK (height >= 1),
    stored_by bigint,
    stored_by_name text NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE archive_files IS 'Scanned documents by SHA-256; the bytes are in the file store under the same hash';
COMMENT ON COLUMN archive_files.width IS 'pixels of the first page (images), or its width in points of 1/72 in (PDF)';

CREATE TABLE source_files (
    source_id bigint NOT NULL REFERENCES sources (source_id),
    sha256 char(64) NOT NULL REFERENCES archive_files (sha256),
    file_name text NOT NULL CHECK (btrim(file_name) <> '' AND length(file_name) <= 255),
    attached_by bigint,
    attached_by_name text NOT NULL,
    attached_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, sha256)
);
CREATE INDEX source_files_sha256 ON source_files (sha256);
COMMENT ON TABLE source_files IS 'The scans a source document carries (attached at intake or later by a registrar)';

CREATE TABLE submission_files (
    submission_id bigint NOT NULL REFERENCES submissions (submission_id),
    sha256 char(64) NOT NULL REFERENCES archive_files (sha256),
    file_name text NOT NULL CHECK (btrim(file_name) <> '' AND length(file_name) <= 255),
    attached_by bigint,
    attached_by_name text NOT NULL,
    attached_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, sha256)
);
CREATE INDEX submission_files_sha256 ON submission_files (sha256);
COMMENT ON TABLE submission_files IS 'Scans attached to a survey submission: the files of its source once approved';
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    for table in TABLES:
        op.execute(f"""
            CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION guard_immutable_row();
            CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION guard_no_truncate();
        """)


def downgrade() -> None:
    op.execute("DROP TABLE submission_files, source_files, archive_files")
