-- rollbot — what a restart needs to carry on an approval (issue 3).
--
-- The approvals counted so far and the request's deadline are kept with the
-- incident, so that a bot killed while it waited for approval comes back
-- with the same deadline and the same approvers, then recounts the request's
-- reactions (reactions.get) for what happened while it was down.

ALTER TABLE incidents ADD COLUMN approved_by text[] NOT NULL DEFAULT '{}';
-- Wall-clock time: the bot's own timers are monotonic and die with it.
ALTER TABLE incidents ADD COLUMN approval_deadline timestamptz;
