"""The restriction check as one server-side function: one round trip per check.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

`restriction_check(...)` does what `portal/checks/service.py` did in five or six statements:
it finds the user behind the token digest, refuses (401/403) who may not check, counts the
per-minute and daily hits, reads the flags of the units asked for, decides each unit's tier,
stores the check and appends its audit rows, and returns the answer as JSON text that the app
sends on unchanged. Everything happens in the one transaction of one statement.

Who may do what stays in `portal/permissions.py`: the app passes the roles that may check, see
seizure details and see the full record. The limits' messages come from the app too, so the
audit row of a refusal says exactly what the client was told.

The audit rows are inserted last: the chain's lock (`audit_chain`, taken by `audit_append()`)
is held from that insert to the commit only, never while the flags are read or the check row
and its indexes are written. The function runs with the caller's rights (not SECURITY DEFINER):
the app role still may only append to the audit log.

`restriction_check_flushed(...)` is what the app CALLs: it runs the function in a transaction
that releases the audit chain's lock without waiting for the disk, then waits for the disk
before returning (see its comment): durable answers, shared WAL flushes.

Returns (http_status, body, records):
- 200: `body` is the response; `records` is NULL when every unit is at the `flags` tier, else
  the raw rights, restrictions and seizures of the units at a higher tier, for the app to shape
  (masking identity numbers for owners) and merge into `body`;
- 401: no current session or token with this digest (or the user is disabled);
- 403: the user's roles do not allow checks;
- 404: no current unit matches (audited as not_found and counted against the limits);
- 429: past a limit; `body` is `minute` or `day` (audited as limited).
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The chain's trigger of 0003, with the hashed text built inline instead of by calling the SQL
# function audit_canonical(): PostgreSQL parsed and planned that function's query again in every
# transaction, half the cost of appending a row (perf). The text is byte for byte the same
# (`audit_canonical()` stays, and `portal/audit.py` builds the same text to verify the chain).
AUDIT_APPEND = r"""
CREATE OR REPLACE FUNCTION audit_append() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    head record;
BEGIN
    -- The row lock queues concurrent writers: the chain never forks, numbers have no gaps.
    SELECT seq, hash INTO head FROM audit_chain WHERE singleton FOR UPDATE;
    NEW.seq := head.seq + 1;
    NEW.at := clock_timestamp();
    NEW.prev_hash := head.hash;
    NEW.hash := sha256(head.hash || convert_to(concat_ws('|',
        (extract(epoch FROM NEW.at) * 1000000)::bigint::text,
        CASE WHEN NEW.actor_user_id IS NULL THEN '-'
             ELSE length(NEW.actor_user_id::text)::text || ':' || NEW.actor_user_id::text END,
        CASE WHEN NEW.actor_role IS NULL THEN '-' ELSE length(NEW.actor_role)::text || ':' || NEW.actor_role END,
        CASE WHEN NEW.actor_institution IS NULL THEN '-'
             ELSE length(NEW.actor_institution)::text || ':' || NEW.actor_institution END,
        CASE WHEN NEW.action IS NULL THEN '-' ELSE length(NEW.action)::text || ':' || NEW.action END,
        CASE WHEN NEW.access IS NULL THEN '-' ELSE length(NEW.access)::text || ':' || NEW.access END,
        CASE WHEN NEW.subject IS NULL THEN '-' ELSE length(NEW.subject)::text || ':' || NEW.subject END,
        CASE WHEN NEW.purpose IS NULL THEN '-' ELSE length(NEW.purpose)::text || ':' || NEW.purpose END,
        CASE WHEN NEW.outcome IS NULL THEN '-' ELSE length(NEW.outcome)::text || ':' || NEW.outcome END,
        CASE WHEN NEW.reference IS NULL THEN '-' ELSE length(NEW.reference)::text || ':' || NEW.reference END,
        CASE WHEN NEW.client IS NULL THEN '-' ELSE length(NEW.client)::text || ':' || NEW.client END,
        CASE WHEN NEW.detail IS NULL THEN '-' ELSE length(NEW.detail)::text || ':' || NEW.detail END), 'UTF8'));
    UPDATE audit_chain SET seq = NEW.seq, hash = NEW.hash WHERE singleton;
    RETURN NEW;
