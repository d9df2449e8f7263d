-- rollbot — the PagerDuty page about a proposal, kept with the proposal
-- (issue 12), and the assessments posted with `/rollback assess --post`.
--
-- A proposal is paged (Events API v2, dedup key rollbot-proposal-<id>) once
-- it is recorded, and the page is resolved once it is taken or has
-- expired. What was sent, and what PagerDuty accepted, is here rather than
-- in one replica's memory: a replica that crashes before its trigger went
-- out, or restarts before the proposal expires, or is not the one that
-- paged it, leaves nothing open for good. Each replica with a routing key
-- claims (rollbot_claim_pages) the pages still to send, for a lease, sends
-- them, and records what PagerDuty accepted: sent once in the normal case,
-- at least once across crashes (PagerDuty dedups by key, and resolving a
-- resolved event changes nothing).

ALTER TABLE proposals
	ADD COLUMN paged_at timestamptz,         -- PagerDuty accepted the trigger
	ADD COLUMN page_resolved_at timestamptz, -- PagerDuty accepted the resolve
	ADD COLUMN page_by text,                 -- the replica sending its page (or last sent)
	ADD COLUMN page_until timestamptz;       -- its lease on that send

-- Claims, for p_lease_s seconds, the pages still to send: a trigger for a
-- proposal still offered (not taken, not expired) that PagerDuty has not
-- accepted yet; a resolve for one taken or expired (within a day: a
-- PagerDuty that refuses for longer is not asked for ever) whose trigger
-- was sent (accepted or not: it may have gone out before a crash) and whose
-- resolve was not accepted. Free to claim: no lease, a lease run out, or
-- one p_owner took before p_mine_before (its start: the process it
-- replaces, not its own sends in flight).
CREATE FUNCTION rollbot_claim_pages(p_owner text, p_lease_s int, p_mine_before timestamptz)
RETURNS TABLE (action text, id bigint, service text, severity text, summary text)
LANGUAGE plpgsql AS $$
DECLARE
	v_now timestamptz := clock_timestamp();
BEGIN
	RETURN QUERY
	UPDATE proposals p SET page_by = p_owner,
		page_until = v_now + make_interval(secs => p_lease_s)
	WHERE (p.page_until IS NULL OR p.page_until < v_now
			OR (p.page_by = p_owner
				AND p.page_until < p_mine_before + make_interval(secs => p_lease_s)))
		AND ((p.paged_at IS NULL AND p.taken_by IS NULL AND p.expires_at > v_now)
			OR (p.page_by IS NOT NULL AND p.page_resolved_at IS NULL
				AND (p.taken_by IS NOT NULL OR p.expires_at <= v_now)
				AND coalesce(p.taken_at, p.expires_at) > v_now - interval '1 day'))
	RETURNING CASE WHEN p.taken_by IS NULL AND p.expires_at > v_now THEN 'trigger'
		ELSE 'resolve' END, p.id, p.service, p.severity, p.summary;
END
$$;

-- PagerDuty accepted p_action ('trigger' or 'resolve') for proposal p_id:
-- recorded, with an audit row (proposal_paged, proposal_page_resolved),
-- and the lease let go.
CREATE FUNCTION rollbot_page_done(p_id bigint, p_action text, p_owner text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	v_service text;
BEGIN
	IF p_action = 'trigger' THEN
		UPDATE proposals SET paged_at = coalesce(paged_at, clock_timestamp()),
			page_until = NULL
		WHERE id = p_id RETURNING service INTO v_service;
	ELSE
		UPDATE proposals SET page_resolved_at = coalesce(page_resolved_at, clock_timestamp()),
			page_until = NULL
		WHERE id = p_id RETURNING service INTO v_service;
	END IF;
	IF FOUND THEN
		PERFORM rollbot_audit(NULL, 'rollbot',
			CASE WHEN p_action = 'trigger' THEN 'proposal_paged'
				ELSE 'proposal_page_resolved' END,
			jsonb_build_object('proposal', p_id, 'service', v_service, 'dedup_key',
				'rollbot-proposal-' || p_id, 'replica', p_owner), NULL);
	END IF;
END
$$;

-- `/rollback assess SERVICE --post`: the assessment posted in the channel
-- the command came from, recorded (with its audit row assess_posted, keyed
-- by the command's delivery) before it is posted, and posted through the
-- same sweep as the watcher's posts (sql/017): a crash between the record
-- and Slack's answer posts it once after the restart, or on another
-- replica once the lease has run out.
CREATE TABLE assess_posts (
	id bigserial PRIMARY KEY,
	service text NOT NULL,
	recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	recorded_by text NOT NULL,  -- the replica
	channel text NOT NULL,
	args jsonb NOT NULL,        -- chat.postMessage's arguments, as rendered
	post_until timestamptz DEFAULT clock_timestamp() + interval '30 seconds',
	ts text,                    -- Slack's ts, once posted
	post_error text             -- why it could not be posted
);

-- Records the assessment's post and its audit row in one transaction.
-- Returns its id, or NULL when p_key was recorded before (the same command
-- delivered again: posted, or to be posted, the first time).
CREATE FUNCTION rollbot_assess_post(p_actor text, p_detail jsonb, p_key text, p_service text,
	p_replica text, p_channel text, p_args jsonb)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
BEGIN
	IF NOT rollbot_audit_once(NULL, p_actor, 'assess_posted', p_detail, p_key) THEN
		RETURN NULL;
	END IF;
	INSERT INTO assess_posts (service, recorded_by, channel, args)
	VALUES (p_service, p_replica, p_channel, p_args)
	RETURNING id INTO v_id;
	RETURN v_id;
END
$$;

-- As in sql/017, and the assessments still to post (ten minutes at most:
-- an assessment is not posted late).
CREATE OR REPLACE FUNCTION rollbot_claim_posts(p_owner text, p_lease_s int,
	p_mine_before timestamptz)
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
	RETURN QUERY
	UPDATE assess_posts a SET recorded_by = p_owner,
		post_until = clock_timestamp() + make_interval(secs => p_lease_s)
	WHERE a.ts IS NULL AND a.post_error IS NULL
		AND a.recorded_at > clock_timestamp() - interval '10 minutes'
		AND (a.post_until < clock_timestamp() OR (a.recorded_by = p_owner AND a.recorded_at < p_mine_before))
	RETURNING 'assess'::text, a.id, a.service, a.channel, a.args,
		floor(extract(epoch FROM a.recorded_at))::bigint;
END
$$;
