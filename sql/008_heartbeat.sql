-- rollbot — a replica's heartbeat (issue 9).
--
-- Once a second every replica renews the leases it holds and reads what is
-- open across all replicas: its own incidents (with their fences, so that
-- it drops any another replica took over), those of the others (so that it
-- can answer `/rollback status` and refuse a second rollback of a busy
-- service without asking again), and orphans, whose owner's lease ran out,
-- which it then claims with rollbot_claim().

CREATE FUNCTION rollbot_heartbeat(p_owner text, p_lease_ms int)
RETURNS TABLE (id text, service text, state text, severity text, age_ms bigint,
	owner text, fence bigint, orphan boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
	UPDATE incidents i
	SET lease_until = clock_timestamp() + make_interval(secs => p_lease_ms / 1000.0)
	WHERE i.owner = p_owner AND rollbot_owned_work(i.state, i.report_pending);
	RETURN QUERY
	SELECT i.id, i.service, i.state, i.severity,
		(extract(epoch FROM clock_timestamp() - i.created_at) * 1000)::bigint,
		coalesce(i.owner, ''), i.fence,
		i.owner IS NULL OR i.lease_until < clock_timestamp()
	FROM incidents i
	WHERE rollbot_owned_work(i.state, i.report_pending)
	ORDER BY i.id COLLATE "C"; -- byte order: the bot searches it with strcmp
END
$$;

-- A claim by the replica that already holds an incident (its start-up
-- claim, or a look for one of its own it does not carry) keeps the fence:
-- the writes it has queued under that fence stay valid. A replica name is
-- unique (Kubernetes: the pod's name; by default host:pid).
CREATE OR REPLACE FUNCTION rollbot_claim(p_owner text, p_lease_ms int, p_max int,
	p_mine boolean)
RETURNS SETOF incidents
LANGUAGE sql AS $$
	UPDATE incidents i SET owner = p_owner,
		fence = CASE WHEN i.owner = p_owner THEN i.fence ELSE i.fence + 1 END,
		lease_until = clock_timestamp() + make_interval(secs => p_lease_ms / 1000.0)
	WHERE i.id IN (
		SELECT id FROM incidents
		WHERE rollbot_owned_work(state, report_pending)
		  AND (owner IS NULL OR lease_until < clock_timestamp()
		       OR (p_mine AND owner = p_owner))
		ORDER BY id
		LIMIT p_max
		FOR UPDATE SKIP LOCKED)
	RETURNING i.*
$$;

-- A reaction is recorded only when it is on an approval request that is
-- waiting: one on any other message (or on a request whose ts the owner has
-- not saved yet) changes nothing, so that a recount of that request later
-- still sees it as new. Answers 'ignored' then.
CREATE OR REPLACE FUNCTION rollbot_react(p_key text, p_channel text, p_ts text, p_user text,
	p_emoji text, p_added boolean, p_event_ts numeric)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_word text;
	v_id text;
BEGIN
	SELECT id INTO v_id FROM incidents
		WHERE channel = p_channel AND approval_ts = p_ts AND state = 'awaiting_approval';
	IF NOT FOUND THEN
		RETURN 'ignored';
	END IF;
	v_word := rollbot_reaction(p_key, p_channel, p_ts, p_user, p_emoji, p_added, p_event_ts);
	IF v_word <> 'applied' THEN
		RETURN v_word;
	END IF;
	IF rollbot_inbox_put(NULL, v_id, 'reaction', p_user,
			jsonb_build_object('emoji', p_emoji, 'added', p_added, 'channel', p_channel,
				'ts', p_ts)) = 'queued' THEN
		RETURN 'queued:' || v_id;
	END IF;
	RETURN 'applied';
END
$$;

-- The deadline is checked again once the declaration is written: a call
-- that waited inside (on a lock, a slow disk) past it is undone, so that
-- the person told "nothing was declared" at the deadline is told the truth.
CREATE OR REPLACE FUNCTION rollbot_declare_by(p_deadline timestamptz, p_owner text,
	p_lease_ms int, p_key text, p_service text, p_severity text, p_reason text,
	p_target text, p_method text, p_requested_by text, p_channel text, p_command jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_id text;
BEGIN
	IF clock_timestamp() > p_deadline THEN
		RETURN 'late';
	END IF;
	BEGIN
		v_id := rollbot_declare(p_key, p_service, p_severity, p_reason, p_target, p_method,
			p_requested_by, p_channel, p_command);
		IF v_id LIKE 'INC-%' THEN
			UPDATE incidents SET owner = p_owner, fence = 1,
				lease_until = clock_timestamp() + make_interval(secs => p_lease_ms / 1000.0)
			WHERE id = v_id;
		END IF;
		IF clock_timestamp() > p_deadline THEN
			RAISE EXCEPTION 'rollbot: late' USING ERRCODE = 'RB001';
		END IF;
	EXCEPTION WHEN SQLSTATE 'RB001' THEN
		RETURN 'late';
	END;
	RETURN v_id;
END
$$;
