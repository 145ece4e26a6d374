"""Every SQL statement of the registry room: applications, what registering each kind changes,
parties, the seizure queue, the unit record for staff and the office's statistics.

Values are always bound (`%s`); no statement here is put together from parts. Versioned rows
change only through `portal.platform.versioning` (which composes its statements with
`psycopg.sql`); the register's own rules run in the database (migration 0004).
"""

from __future__ import annotations

__all__ = [
    "UNIT_ID", "NOW", "NEXT_REFERENCE", "INSERT_APPLICATION", "INSERT_SOURCE", "INSERT_APPLICATION_SOURCE",
    "LOCK_APPLICATION", "RECEIVED_BY", "REVIEW_STARTED", "LOCK_UNIT", "FIRST_SOURCE", "ALL_CONSTRAINTS_IMMEDIATE",
    "REGISTERED", "NOTIFY_HOLDERS", "REJECTED", "APPLICATION", "OPEN_APPLICATIONS", "UNIT_RECORD",
    "CURRENT_RESTRICTION", "RESTRICTION_ON_UNIT", "INSERT_RIGHT_HOLDERS", "PARCEL_BY_CODE", "INSERT_UNIT",
    "INSERT_OWNERSHIP", "OWNERSHIP_OF_UNIT", "ACTIVE_MORTGAGE_OF_RANK", "INSERT_MORTGAGE", "INSERT_SEIZURE",
    "INSERT_PARTY_RESTRICTION", "PARTY_BY_ID", "PARTY_BY_DOCUMENT", "INSERT_PARTY", "LAST_QUEUE_POSITION",
    "SEIZURE_QUEUE_DEFERRED", "SEIZURE_QUEUE", "SEIZURES_DUE", "STATISTICS",
]

# --- applications (applications.py) ----------------------------------------------------------

UNIT_ID = "SELECT unit_id FROM current_units WHERE unit_number = %s"

NOW = "SELECT now()"

# The office's reference: the year of receipt in office time, then a running number.
NEXT_REFERENCE = """
SELECT to_char(%(when)s::timestamptz AT TIME ZONE %(zone)s, 'YYYY') || '-'
       || lpad(nextval('application_reference_seq')::text, 7, '0')
"""

INSERT_APPLICATION = """
INSERT INTO applications (reference, kind, unit_id, unit_number, request, applicant, received_at, received_by,
                          received_by_name, due_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,
        add_working_days(%s, (SELECT working_days FROM time_limits WHERE kind = %s), %s))
RETURNING application_id
"""

INSERT_SOURCE = """
INSERT INTO sources (kind, reference, issued_on, issuer, description) VALUES (%s, %s, %s, %s, %s)
RETURNING source_id
"""

INSERT_APPLICATION_SOURCE = "INSERT INTO application_sources VALUES (%s, %s)"

RECEIVED_BY = "SELECT received_by FROM applications WHERE application_id = %s"

LOCK_APPLICATION = "SELECT * FROM applications WHERE application_id = %s FOR UPDATE NOWAIT"

REVIEW_STARTED = """
UPDATE applications SET status = 'under_review', review_started_at = greatest(now(), received_at)
 WHERE application_id = %s
"""

LOCK_UNIT = "SELECT 1 FROM units WHERE unit_id = %s AND end_lifespan IS NULL FOR UPDATE NOWAIT"

FIRST_SOURCE = "SELECT min(source_id) FROM application_sources WHERE application_id = %s"

ALL_CONSTRAINTS_IMMEDIATE = "SET CONSTRAINTS ALL IMMEDIATE"

REGISTERED = """
UPDATE applications SET status = 'registered', decided_at = greatest(now(), received_at), decided_by = %s,
       decided_by_name = %s, outcome = %s, unit_id = %s
 WHERE application_id = %s
"""

NOTIFY_HOLDERS = """
INSERT INTO notices (party_id, unit_id, application_id, kind, message)
SELECT h.party_id, r.unit_id, %s, %s, %s
  FROM current_rights r JOIN right_holders h ON h.right_version_id = r.version_id
 WHERE r.unit_id = %s AND r.kind = 'ownership'
"""

