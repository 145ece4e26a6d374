"""Submissions keep what was read from the file, so later steps do not read it again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

Submitting and approving validate a submission again (approval under the publication lock).
They used to read the uploaded file again each time; now they validate the parcels stored at
upload. The columns of `submission_parcels` hold the geometry and the attributes the cadastre
keeps; `as_read` adds what validation needs beyond them: the parcel code as written (the
`parcel_code` column keeps only a well-formed one), the declared area unrounded, and the
reader's warnings. `submissions.read_issues` holds the reader's file-level issues. Both are
NULL for submissions uploaded before this revision, which are read from their file again.
No rule changes: the rows are written at upload, while the submission is a draft.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE submission_parcels ADD COLUMN as_read jsonb;
COMMENT ON COLUMN submission_parcels.as_read IS
    'What validation needs beyond the columns: parcel_code as written, declared_area unrounded, reader warnings';
ALTER TABLE submissions ADD COLUMN read_issues jsonb;
COMMENT ON COLUMN submissions.read_issues IS 'The reader''s file-level issues (a JSON array), as at upload';
"""

DOWNGRADE = """
ALTER TABLE submissions DROP COLUMN read_issues;
ALTER TABLE submission_parcels DROP COLUMN as_read;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
