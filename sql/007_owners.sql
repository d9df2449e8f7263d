-- rollbot — several replicas on one database: each incident has one owner
-- (issue 9).
--
-- Any replica may receive any envelope (Slack spreads them over every
-- socket of the app), but only one may act on an incident: the owner, which
-- holds a lease it renews every second. A replica that dies stops renewing,
-- and once the lease has run out another claims the incident and carries it
-- on exactly as after a restart. Every claim increments `fence`; every write
-- the owner makes about the incident names the fence it claimed with, so a
-- replica that lost its lease without knowing (a pause, a partition) finds
-- that its write changed nothing, and stops.
--
-- Envelopes about an incident that a replica receives (a reaction on its
-- approval request, /rollback resolve or cancel) are written to the
-- incident's inbox, with the delivery key in the same transaction, and the
-- owner is woken with NOTIFY; it applies the inbox in order and deletes what
-- it applied. A notification is not stored, so the owner also reads its
-- inbox on every heartbeat: a lost one costs a second, never an action.

ALTER TABLE incidents ADD COLUMN owner text;
ALTER TABLE incidents ADD COLUMN lease_until timestamptz;
ALTER TABLE incidents ADD COLUMN fence bigint NOT NULL DEFAULT 0;
-- The report (and, with drafts, the stakeholder drafts) still to upload
-- for an incident that has ended: work that outlives the incident's state.
ALTER TABLE incidents ADD COLUMN report_pending text
	CHECK (report_pending IN ('report', 'report+drafts'));

-- What a replica must carry: an incident in progress, or one whose report
-- is still to be uploaded.
CREATE FUNCTION rollbot_owned_work(p_state text, p_report_pending text)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT NOT rollbot_is_final(p_state) OR p_report_pending IS NOT NULL
$$;

CREATE INDEX incidents_owned_work ON incidents (owner)
	WHERE rollbot_owned_work(state, report_pending);

-- Claims up to p_max incidents that have work and no live owner (or, with
-- p_mine, every one this replica owned before it restarted), for p_lease_ms.
-- Returns the claimed rows, with their new fence.
CREATE FUNCTION rollbot_claim(p_owner text, p_lease_ms int, p_max int, p_mine boolean)
RETURNS SETOF incidents
LANGUAGE sql AS $$
	UPDATE incidents i SET owner = p_owner, fence = i.fence + 1,
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

-- Renews every lease p_owner holds; returns what it still holds, with the
-- fences: an incident in the replica's memory that is not in the answer
-- (or with another fence) was taken over, and the replica drops it.
CREATE FUNCTION rollbot_renew(p_owner text, p_lease_ms int)
RETURNS TABLE (id text, fence bigint)
LANGUAGE sql AS $$
	UPDATE incidents i
	SET lease_until = clock_timestamp() + make_interval(secs => p_lease_ms / 1000.0)
	WHERE i.owner = p_owner AND rollbot_owned_work(i.state, i.report_pending)
	RETURNING i.id, i.fence
$$;

-- A replica that stops cleanly hands its incidents over at once.
CREATE FUNCTION rollbot_release(p_owner text)
RETURNS int
LANGUAGE sql AS $$
	WITH r AS (
		UPDATE incidents SET owner = NULL, lease_until = NULL
		WHERE owner = p_owner RETURNING 1)
	SELECT count(*)::int FROM r
$$;