END $$;
"""

# 0003's version, for the downgrade.
AUDIT_APPEND_0003 = r"""
CREATE OR REPLACE FUNCTION audit_append() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $$
DECLARE
    head record;
BEGIN
    SELECT seq, hash INTO head FROM audit_chain WHERE singleton FOR UPDATE;
    NEW.seq := head.seq + 1;
    NEW.at := clock_timestamp();
    NEW.prev_hash := head.hash;
    NEW.hash := sha256(head.hash || convert_to(audit_canonical(NEW), 'UTF8'));
    UPDATE audit_chain SET seq = NEW.seq, hash = NEW.hash WHERE singleton;
    RETURN NEW;
END $$;
"""

CHECK_FUNCTION = r"""
CREATE FUNCTION restriction_check(
    p_token_digest bytea, p_token_kind text, p_query_kind text, p_query_value text,
    p_purpose text, p_client text, p_per_minute integer, p_per_day integer,
    p_minute_message text, p_day_message text,
    p_check_roles text[], p_court_roles text[], p_full_roles text[],
    p_reference_suffix text, p_code text,
    OUT http_status integer, OUT body text, OUT records jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    who record;
    held text[];
    v_label text;
    minute_hits integer;
    day_hits integer;
    as_of timestamptz := now();
    -- as Python's datetime.isoformat(), which the API gave before (JSON's form drops trailing zeros)
    as_of_text text := to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN extract(microseconds FROM now())::bigint % 1000000 = 0 THEN '' ELSE to_char(now(), '.US') END
        || to_char(now(), 'TZH:TZM');
    unit_ids bigint[];
    numbers text[];
    tiers text[];
    units_json json;
    statement_units jsonb;
    top text;
    v_reference text;
