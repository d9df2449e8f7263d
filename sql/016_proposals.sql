-- rollbot — proposals: the watcher (or an Alertmanager alert) proposes a
-- rollback in the incidents channel, and one ✅ starts it (issue 12).
--
-- A proposal is recorded here before it is posted (nothing is said that is
-- not recorded), and only the replica whose insert succeeded posts it: every
-- replica watches, the database decides who speaks. One open episode per
-- service: a service has at most one proposal whose episode has not been
-- closed (rearmed_at NULL), so a second replica, a restarted one, or an
-- alert about the same trouble finds it and says nothing. The episode is
-- closed when a watcher has seen the service healthy for its re-arm period.
-- A service with an incident that holds it gets no proposal at all.
--
-- Taking a proposal (the first ✅ of someone other than the bot, before it
-- expires) is one conditional UPDATE: two reactions, on one replica or two,
-- start one incident.
CREATE TABLE proposals (
	id bigserial PRIMARY KEY,
	service text NOT NULL,
	source text NOT NULL CHECK (source IN ('watcher', 'alertmanager')),
	trigger text NOT NULL,      -- errors, latency, health, alert
	summary text NOT NULL,      -- what it saw, for people
	figures jsonb NOT NULL,     -- the figures and thresholds, for the report
	severity text NOT NULL,     -- suggested: P0..P3
	command text NOT NULL,      -- the exact /rollback a ✅ runs
	detected_at timestamptz NOT NULL, -- since when the trigger held
	proposed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	expires_at timestamptz NOT NULL,
	proposed_by text NOT NULL,  -- the replica that recorded it
	channel text NOT NULL,
	args jsonb,                 -- chat.postMessage's arguments, as rendered
	ts text,                    -- Slack's ts, once posted
	post_error text,            -- why it could not be posted
	taken_by text,              -- who started it with ✅
	taken_at timestamptz,
	incident_id text REFERENCES incidents (id),
	rearmed_at timestamptz      -- the episode is over: a new one may propose
);

CREATE UNIQUE INDEX proposals_one_open_episode ON proposals (service) WHERE rearmed_at IS NULL;
CREATE UNIQUE INDEX proposals_by_message ON proposals (channel, ts) WHERE ts IS NOT NULL;

-- Records a proposal unless the service has an open episode or an incident
-- holding it. Returns 'proposed:<id>', 'open_episode' or 'open_incident'.
-- The audit row (incident NULL) is written in the same transaction.
CREATE FUNCTION rollbot_propose(p_service text, p_source text, p_trigger text, p_summary text,
	p_figures jsonb, p_severity text, p_command text, p_detected_at timestamptz,
	p_expires_s int, p_replica text, p_channel text, p_args jsonb)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_id bigint;
	v_now timestamptz := clock_timestamp();
BEGIN
	IF EXISTS (SELECT 1 FROM incidents WHERE service = p_service
			AND rollbot_holds_service(state)) THEN
		RETURN 'open_incident';
	END IF;
	INSERT INTO proposals (service, source, trigger, summary, figures, severity, command,
		detected_at, proposed_at, expires_at, proposed_by, channel, args)
	VALUES (p_service, p_source, p_trigger, p_summary, p_figures, p_severity, p_command,
		p_detected_at, v_now, v_now + make_interval(secs => p_expires_s), p_replica,
		p_channel, p_args)
	ON CONFLICT (service) WHERE rearmed_at IS NULL DO NOTHING
	RETURNING id INTO v_id;
	IF v_id IS NULL THEN
		RETURN 'open_episode';
	END IF;
	PERFORM rollbot_audit(NULL, 'rollbot', 'proposal_recorded',
		jsonb_build_object('proposal', v_id, 'service', p_service, 'source', p_source,
			'trigger', p_trigger, 'summary', p_summary, 'figures', p_figures,
			'severity', p_severity, 'detected_at', p_detected_at), NULL);
	RETURN 'proposed:' || v_id;
END
$$;

-- The first ✅ on a proposal's message takes it. Returns one row: the
-- proposal and 'taken' (this reaction starts it), 'expired', 'already'
-- (someone started it before) or no row (not a proposal).
CREATE FUNCTION rollbot_take_proposal(p_channel text, p_ts text, p_user text)
RETURNS TABLE (word text, id bigint, service text, source text, trigger text, summary text,
	figures jsonb, severity text, command text, detected_at timestamptz,
	expires_at timestamptz, taken_by text)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY
	UPDATE proposals p SET taken_by = p_user, taken_at = clock_timestamp()
	WHERE p.channel = p_channel AND p.ts = p_ts AND p.taken_by IS NULL
		AND p.expires_at > clock_timestamp()
	RETURNING 'taken'::text, p.id, p.service, p.source, p.trigger, p.summary, p.figures,
		p.severity, p.command, p.detected_at, p.expires_at, p.taken_by;
	IF FOUND THEN
		RETURN;
	END IF;
	RETURN QUERY
	SELECT CASE WHEN p.taken_by IS NOT NULL THEN 'already' ELSE 'expired' END, p.id,
		p.service, p.source, p.trigger, p.summary, p.figures, p.severity, p.command,
		p.detected_at, p.expires_at, p.taken_by
	FROM proposals p WHERE p.channel = p_channel AND p.ts = p_ts;
END
$$;
