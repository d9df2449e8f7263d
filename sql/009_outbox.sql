-- rollbot — what rollbot is about to say, recorded before it says it (issue 9).
--
-- Every message about an incident is rendered, then written here in the
-- same transaction as the state (and the audit rows) of the step that
-- wants it, and only then posted. Its answer (Slack's ts, or why it could
-- not be posted) closes the row. Whoever carries the incident on after a
-- crash (a restart, another replica) finds the rows still open: a message
-- that went out before the crash is found in Slack by the key in its
-- metadata and not posted again; one that did not is posted then. Rows are
-- kept once closed: they are what rollbot said, word for word.
CREATE TABLE post_outbox (
	id bigserial PRIMARY KEY,
	key text NOT NULL UNIQUE, -- the shell's name for the post, in its metadata
	incident_id text NOT NULL REFERENCES incidents (id),
	message text NOT NULL, -- announcement, approval_request, status_update, …
	args jsonb NOT NULL, -- chat.postMessage's arguments, as rendered
	queued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	done_at timestamptz, -- NULL while it is still to be posted
	ts text, -- Slack's ts, once posted
	error text -- why it was not, when rollbot gave up
);

CREATE INDEX post_outbox_open ON post_outbox (incident_id, id) WHERE done_at IS NULL;

-- An ended incident whose last messages are still to be posted (no report
-- follows them: rejected, expired, cancelled) is work to carry on too.
ALTER TABLE incidents DROP CONSTRAINT incidents_report_pending_check;
ALTER TABLE incidents ADD CONSTRAINT incidents_report_pending_check
	CHECK (report_pending IN ('report', 'report+drafts', 'posts'));