BEGIN
    SELECT u.user_id, u.roles, u.institution, v.party_id, v.verification_id IS NOT NULL AS verified
      INTO who
      FROM sessions s
      JOIN users u ON u.user_id = s.user_id
      LEFT JOIN identity_verifications v ON v.user_id = u.user_id AND v.revoked_at IS NULL
     WHERE s.token_digest = p_token_digest AND s.kind = p_token_kind AND s.revoked_at IS NULL
       AND s.expires_at > now() AND u.disabled_at IS NULL;
    IF NOT FOUND THEN
        http_status := 401;
        RETURN;
    END IF;
    held := CASE WHEN who.verified THEN who.roles || 'verified_user'::text ELSE who.roles END;
    IF NOT held && p_check_roles THEN
        http_status := 403;
        RETURN;
    END IF;
    -- As portal.accounts.principal.role_label: the staff roles, else verified_user (or user).
    v_label := coalesce((SELECT string_agg(r, ',' ORDER BY r COLLATE "C") FROM unnest(who.roles) r),
                      CASE WHEN who.verified THEN 'verified_user' ELSE 'user' END);

    -- Both windows counted in one statement (as rate_hit(): windows start at Beijing midnight).
    WITH hit AS (
        INSERT INTO rate_counters AS c (bucket, window_start, hits)
        VALUES ('checks-minute:' || who.user_id,
                date_bin('1 minute', as_of, timestamptz '2000-01-01 00:00:00+08'), 1),
               ('checks-day:' || who.user_id,
                date_bin('1 day', as_of, timestamptz '2000-01-01 00:00:00+08'), 1)
        ON CONFLICT (bucket, window_start) DO UPDATE SET hits = c.hits + EXCLUDED.hits
        RETURNING bucket, hits)
    SELECT max(hits) FILTER (WHERE bucket LIKE 'checks-minute:%'), max(hits) FILTER (WHERE bucket LIKE 'checks-day:%')
      INTO minute_hits, day_hits FROM hit;
    IF random() < 0.001 THEN  -- now and then, forget windows that ended (no scheduler needed)
        DELETE FROM rate_counters WHERE window_start < now() - interval '2 days';
    END IF;
    IF minute_hits > p_per_minute OR day_hits > p_per_day THEN
        INSERT INTO audit_log (actor_user_id, actor_role, actor_institution, action, access, subject, purpose,
                               outcome, client, detail)
        VALUES (who.user_id, v_label, who.institution, 'restriction_check', NULL, p_query_value, p_purpose,
                'limited', p_client,
                jsonb_build_object('message', CASE WHEN minute_hits > p_per_minute THEN p_minute_message
                                                   ELSE p_day_message END)::text);
        http_status := 429;
        body := CASE WHEN minute_hits > p_per_minute THEN 'minute' ELSE 'day' END;
        RETURN;
    END IF;

    -- The flags of every current unit named by a unit number or on a parcel code, with the
    -- tier each is disclosed at.
    WITH target AS (
        SELECT u.unit_id, u.unit_number, u.location, u.use
          FROM units u
         WHERE u.end_lifespan IS NULL AND p_query_kind = 'unit_number' AND u.unit_number = p_query_value::bpchar
        UNION ALL
        SELECT u.unit_id, u.unit_number, u.location, u.use
          FROM parcels p
          JOIN units u ON u.parcel_id = p.parcel_id AND u.end_lifespan IS NULL
         WHERE p.end_lifespan IS NULL AND p_query_kind = 'parcel_code' AND p.parcel_code = p_query_value::bpchar
    ), flags AS (
        SELECT t.unit_id, t.unit_number::text AS unit_number, t.location, t.use,
               coalesce(h.holders, 0) AS holders, r.co_ownership,
               coalesce(x.mortgages, 0) AS mortgages, coalesce(x.seizures_active, 0) AS seizures_active,
               coalesce(x.seizures_queued, 0) AS seizures_queued, coalesce(x.objections, 0) AS objections,
               coalesce(x.advance_notices, 0) AS advance_notices,
               CASE WHEN held && p_full_roles THEN 'registry'
                    WHEN o.owned THEN 'owner'
                    WHEN held && p_court_roles THEN 'court'
                    ELSE 'flags' END AS tier
          FROM target t
          LEFT JOIN rights r ON r.unit_id = t.unit_id AND r.end_lifespan IS NULL AND r.kind = 'ownership'
          LEFT JOIN LATERAL (
              SELECT count(*) AS holders FROM right_holders WHERE right_version_id = r.version_id) h ON true
          LEFT JOIN LATERAL (
              SELECT true AS owned
                FROM rights r2 JOIN right_holders h2 ON h2.right_version_id = r2.version_id
               WHERE r2.unit_id = t.unit_id AND r2.end_lifespan IS NULL AND h2.party_id = who.party_id
               LIMIT 1) o ON true
          LEFT JOIN LATERAL (
              SELECT count(*) FILTER (WHERE kind = 'mortgage' AND status = 'active') AS mortgages,
                     count(*) FILTER (WHERE kind = 'seizure' AND status = 'active') AS seizures_active,
                     count(*) FILTER (WHERE kind = 'seizure' AND status = 'queued') AS seizures_queued,
                     count(*) FILTER (WHERE kind = 'objection' AND status = 'active') AS objections,
                     count(*) FILTER (WHERE kind = 'advance_notice' AND status = 'active') AS advance_notices
                FROM restrictions WHERE unit_id = t.unit_id AND end_lifespan IS NULL) x ON true
    ), answer AS (
        SELECT f.unit_id, f.unit_number, f.tier, f.location, f.use, f.holders, f.mortgages, f.seizures_active,
               f.seizures_queued, f.objections, f.advance_notices,
               f.holders > 1 OR f.co_ownership IN ('joint', 'by_portions') AS co_owned
          FROM flags f
    )
    SELECT array_agg(unit_id ORDER BY unit_number), array_agg(unit_number ORDER BY unit_number),
           array_agg(tier ORDER BY unit_number),
           json_agg(json_build_object(
               'unit_number', unit_number, 'location', location, 'use', use,
               'co_owned', co_owned, 'holders', holders, 'mortgaged', mortgages > 0, 'mortgages', mortgages,
               'seized', seizures_active > 0, 'seizures_active', seizures_active,
               'seizures_queued', seizures_queued, 'under_objection', objections > 0, 'objections', objections,
               'advance_notice', advance_notices > 0, 'advance_notices', advance_notices,
               'tier', tier) ORDER BY unit_number),
           jsonb_agg(jsonb_build_object(
               'unit_number', unit_number, 'location', location, 'use', use,
               'co_owned', co_owned, 'holders', holders, 'mortgaged', mortgages > 0, 'mortgages', mortgages,
               'seized', seizures_active > 0, 'seizures_active', seizures_active,
               'seizures_queued', seizures_queued, 'under_objection', objections > 0, 'objections', objections,
               'advance_notice', advance_notices > 0, 'advance_notices', advance_notices) ORDER BY unit_number)
      INTO unit_ids, numbers, tiers, units_json, statement_units
      FROM answer;

    IF unit_ids IS NULL THEN
        INSERT INTO audit_log (actor_user_id, actor_role, actor_institution, action, access, subject, purpose,
                               outcome, client)
        VALUES (who.user_id, v_label, who.institution, 'restriction_check', 'consulted', p_query_value, p_purpose,
                'not_found', p_client);
        http_status := 404;
        RETURN;
    END IF;

    top := (ARRAY['flags', 'court', 'owner', 'registry'])[
        (SELECT max(array_position(ARRAY['flags', 'court', 'owner', 'registry'], t)) FROM unnest(tiers) t)];
    v_reference := 'CK' || to_char(as_of AT TIME ZONE interval '+08:00', 'YYYYMMDD') || '-' || p_reference_suffix;

    IF top <> 'flags' THEN
        records := jsonb_build_object(
            'rights', (
                SELECT coalesce(jsonb_agg(to_jsonb(rr) ORDER BY rr.unit_id, rr.right_id, rr.version), '[]')
                  FROM (SELECT r.unit_id, r.right_id, r.version, r.kind, r.co_ownership, r.certificate_number,
                               r.registered_on, r.begin_lifespan, r.end_lifespan, s.reference AS source,
                               jsonb_agg(jsonb_build_object(
                                   'party_id', p.party_id, 'name', p.name, 'kind', p.kind,
                                   'document_type', p.id_document_type, 'document_number', p.id_document_number,
                                   'share_numerator', h.share_numerator, 'share_denominator', h.share_denominator)
                                   ORDER BY p.party_id) AS holders
                          FROM rights r
                          JOIN right_holders h ON h.right_version_id = r.version_id
                          JOIN parties p ON p.party_id = h.party_id AND p.end_lifespan IS NULL
                          LEFT JOIN sources s ON s.source_id = r.source_id
                         WHERE r.unit_id IN (SELECT unit_ids[i] FROM generate_subscripts(unit_ids, 1) i
                                              WHERE tiers[i] IN ('owner', 'registry'))
                         GROUP BY r.version_id, s.reference) rr),
            'restrictions', (
                SELECT coalesce(jsonb_agg(jsonb_build_object(
                           'unit_id', x.unit_id, 'restriction_id', x.restriction_id, 'version', x.version,
                           'kind', x.kind, 'status', x.status, 'party_name', p.name,
                           'secured_amount', x.secured_amount::text, 'maximum_amount', x.maximum_amount,
                           'rank', x.rank, 'term_start', x.term_start, 'term_end', x.term_end, 'court', x.court,
                           'document_number', x.document_number, 'queue_position', x.queue_position,
                           'reason', x.reason, 'begin_lifespan', x.begin_lifespan, 'end_lifespan', x.end_lifespan,
                           'source', s.reference)
                           ORDER BY x.unit_id, x.kind, x.restriction_id, x.version), '[]')
                  FROM restrictions x
                  LEFT JOIN parties p ON p.party_id = x.party_id AND p.end_lifespan IS NULL
                  LEFT JOIN sources s ON s.source_id = x.source_id
                 WHERE x.unit_id IN (SELECT unit_ids[i] FROM generate_subscripts(unit_ids, 1) i
                                      WHERE tiers[i] IN ('owner', 'registry'))),
            'seizures', (
                SELECT coalesce(jsonb_agg(jsonb_build_object(
                           'unit_id', x.unit_id, 'status', x.status, 'court', x.court,
                           'document_number', x.document_number, 'queue_position', x.queue_position,
                           'term_start', x.term_start, 'term_end', x.term_end)
                           ORDER BY x.unit_id, x.queue_position), '[]')
                  FROM restrictions x
                 WHERE x.unit_id IN (SELECT unit_ids[i] FROM generate_subscripts(unit_ids, 1) i
                                      WHERE tiers[i] = 'court')
                   AND x.kind = 'seizure' AND x.end_lifespan IS NULL AND x.status IN ('active', 'queued')),
            'unit_ids', to_jsonb(unit_ids));
    END IF;

    body := json_build_object(
        'reference', v_reference, 'verification_code', p_code, 'as_of', as_of_text,
        'query', json_build_object('kind', p_query_kind, 'value', p_query_value), 'tier', top,
        'units', units_json, 'certificate_url', '/check/' || v_reference || '/certificate.pdf',
        'verify_url', '/verify/' || p_code)::text;

    INSERT INTO checks (reference, verification_code, user_id, checker_role, checker_institution, tier,
                        query_kind, query_value, purpose, unit_numbers, statement, checked_at)
    VALUES (v_reference, p_code, who.user_id, v_label, who.institution, top, p_query_kind, p_query_value, p_purpose,
            numbers, jsonb_build_object('reference', v_reference, 'as_of', as_of_text,
                                        'query', jsonb_build_object('kind', p_query_kind, 'value', p_query_value),
                                        'units', statement_units),
            as_of);

    -- Last, so the chain's lock is held only from here to the commit.
    INSERT INTO audit_log (actor_user_id, actor_role, actor_institution, action, access, subject, purpose,
                           outcome, reference, client, detail)
    SELECT who.user_id, v_label, who.institution, a.action, 'consulted', a.subject, p_purpose, 'success', v_reference,
           p_client, a.detail
      FROM (SELECT 0 AS ord, 'restriction_check' AS action, p_query_value AS subject,
                   jsonb_build_object('tier', top, 'units', numbers)::text AS detail
            UNION ALL
            SELECT i, 'view_personal_data', numbers[i], jsonb_build_object('tier', tiers[i])::text
              FROM generate_subscripts(numbers, 1) i
             WHERE tiers[i] <> 'flags') a
     ORDER BY a.ord;
    http_status := 200;