REJECTED = """
UPDATE applications SET status = 'rejected', decided_at = greatest(now(), received_at), decided_by = %s,
       decided_by_name = %s, reasons = %s
 WHERE application_id = %s
"""

_VIEW = """
SELECT a.application_id AS id, a.reference, a.kind, a.status, a.unit_number, a.applicant, a.received_at,
       a.received_by_name, a.due_at, a.review_started_at, a.decided_at, a.decided_by_name, a.reasons, a.outcome,
       a.request, t.working_days AS time_limit_days,
       CASE WHEN a.status IN ('registered', 'rejected') THEN NULL
            WHEN now() > a.due_at THEN 'overdue'
            WHEN a.due_at - now() < interval '1 day' THEN 'due_soon' END AS warning
  FROM applications a JOIN time_limits t USING (kind)
"""

APPLICATION = _VIEW + " WHERE a.application_id = %s"

OPEN_APPLICATIONS = _VIEW + " WHERE a.status IN ('received', 'under_review') ORDER BY a.due_at LIMIT %s"

# --- the unit record for staff (api.py) ------------------------------------------------------

UNIT_RECORD = """
SELECT u.unit_id, u.unit_number, u.location, u.use, u.floor_area::float8,
       (SELECT json_agg(json_build_object('restriction_id', s.restriction_id, 'kind', s.kind, 'status', s.status,
               'rank', s.rank, 'queue_position', s.queue_position, 'court', s.court,
               'document_number', s.document_number, 'secured_amount', s.secured_amount,
               'term_start', s.term_start, 'term_end', s.term_end) ORDER BY s.kind, s.queue_position, s.rank)
          FROM current_restrictions s WHERE s.unit_id = u.unit_id AND s.status IN ('active', 'queued')) AS restrictions,
       (SELECT json_build_object('right_id', r.right_id, 'co_ownership', r.co_ownership,
               'registered_on', r.registered_on, 'holders', (SELECT count(*) FROM right_holders h
                                                             WHERE h.right_version_id = r.version_id))
          FROM current_rights r WHERE r.unit_id = u.unit_id AND r.kind = 'ownership') AS ownership
  FROM current_units u WHERE u.unit_number = %s
"""

# --- what registering changes (operations.py) ------------------------------------------------

CURRENT_RESTRICTION = "SELECT * FROM current_restrictions WHERE restriction_id = %s"

RESTRICTION_ON_UNIT = """
SELECT restriction_id, kind, status FROM current_restrictions WHERE restriction_id = %s AND unit_id = %s
"""

INSERT_RIGHT_HOLDERS = """
INSERT INTO right_holders (right_version_id, party_id, share_numerator, share_denominator) VALUES (%s, %s, %s, %s)
"""

PARCEL_BY_CODE = "SELECT parcel_id FROM current_parcels WHERE parcel_code = %s"

INSERT_UNIT = """
INSERT INTO units (unit_number, parcel_id, location, floor_area, use) VALUES (%s, %s, %s, %s, %s) RETURNING unit_id
"""

INSERT_OWNERSHIP = """
INSERT INTO rights (unit_id, kind, co_ownership, certificate_number, registered_on, source_id)
VALUES (%s, 'ownership', %s, %s, %s, %s) RETURNING version_id
"""

OWNERSHIP_OF_UNIT = "SELECT right_id FROM current_rights WHERE unit_id = %s AND kind = 'ownership'"

ACTIVE_MORTGAGE_OF_RANK = """
SELECT restriction_id, party_id, secured_amount FROM current_restrictions
 WHERE unit_id = %s AND kind = 'mortgage' AND status = 'active' AND rank = %s
"""

INSERT_MORTGAGE = """
INSERT INTO restrictions (unit_id, kind, status, party_id, secured_amount, maximum_amount, rank, term_start, term_end,
                          source_id)
VALUES (%s, 'mortgage', 'active', %s, %s, %s, %s, %s, %s, %s) RETURNING restriction_id
"""

