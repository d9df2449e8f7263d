-- rollbot — migration 001: the incident record (MIT licence, see LICENSE).
--
-- Applied by store_migrate() inside one transaction, recorded in
-- schema_migrations; hence no BEGIN/COMMIT here. Timestamps use
-- clock_timestamp(), not now(): now() is the start of the transaction, and
-- several audit rows written by one function call must still show the order
-- and the time at which each step really happened.

-- Incident numbers: one counter per UTC year, so IDs read INC-2026-0001 and
-- restart at 0001 every January. A row per year (not a sequence) because a
-- sequence cannot be gapless: a rolled-back declaration would burn a number
-- and the incident report would show a hole. The row lock taken by the
-- upsert in rollbot_declare serialises concurrent declarations.
CREATE TABLE incident_seq (
	year int PRIMARY KEY,
	last int NOT NULL
);

CREATE TABLE incidents (
	id text PRIMARY KEY, -- 'INC-2026-0001'
	year int NOT NULL,
	seq int NOT NULL,
	UNIQUE (year, seq),
	service text NOT NULL,
	-- The states of commands/incident.c; the CHECK keeps a bug (or a
	-- hand-written UPDATE) from storing a state the bot cannot read back.
	state text NOT NULL CHECK (state IN ('declared', 'awaiting_approval', 'approved',
		'rolling_back', 'verifying', 'resolved', 'rejected', 'expired', 'cancelled',
		'failed')),
	severity text NOT NULL CHECK (severity IN ('P0', 'P1', 'P2', 'P3')),
	reason text NOT NULL DEFAULT '',
	target text NOT NULL DEFAULT '', -- the revision resolved at request time
	method text NOT NULL,
	requested_by text NOT NULL, -- Slack user ID
	channel text NOT NULL,
	announcement_ts text, -- Slack ts of the announcement, once posted
	created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- updated_at follows every change without each UPDATE having to remember it.
CREATE FUNCTION incidents_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.updated_at := clock_timestamp();
	RETURN NEW;
END
$$;

CREATE TRIGGER incidents_touch BEFORE UPDATE ON incidents
	FOR EACH ROW EXECUTE FUNCTION incidents_touch();

-- The audit log: every step, who did it and when. The incident report is
-- built from this table alone, so it is append-only (trigger below).
-- dedupe_key makes a write idempotent: the store re-sends a command whose
-- connection broke before the answer came, and Slack redelivers events, so
-- the same step may arrive twice; a key turns the second one into a no-op.
-- NULLs never conflict, so rows without a key are never deduplicated.
CREATE TABLE audit_log (
	id bigserial PRIMARY KEY,
	incident_id text REFERENCES incidents (id), -- NULL: not about one incident
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor text NOT NULL, -- Slack user ID, or 'rollbot'
	kind text NOT NULL,
	detail jsonb NOT NULL DEFAULT '{}',
	dedupe_key text UNIQUE
);

-- The report reads one incident's rows in order.
CREATE INDEX audit_log_incident ON audit_log (incident_id, id);

-- Append-only: a record that can be edited afterwards proves nothing.
-- Statement-level, so even an UPDATE or DELETE that matches no row fails:
-- whoever tries learns at once instead of when it first matters. TRUNCATE
-- fires no row triggers, hence its own event here. (The table owner can still
-- disable the trigger; keeping the bot's role from owning the table is the
-- deployment's job.)
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
		USING HINT = 'Record a correction as a new audit row.';
END
$$;

CREATE TRIGGER audit_log_append_only
	BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Slack deliveries already acted on (envelope, event or slash-command
-- keys). Kept in the database, not in memory, so a delivery redelivered
-- across a restart of the bot is still recognised.
CREATE TABLE processed_deliveries (
	key text PRIMARY KEY,
	kind text NOT NULL,
	first_seen timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Declares an incident from a slash command, all or nothing: the delivery
-- is marked processed, the number taken, the incident and its first two
-- audit rows written in the caller's one statement (so one transaction).
-- Returns the new ID, or NULL when p_key was seen before: a redelivered or
-- re-sent command then creates nothing and uses no number. A second call
-- with the same key while the first is still running waits on the primary
-- key and then sees the conflict, so it is safe under concurrency too.
CREATE FUNCTION rollbot_declare(p_key text, p_service text, p_severity text, p_reason text,
	p_target text, p_method text, p_requested_by text, p_channel text, p_command jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_now timestamptz := clock_timestamp();
	-- The year of the ID is the UTC year, whatever the session's TimeZone.
	v_year int := extract(year FROM v_now AT TIME ZONE 'UTC')::int;
	v_seq int;
	v_id text;
BEGIN
	INSERT INTO processed_deliveries (key, kind) VALUES (p_key, 'slash_command')
		ON CONFLICT (key) DO NOTHING;
	IF NOT FOUND THEN
		RETURN NULL; -- a duplicate
	END IF;

	INSERT INTO incident_seq AS s (year, last) VALUES (v_year, 1)
		ON CONFLICT (year) DO UPDATE SET last = s.last + 1
		RETURNING s.last INTO v_seq;

	-- Four digits, more once a year has more than 9999 incidents (lpad
	-- alone would cut 10000 down to 1000).
	v_id := 'INC-' || v_year || '-' || lpad(v_seq::text, greatest(4, length(v_seq::text)), '0');

	INSERT INTO incidents (id, year, seq, service, state, severity, reason, target, method,
		requested_by, channel, created_at, updated_at)
	VALUES (v_id, v_year, v_seq, p_service, 'declared', p_severity, coalesce(p_reason, ''),
		coalesce(p_target, ''), p_method, p_requested_by, p_channel, v_now, v_now);

	INSERT INTO audit_log (incident_id, actor, kind, detail)
	VALUES (v_id, p_requested_by, 'command_received', coalesce(p_command, '{}'));
	INSERT INTO audit_log (incident_id, actor, kind, detail)
	VALUES (v_id, 'rollbot', 'state_change', jsonb_build_object('from', NULL, 'to', 'declared'));

	RETURN v_id;
END
$$;

-- Appends one audit row. With a key, writing the same step twice (a re-sent
-- command, a redelivered event) leaves one row; with NULL, every call adds
-- a row.
CREATE FUNCTION rollbot_audit(p_incident text, p_actor text, p_kind text, p_detail jsonb,
	p_key text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audit_log (incident_id, actor, kind, detail, dedupe_key)
	VALUES (p_incident, p_actor, p_kind, coalesce(p_detail, '{}'), p_key)
		ON CONFLICT (dedupe_key) DO NOTHING;
END
$$;
