-- rollbot — what people write in incident threads, as Slack's message
-- events bring it (issue 10).
--
-- 📌 on a message adds it to the incident's timeline with its author and
-- text. Slack's conversations.replies cannot be relied on to read it back:
-- its page says bot tokens lack the permission to use it on public and
-- private channels, and apps distributed outside the Marketplace may call
-- it once a minute. So the replies to an incident's announcement are kept
-- here as they arrive (message.channels / message.groups events), edits
-- included, and a 📌 reads them here; rollbot's own posts are in
-- post_outbox. Only threads of incidents are kept, their text cut at 1,000
-- characters, as the timeline shows it.
CREATE TABLE thread_messages (
	channel text NOT NULL,
	ts text NOT NULL,
	thread_ts text NOT NULL, -- the incident's announcement_ts
	author text NOT NULL,
	text text NOT NULL,
	received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (channel, ts)
);
