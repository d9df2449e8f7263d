-- rollbot — the lists of states, written once for the database.
--
-- Two lists of incident states used to be spelt out wherever SQL needed them:
-- the states that hold a service (002's unique index and rollbot_declare,
-- three times), and the final states or their complement, the incidents
-- still in progress (004's index, the bot's start-up query and its save,
-- which sets ended_at). Each is now one function, the counterpart of
-- commands/incident.c's inc_state_holds_service() and inc_state_is_final();
-- tests/unit/test_store.c checks that C and SQL agree for every state.
-- Nothing changes in what they mean: verifying still does not hold its
-- service, and it is still in progress.
--
-- IMMUTABLE, so that partial indexes may use them; plain SQL functions of
-- one expression, so that the planner inlines them and a query's
-- `WHERE rollbot_is_final(state)` still matches an index's predicate.

CREATE FUNCTION rollbot_holds_service(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT state IN ('declared', 'awaiting_approval', 'approved', 'rolling_back')
$$;

CREATE FUNCTION rollbot_is_final(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT state IN ('resolved', 'rejected', 'expired', 'cancelled', 'failed')
$$;

-- 002's index, on the function: at most one incident per service between
-- declaration and the end of its rollback commands.
DROP INDEX incidents_one_rollback_per_service;
CREATE UNIQUE INDEX incidents_one_rollback_per_service ON incidents (service)
	WHERE rollbot_holds_service(state);

-- 004's index, on the function: the bot loads every incident still in
-- progress at start.
DROP INDEX incidents_in_progress;
CREATE INDEX incidents_in_progress ON incidents (state)
	WHERE NOT rollbot_is_final(state);

-- As in 002, with the list of states that hold a service replaced by the
-- function.
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
		WHERE service = p_service AND rollbot_holds_service(state)
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
			WHERE service = p_service AND rollbot_holds_service(state);
		RETURN 'open:' || coalesce(v_open.id, '?') || ':' || coalesce(v_open.state, '?');
	END;

	INSERT INTO audit_log (incident_id, actor, kind, detail)
	VALUES (v_id, p_requested_by, 'command_received', coalesce(p_command, '{}'));
	INSERT INTO audit_log (incident_id, actor, kind, detail)
	VALUES (v_id, 'rollbot', 'state_change', jsonb_build_object('from', NULL, 'to', 'declared'));

	RETURN v_id;
END
$$;