CREATE TABLE incident_inbox (
	id bigserial PRIMARY KEY,
	incident_id text NOT NULL REFERENCES incidents (id),
	kind text NOT NULL CHECK (kind IN ('reaction', 'resolve', 'cancel')),
	actor text NOT NULL,
	detail jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX incident_inbox_incident ON incident_inbox (incident_id, id);

-- Puts an envelope about an incident into its inbox and wakes the owner.
-- p_key is the delivery key (written in the same transaction: a
-- redelivery answers 'duplicate'). Answers 'queued', 'duplicate', or
-- 'ended' when the incident is no longer in progress (nothing is queued).
CREATE FUNCTION rollbot_inbox_put(p_key text, p_incident text, p_kind text, p_actor text,
	p_detail jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_inc record;
BEGIN
	IF p_key IS NOT NULL THEN
		INSERT INTO processed_deliveries (key, kind) VALUES (p_key, p_kind)
			ON CONFLICT (key) DO NOTHING;
		IF NOT FOUND THEN
			RETURN 'duplicate';
		END IF;
	END IF;
	SELECT id, owner, state INTO v_inc FROM incidents WHERE id = p_incident FOR SHARE;
	IF NOT FOUND OR rollbot_is_final(v_inc.state) THEN
		RETURN 'ended';
	END IF;
	INSERT INTO incident_inbox (incident_id, kind, actor, detail)
	VALUES (p_incident, p_kind, p_actor, coalesce(p_detail, '{}'));
	PERFORM pg_notify('rollbot_inbox', coalesce(v_inc.owner, ''));
	RETURN 'queued';
END
$$;

-- A reaction event, from whichever replica received it: rollbot_reaction()
-- decides whether it counts, and one that does on an incident's approval
-- request goes to that incident's inbox. Answers rollbot_reaction()'s word,
-- or 'queued:<incident>'.
CREATE FUNCTION rollbot_react(p_key text, p_channel text, p_ts text, p_user text,
	p_emoji text, p_added boolean, p_event_ts numeric)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_word text;
	v_id text;
BEGIN
	v_word := rollbot_reaction(p_key, p_channel, p_ts, p_user, p_emoji, p_added, p_event_ts);
	IF v_word <> 'applied' THEN
		RETURN v_word;
	END IF;
	SELECT id INTO v_id FROM incidents
		WHERE channel = p_channel AND approval_ts = p_ts AND NOT rollbot_is_final(state);
	IF NOT FOUND THEN
		RETURN 'applied';
	END IF;
	IF rollbot_inbox_put(NULL, v_id, 'reaction', p_user,
			jsonb_build_object('emoji', p_emoji, 'added', p_added, 'channel', p_channel,
				'ts', p_ts)) = 'queued' THEN
		RETURN 'queued:' || v_id;
	END IF;
	RETURN 'applied';
END
$$;

-- What p_owner has to apply: the inbox of the incidents it owns, oldest
-- first, after the last row it took (p_after). Rows of incidents that
-- have ended are dropped on the way: nothing can apply them any more.
CREATE FUNCTION rollbot_inbox_take(p_owner text, p_after bigint)
RETURNS TABLE (id bigint, incident_id text, kind text, actor text, detail jsonb)
LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM incident_inbox b USING incidents i
		WHERE b.incident_id = i.id AND rollbot_is_final(i.state);
	RETURN QUERY SELECT b.id, b.incident_id, b.kind, b.actor, b.detail
		FROM incident_inbox b JOIN incidents i ON i.id = b.incident_id
		WHERE i.owner = p_owner AND b.id > p_after
		ORDER BY b.id LIMIT 100;
END
$$;

-- rollbot_declare() with a deadline and an owner. A /rollback that waited
-- in the bot's queue while PostgreSQL was away is given up after a while,
-- and the person is told that nothing was declared: when the queued call
-- reaches the database after that, it declares nothing either and answers
-- 'late'. A new incident belongs to the replica that declared it.
CREATE FUNCTION rollbot_declare_by(p_deadline timestamptz, p_owner text, p_lease_ms int,
	p_key text, p_service text, p_severity text, p_reason text, p_target text,
	p_method text, p_requested_by text, p_channel text, p_command jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_id text;
BEGIN
	IF clock_timestamp() > p_deadline THEN
		RETURN 'late';
	END IF;
	v_id := rollbot_declare(p_key, p_service, p_severity, p_reason, p_target, p_method,
		p_requested_by, p_channel, p_command);
	IF v_id LIKE 'INC-%' THEN
		UPDATE incidents SET owner = p_owner, fence = 1,
			lease_until = clock_timestamp() + make_interval(secs => p_lease_ms / 1000.0)
		WHERE id = v_id;
	END IF;
	RETURN v_id;
END
$$;
