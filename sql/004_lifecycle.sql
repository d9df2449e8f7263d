-- rollbot — verification, status updates and restart safety (issue 4).
--
-- Everything the bot needs to carry an incident on after SIGKILL lives in
-- the row: which step runs (saved before the step is started, so a step
-- the row does not name has not run), when the next status update and the
-- end of verification are due (wall-clock: the bot's timers are monotonic
-- and die with it), and who closed it by hand.

ALTER TABLE incidents ADD COLUMN next_step int NOT NULL DEFAULT 0;
-- A restart found a step running: the re-run must be approved.
ALTER TABLE incidents ADD COLUMN interrupted boolean NOT NULL DEFAULT false;
ALTER TABLE incidents ADD COLUMN next_update_at timestamptz;
ALTER TABLE incidents ADD COLUMN updates_posted int NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN verify_deadline timestamptz;
ALTER TABLE incidents ADD COLUMN closed_by text;
ALTER TABLE incidents ADD COLUMN ended_at timestamptz;
-- What people read in status updates, kept across restarts.
ALTER TABLE incidents ADD COLUMN last_step text NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN last_checks text NOT NULL DEFAULT '';

-- The bot loads every incident still in progress at start.
CREATE INDEX incidents_in_progress ON incidents (state)
	WHERE state IN ('declared', 'awaiting_approval', 'approved', 'rolling_back', 'verifying');
