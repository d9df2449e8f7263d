-- rollbot — durable delivery keys for events, and reactions applied against
-- the current state (issue 9).
--
-- Slack redelivers an event whose ack it did not see, and after a restart
-- the bot's memory of what it has seen is gone: an event's delivery key is
-- therefore written here, in the same transaction as what the event changed.
--
-- Reactions can also come late or out of order: a reaction_added delivered
-- again after the reaction_removed that followed it must not count. For each
-- person, emoji and message the newest event applied is kept, by Slack's
-- event_ts; an older one is stale and changes nothing.

CREATE TABLE reaction_state (
	channel text NOT NULL,
	ts text NOT NULL,            -- the message reacted to
	user_id text NOT NULL,
	emoji text NOT NULL,         -- the base name, without a skin tone
	present boolean NOT NULL,
	event_ts numeric NOT NULL,   -- Slack's event_ts of the newest event applied
	PRIMARY KEY (channel, ts, user_id, emoji)
);

-- Records one reaction event. p_key is its delivery key (NULL for a recount
-- of the message's reactions, which is a snapshot: it always applies, at
-- p_event_ts, the time it was read). Returns:
--   'duplicate'  the key was seen before: the event was handled already;
--   'stale'      a newer event for this reaction was applied already;
--   'unchanged'  the reaction was already in that state;
--   'applied'    the reaction changed: the bot acts on it.
CREATE FUNCTION rollbot_reaction(p_key text, p_channel text, p_ts text, p_user text,
	p_emoji text, p_added boolean, p_event_ts numeric)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	v_old record;
BEGIN
	IF p_key IS NOT NULL THEN
		INSERT INTO processed_deliveries (key, kind) VALUES (p_key, 'event')
			ON CONFLICT (key) DO NOTHING;
		IF NOT FOUND THEN
			RETURN 'duplicate';
		END IF;
	END IF;

	SELECT present, event_ts INTO v_old FROM reaction_state
		WHERE channel = p_channel AND ts = p_ts AND user_id = p_user AND emoji = p_emoji
		FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO reaction_state (channel, ts, user_id, emoji, present, event_ts)
		VALUES (p_channel, p_ts, p_user, p_emoji, p_added, p_event_ts)
			ON CONFLICT DO NOTHING;
		IF NOT FOUND THEN
			-- Another transaction recorded this reaction meanwhile: decide
			-- against what it wrote.
			RETURN rollbot_reaction(NULL, p_channel, p_ts, p_user, p_emoji, p_added,
				p_event_ts);
		END IF;
		RETURN 'applied';
	END IF;
	IF p_key IS NOT NULL AND v_old.event_ts >= p_event_ts THEN
		RETURN 'stale';
	END IF;
	UPDATE reaction_state SET present = p_added, event_ts = greatest(v_old.event_ts, p_event_ts)
		WHERE channel = p_channel AND ts = p_ts AND user_id = p_user AND emoji = p_emoji;
	IF v_old.present = p_added THEN
		RETURN 'unchanged';
	END IF;
	RETURN 'applied';
END
$$;

