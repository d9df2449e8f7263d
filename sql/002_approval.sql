-- rollbot — approval and the rollback itself (issue 3).
--
-- The approval request's ts (its reactions are the ones that count) and the
-- digest of the plan the approvers were shown are kept with the incident, and
-- a service can have only one rollback in progress: a second /rollback is
-- answered with the open incident instead of starting twice.

ALTER TABLE incidents ADD COLUMN approval_ts text;
ALTER TABLE incidents ADD COLUMN plan_digest text;
-- /rollback … --with-db: the service's database down-migration runs too.
ALTER TABLE incidents ADD COLUMN with_db boolean NOT NULL DEFAULT false;

-- At most one incident per service between declaration and the end of its
-- rollback commands. `verifying` is not in the list: the rollback has run.
CREATE UNIQUE INDEX incidents_one_rollback_per_service ON incidents (service)
	WHERE state IN ('declared', 'awaiting_approval', 'approved', 'rolling_back');

-- As in 001, plus: when the service already has a rollback in progress, the
-- delivery is still recorded (a redelivery stays a duplicate) and the answer
-- is 'open:<id>:<state>' instead of a new ID.
CREATE OR REPLACE FUNCTION rollbot_declare(p_key text, p_service text, p_severity text,
	p_reason text, p_target text, p_method text, p_requested_by text, p_channel text,
	p_command jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_now timestamptz := clock_timestamp();
	v_year int := extract(year FROM v_now AT TIME ZONE 'UTC')::int;
	v_seq int;
	v_id text;
	v_open record;
BEGIN
	INSERT INTO processed_deliveries (key, kind) VALUES (p_key, 'slash_command')
		ON CONFLICT (key) DO NOTHING;
	IF NOT FOUND THEN
		RETURN NULL; -- a duplicate
	END IF;

	-- Locks the service's open incident, if any, so that two bots (or two
	-- commands) cannot both see none.
	SELECT id, state INTO v_open FROM incidents
		WHERE service = p_service
		  AND state IN ('declared', 'awaiting_approval', 'approved', 'rolling_back')
		FOR UPDATE;
	IF FOUND THEN
		INSERT INTO audit_log (incident_id, actor, kind, detail)
		VALUES (v_open.id, p_requested_by, 'command_refused_open_incident',
			coalesce(p_command, '{}'));
		RETURN 'open:' || v_open.id || ':' || v_open.state;
	END IF;

	INSERT INTO incident_seq AS s (year, last) VALUES (v_year, 1)
		ON CONFLICT (year) DO UPDATE SET last = s.last + 1
		RETURNING s.last INTO v_seq;
	v_id := 'INC-' || v_year || '-' || lpad(v_seq::text, greatest(4, length(v_seq::text)), '0');

	BEGIN
		INSERT INTO incidents (id, year, seq, service, state, severity, reason, target,
			method, requested_by, channel, created_at, updated_at)
		VALUES (v_id, v_year, v_seq, p_service, 'declared', p_severity,
			coalesce(p_reason, ''), coalesce(p_target, ''), p_method, p_requested_by,
			p_channel, v_now, v_now);
	EXCEPTION WHEN unique_violation THEN
		-- Another transaction declared one for this service meanwhile.
		SELECT id, state INTO v_open FROM incidents
			WHERE service = p_service
			  AND state IN ('declared', 'awaiting_approval', 'approved', 'rolling_back');
		RETURN 'open:' || coalesce(v_open.id, '?') || ':' || coalesce(v_open.state, '?');
	END;

	INSERT INTO audit_log (incident_id, actor, kind, detail)
	VALUES (v_id, p_requested_by, 'command_received', coalesce(p_command, '{}'));
	INSERT INTO audit_log (incident_id, actor, kind, detail)
	VALUES (v_id, 'rollbot', 'state_change', jsonb_build_object('from', NULL, 'to', 'declared'));

	RETURN v_id;
END
$$;