INSERT_SEIZURE = """
INSERT INTO restrictions (unit_id, kind, status, court, document_number, term_start, term_end, queue_position,
                          reason, source_id)
VALUES (%s, 'seizure', %s, %s, %s, %s, %s, %s, %s, %s) RETURNING restriction_id
"""

INSERT_PARTY_RESTRICTION = """
INSERT INTO restrictions (unit_id, kind, status, party_id, term_start, term_end, reason, source_id)
VALUES (%s, %s, 'active', %s, %s, %s, %s, %s) RETURNING restriction_id
"""

# --- parties (parties.py) --------------------------------------------------------------------

PARTY_BY_ID = "SELECT party_id FROM current_parties WHERE party_id = %s"

PARTY_SEALED = """
SELECT id_document_type, id_document_masked, id_document_digest, id_document_sealed
  FROM current_parties WHERE party_id = %s
"""

# Whether a party is one the register works with: a holder of a current right, the party of a
# current restriction, or named by id where an open application names its parties (holders,
# mortgagee, party: what registration resolves, `parties.resolve_party`) in an application
# someone else received. Not any `party_id` anywhere in a request, and not the revealing
# registrar's own intake: else one made-up application would open any number (review 3, N2).
PARTY_IN_USE = """
SELECT 1 WHERE EXISTS (SELECT 1 FROM right_holders h JOIN current_rights r ON r.version_id = h.right_version_id
                        WHERE h.party_id = %(party)s)
    OR EXISTS (SELECT 1 FROM current_restrictions WHERE party_id = %(party)s)
    OR EXISTS (SELECT 1 FROM applications WHERE status IN ('received', 'under_review')
                  AND received_by IS DISTINCT FROM %(registrar)s
                  AND jsonb_path_exists(request, '$ ? (@.holders[*].party_id == $p || @.mortgagee.party_id == $p
                                                       || @.party.party_id == $p)', jsonb_build_object('p', %(party)s)))
"""

PARTY_BY_DOCUMENT = """
SELECT party_id, name FROM current_parties WHERE id_document_digest = %s
"""

INSERT_PARTY = """
INSERT INTO parties (kind, name, id_document_type, id_document_digest, id_document_masked, id_document_sealed)
VALUES (%s, %s, %s, %s, %s, %s) RETURNING party_id
"""

# --- the seizure queue (seizures.py) ---------------------------------------------------------

LAST_QUEUE_POSITION = """
SELECT max(queue_position) FROM current_restrictions
 WHERE unit_id = %s AND kind = 'seizure' AND status IN ('active', 'queued')
"""

SEIZURE_QUEUE_DEFERRED = "SET CONSTRAINTS seizure_queue_unique DEFERRED"

SEIZURE_QUEUE = """
SELECT restriction_id, status, queue_position, term_start, term_end FROM current_restrictions
 WHERE unit_id = %s AND kind = 'seizure' AND status IN ('active', 'queued')
 ORDER BY queue_position
"""

SEIZURES_DUE = """
SELECT restriction_id, unit_id FROM current_restrictions
 WHERE kind = 'seizure' AND status = 'active' AND term_end < %s
 ORDER BY restriction_id
"""

# --- the office's statistics (statistics.py) -------------------------------------------------

STATISTICS = """
SELECT a.kind, to_char(a.decided_at AT TIME ZONE %(zone)s, 'YYYY-MM') AS month,
       count(*) AS completed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY working_days_between(a.received_at, a.decided_at))
           AS median_working_days,
       round(avg((a.decided_at <= a.due_at)::int) * 100, 1)::float8 AS within_limit_percent,
       max(t.working_days) AS time_limit_days
  FROM applications a JOIN time_limits t USING (kind)
 WHERE a.status = 'registered' AND a.decided_at >= now() - interval '13 months'
 GROUP BY 1, 2
 ORDER BY 2, 1
"""
