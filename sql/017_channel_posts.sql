-- rollbot — the posts in the incidents channel that are about no incident:
-- the watcher's proposals (sql/016) and its notices that it cannot read a
-- service's figures, or can again (issue 12).
--
-- Each is recorded before it is posted, with its chat.postMessage arguments
-- (which carry a key in their metadata), and the replica that recorded it
-- holds a short lease on posting it. A replica that dies between the record
-- and Slack's answer leaves the row open (ts and post_error NULL): when it
-- restarts under the same name, or once the lease has run out, a replica
-- claims the row (rollbot_claim_posts), looks for the key in the channel's
-- history, and posts the message only when it is not there: said once.

ALTER TABLE proposals ADD COLUMN post_until timestamptz
	DEFAULT clock_timestamp() + interval '30 seconds';
UPDATE proposals SET post_until = NULL;

-- One row per service: what the watchers last said about reading its
-- figures. A notice is recorded only when this changes, so that two
-- replicas, or a restart, say it once.
CREATE TABLE watch_sight (
	service text PRIMARY KEY,
	blind boolean NOT NULL,
	since timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE watch_notices (
	id bigserial PRIMARY KEY,
	service text NOT NULL,
	kind text NOT NULL CHECK (kind IN ('blind', 'sighted')),
	why text NOT NULL,          -- what failed, for people (no URL)
	recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	recorded_by text NOT NULL,  -- the replica
	channel text NOT NULL,
	args jsonb NOT NULL,        -- chat.postMessage's arguments, as rendered
	post_until timestamptz DEFAULT clock_timestamp() + interval '30 seconds',
	ts text,                    -- Slack's ts, once posted
	post_error text             -- why it could not be posted
);

-- Records that the watcher lost (p_kind 'blind') or regained ('sighted')
-- the figures of p_service, with its post and its audit row (watch_blind,
-- watch_sighted), in one transaction. Returns 'recorded:<id>', or
-- 'unchanged' when that was said already (by this replica before a
-- restart, or by another), and then records nothing.
CREATE FUNCTION rollbot_watch_notice(p_service text, p_kind text, p_why text,
	p_replica text, p_channel text, p_args jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_blind boolean := p_kind = 'blind';
	v_id bigint;
BEGIN
	INSERT INTO watch_sight AS s (service, blind) VALUES (p_service, v_blind)
	ON CONFLICT (service) DO UPDATE SET blind = v_blind, since = clock_timestamp()
		WHERE s.blind IS DISTINCT FROM v_blind;
	IF NOT FOUND THEN
		RETURN 'unchanged';
	END IF;
	-- Regaining figures nobody said were lost is no news.
	IF NOT v_blind AND NOT EXISTS (SELECT 1 FROM watch_notices
			WHERE service = p_service AND kind = 'blind') THEN
		RETURN 'unchanged';
	END IF;
	INSERT INTO watch_notices (service, kind, why, recorded_by, channel, args)
	VALUES (p_service, p_kind, p_why, p_replica, p_channel, p_args)
	RETURNING id INTO v_id;
	PERFORM rollbot_audit(NULL, 'rollbot', 'watch_' || p_kind,
		jsonb_build_object('service', p_service, 'why', p_why, 'notice', v_id), NULL);
	RETURN 'recorded:' || v_id;
END
$$;

-- Claims the channel posts still to make whose lease ran out (a replica
-- that died), or every one p_owner recorded before p_mine_before (its
-- start: those of the process it replaces, not its own in flight), for
-- p_lease_s seconds. A proposal no longer offered (taken or
-- expired) and a notice older than ten minutes are not posted late.
CREATE FUNCTION rollbot_claim_posts(p_owner text, p_lease_s int, p_mine_before timestamptz)
RETURNS TABLE (kind text, id bigint, service text, channel text, args jsonb,
	recorded_s bigint)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY
	UPDATE proposals p SET proposed_by = p_owner,
		post_until = clock_timestamp() + make_interval(secs => p_lease_s)
	WHERE p.ts IS NULL AND p.post_error IS NULL AND p.taken_by IS NULL
		AND p.expires_at > clock_timestamp() AND p.args IS NOT NULL
		AND (p.post_until < clock_timestamp() OR (p.proposed_by = p_owner AND p.proposed_at < p_mine_before))
	RETURNING 'proposal'::text, p.id, p.service, p.channel, p.args,
		floor(extract(epoch FROM p.proposed_at))::bigint;
	RETURN QUERY
	UPDATE watch_notices n SET recorded_by = p_owner,
		post_until = clock_timestamp() + make_interval(secs => p_lease_s)
	WHERE n.ts IS NULL AND n.post_error IS NULL
		AND n.recorded_at > clock_timestamp() - interval '10 minutes'
		AND (n.post_until < clock_timestamp() OR (n.recorded_by = p_owner AND n.recorded_at < p_mine_before))
	RETURNING 'notice'::text, n.id, n.service, n.channel, n.args,
		floor(extract(epoch FROM n.recorded_at))::bigint;
END
$$;

-- rollbot_audit (sql/001) that says whether it wrote the row: false when a
-- row with p_key exists already. What a post keyed by its delivery checks
-- before it is made (/rollback assess --post): a redelivered command, on
-- another replica or after a restart, posts nothing more.
CREATE FUNCTION rollbot_audit_once(p_incident text, p_actor text, p_kind text, p_detail jsonb,
	p_key text)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audit_log (incident_id, actor, kind, detail, dedupe_key)
	VALUES (p_incident, p_actor, p_kind, coalesce(p_detail, '{}'), p_key)
		ON CONFLICT (dedupe_key) DO NOTHING;
	RETURN FOUND;
END
$$;
