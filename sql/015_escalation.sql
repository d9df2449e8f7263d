-- rollbot — escalation of an unanswered approval request (issue 12, item 4).
--
-- When an approval request has had no decision for `approval.escalate_after`
-- after it was posted, it is extended to the fallback approvers (the on-call
-- lead) and PagerDuty is paged. Both columns are written with the rest of
-- the incident, under its fence, in the same statement as the escalation's
-- audit row and the outbox row of its message: a restart or a takeover by
-- another replica finds the escalation still to come (escalate_at, carried
-- as time left, so that one due while no bot was running happens at the
-- resume) or done (escalated), and never does it twice.
ALTER TABLE incidents
	ADD COLUMN escalate_at timestamptz,     -- NULL: none to come
	ADD COLUMN escalated boolean NOT NULL DEFAULT false; -- the request asked now was escalated