END $$;
COMMENT ON FUNCTION restriction_check(bytea, text, text, text, text, text, integer, integer, text, text, text[],
                                      text[], text[], text, text) IS
    'One restriction check in one statement: token, limits, flags, tiers, check row and audit rows';

-- What the app calls: the check's transaction commits without waiting for the disk, so the
-- chain's lock is released at once instead of after a WAL flush (with the lock held across the
-- flush, checks queue one disk flush each); then, before returning, it waits until the WAL up
-- to that commit is on disk (a second, synchronous commit, which flushes all WAL before it),
-- unless another session's flush already covered it. So no check is answered before its check
-- and audit rows are durable, and concurrent checks share their flushes (group commit). A crash
-- can lose only the unflushed tail of the WAL, in order: the chain stays whole, and nothing lost
-- had been answered. Must be CALLed outside a transaction block (autocommit), as the pool does.
CREATE PROCEDURE restriction_check_flushed(
    p_token_digest bytea, p_token_kind text, p_query_kind text, p_query_value text,
    p_purpose text, p_client text, p_per_minute integer, p_per_day integer,
    p_minute_message text, p_day_message text,
    p_check_roles text[], p_court_roles text[], p_full_roles text[],
    p_reference_suffix text, p_code text,
    INOUT http_status integer DEFAULT NULL, INOUT body text DEFAULT NULL, INOUT records jsonb DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    written pg_lsn;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT c.http_status, c.body, c.records INTO http_status, body, records
      FROM restriction_check(p_token_digest, p_token_kind, p_query_kind, p_query_value, p_purpose, p_client,
                             p_per_minute, p_per_day, p_minute_message, p_day_message, p_check_roles,
                             p_court_roles, p_full_roles, p_reference_suffix, p_code) c;
    COMMIT;
    IF http_status NOT IN (401, 403) THEN  -- those wrote nothing (the rate counters are unlogged)
        written := pg_current_wal_insert_lsn();
        IF pg_current_wal_flush_lsn() < written THEN
            PERFORM pg_current_xact_id();  -- a transaction id, so this commit is flushed
            COMMIT;
        END IF;
    END IF;
END $$;
"""


def upgrade() -> None:
    op.execute(AUDIT_APPEND)
    op.execute(CHECK_FUNCTION)


def downgrade() -> None:
    op.execute("DROP PROCEDURE restriction_check_flushed(bytea, text, text, text, text, text, integer, integer, text, "
               "text, text[], text[], text[], text, text, integer, text, jsonb)")
    op.execute("DROP FUNCTION restriction_check(bytea, text, text, text, text, text, integer, integer, text, text, "
               "text[], text[], text[], text, text)")
    op.execute(AUDIT_APPEND_0003)
