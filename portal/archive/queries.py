"""Every SQL statement of the archive room."""

from __future__ import annotations

__all__ = ["INSERT_FILE", "FILE", "SOURCE_EXISTS", "ATTACH_TO_SOURCE", "ATTACH_TO_SUBMISSION", "SUBMISSION_OWNER",
           "APPLICATION_SOURCE", "MAY_VIEW", "MAY_VIEW_SOURCE", "FILES_OF_SOURCE", "FILES_OF_SUBMISSION", "ATTACHMENTS",
           "ALL_HASHES"]

INSERT_FILE = """
INSERT INTO archive_files (sha256, media_type, byte_size, pages, width, height, stored_by, stored_by_name)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (sha256) DO NOTHING
"""
FILE = """
SELECT sha256, media_type, byte_size, pages, width, height, stored_by_name, stored_at
  FROM archive_files WHERE sha256 = %s
"""
SOURCE_EXISTS = "SELECT 1 FROM sources WHERE source_id = %s"
ATTACH_TO_SOURCE = """
INSERT INTO source_files (source_id, sha256, file_name, attached_by, attached_by_name)
VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source_id, sha256) DO NOTHING
"""
ATTACH_TO_SUBMISSION = """
INSERT INTO submission_files (submission_id, sha256, file_name, attached_by, attached_by_name)
VALUES (%s, %s, %s, %s, %s) ON CONFLICT (submission_id, sha256) DO NOTHING
"""
# (who received the application, the source chosen: the one asked for if it is the application's, else its first)
APPLICATION_SOURCE = """
SELECT a.received_by, (SELECT s.source_id FROM application_sources s
                        WHERE s.application_id = a.application_id AND (%s::bigint IS NULL OR s.source_id = %s)
                        ORDER BY s.source_id LIMIT 1)
  FROM applications a WHERE a.application_id = %s
"""
SUBMISSION_OWNER = "SELECT created_by, status FROM submissions WHERE submission_id = %s"

# A file's sources (`src`): those it is attached to, and those of the submissions it is attached to.
# An owner's sources: of the rights and restrictions (every version) on units where the party
# holds a current right.
MAY_VIEW = """
WITH src AS (
    SELECT source_id FROM source_files WHERE sha256 = %(sha256)s
    UNION SELECT s.source_id FROM submission_files f JOIN submissions s USING (submission_id)
     WHERE f.sha256 = %(sha256)s AND s.source_id IS NOT NULL)
SELECT (%(clerk)s AND EXISTS (SELECT 1 FROM src JOIN sources USING (source_id) WHERE kind = 'court_order'))
    OR (%(party_id)s::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM src WHERE source_id IN (
        WITH owned AS (
            SELECT r.unit_id FROM right_holders h
              JOIN rights r ON r.version_id = h.right_version_id AND r.end_lifespan IS NULL
             WHERE h.party_id = %(party_id)s)
        SELECT source_id FROM rights WHERE unit_id IN (SELECT unit_id FROM owned)
        UNION SELECT source_id FROM restrictions WHERE unit_id IN (SELECT unit_id FROM owned))))
    OR (%(surveyor)s::bigint IS NOT NULL AND EXISTS (
        SELECT 1 FROM submission_files f JOIN submissions s USING (submission_id)
         WHERE f.sha256 = %(sha256)s AND s.created_by = %(surveyor)s))
"""
MAY_VIEW_SOURCE = """
SELECT (%(clerk)s AND EXISTS (SELECT 1 FROM sources WHERE source_id = %(source_id)s AND kind = 'court_order'))
    OR (%(party_id)s::bigint IS NOT NULL AND %(source_id)s IN (
        WITH owned AS (
            SELECT r.unit_id FROM right_holders h
              JOIN rights r ON r.version_id = h.right_version_id AND r.end_lifespan IS NULL
             WHERE h.party_id = %(party_id)s)
        SELECT source_id FROM rights WHERE unit_id IN (SELECT unit_id FROM owned)
        UNION SELECT source_id FROM restrictions WHERE unit_id IN (SELECT unit_id FROM owned)))
"""
FILES_OF_SOURCE = """
SELECT a.sha256, a.media_type, a.byte_size, a.pages, a.width, a.height, f.file_name, f.attached_by_name,
       f.attached_at
  FROM source_files f JOIN archive_files a USING (sha256) WHERE f.source_id = %s
UNION ALL
SELECT a.sha256, a.media_type, a.byte_size, a.pages, a.width, a.height, f.file_name, f.attached_by_name,
       f.attached_at
  FROM submission_files f JOIN archive_files a USING (sha256) JOIN submissions s USING (submission_id)
 WHERE s.source_id = %s
 ORDER BY attached_at, sha256
"""
FILES_OF_SUBMISSION = """
SELECT a.sha256, a.media_type, a.byte_size, a.pages, a.width, a.height, f.file_name, f.attached_by_name,
       f.attached_at
  FROM submission_files f JOIN archive_files a USING (sha256) WHERE f.submission_id = %s
 ORDER BY f.attached_at, f.sha256
"""
ATTACHMENTS = """
SELECT 'source' AS kind, source_id AS id, file_name, attached_by_name, attached_at,
       NULL::bigint AS created_by, NULL::bigint AS source_id
  FROM source_files WHERE sha256 = %s
UNION ALL
SELECT 'submission', f.submission_id, f.file_name, f.attached_by_name, f.attached_at, s.created_by, s.source_id
  FROM submission_files f JOIN submissions s USING (submission_id) WHERE f.sha256 = %s
 ORDER BY attached_at
"""
ALL_HASHES = "SELECT sha256 FROM archive_files ORDER BY sha256"
