-- rollbot — a service stays held until its incident ends, and failed is open.
--
-- Before this migration the service was free again once its rollback's
-- commands were done (verifying), so a second /rollback could change the
-- version the first was still verifying; and failed was final, so a failed
-- incident stopped its updates and left /rollback status although the
-- service might be between versions. Now (commands/incident.c):
--   rollbot_holds_service: declared, awaiting_approval, approved,
--     rolling_back, verifying, failed (from the declaration to the end);
--   rollbot_is_final: resolved, rejected, expired, cancelled (failed stays
--     open until a person resolves or cancels it).
--
-- What this does to rows already there, so that it cannot fail:
--
-- 1. Incidents already failed were ended under the old rules: their
--    updates stopped, their report was uploaded and ended_at set, and
--    nobody carries them. Reopening them would, at the upgrade, hold their
--    services (a /rollback in an emergency refused for an incident months
--    old) and post updates in old threads. They are closed instead as
--    cancelled, the state a person's `/rollback cancel` now gives a failed
--    incident (closed without saying the service recovered), with a
--    state_change row saying the migration did it. ended_at keeps its
--    value (the time the old rules ended them); owner and fence are left
--    as they are, so that a report still being uploaded finishes.
--
-- 2. Verifying did not hold its service, so a service may have several
--    incidents that now all hold it (a second /rollback while the first
--    was verifying). The one kept open is the one in declared ..
--    rolling_back if there is one (the old index allowed only one), else
--    the newest verifying one; every older verifying one verifies a version
--    that is no longer deployed and is closed as cancelled, superseded by
--    the one kept, with a state_change row naming it. Its fence is bumped
--    and its owner cleared so that a replica still running the old build
--    stops acting on it (its writes are refused), and ended_at is now.
--
-- Then the functions are replaced and the three indexes over them rebuilt:
-- CREATE OR REPLACE does not rebuild an index over an IMMUTABLE function,
-- whose entries were computed with the old definition.

WITH closed AS (
	UPDATE incidents SET state = 'cancelled',
		ended_at = coalesce(ended_at, clock_timestamp())
	WHERE state = 'failed'
	RETURNING id
)
INSERT INTO audit_log (incident_id, actor, kind, detail)
SELECT id, 'rollbot', 'state_change',
	jsonb_build_object('from', 'failed', 'to', 'cancelled', 'note',
		'closed by migration 011: it failed when failed incidents ended at once; '
		'failed incidents now stay open until a person closes them')
FROM closed;

WITH ranked AS (
	SELECT id, service, state,
		first_value(id) OVER w AS kept,
		row_number() OVER w AS n
	FROM incidents
	WHERE state IN ('declared', 'awaiting_approval', 'approved', 'rolling_back',
		'verifying')
	WINDOW w AS (PARTITION BY service
		ORDER BY state = 'verifying', created_at DESC, year DESC, seq DESC)
), closed AS (
	UPDATE incidents i SET state = 'cancelled', ended_at = clock_timestamp(),
		owner = NULL, lease_until = NULL, fence = i.fence + 1,
		next_update_at = NULL
	FROM ranked r
	WHERE i.id = r.id AND r.n > 1
	RETURNING i.id, r.kept
)
INSERT INTO audit_log (incident_id, actor, kind, detail)
SELECT id, 'rollbot', 'state_change',
	jsonb_build_object('from', 'verifying', 'to', 'cancelled', 'note',
		'closed by migration 011: superseded by ' || kept ||
		', a later rollback of the same service')
FROM closed;

DROP INDEX incidents_one_rollback_per_service;
DROP INDEX incidents_in_progress;
DROP INDEX incidents_owned_work;

CREATE OR REPLACE FUNCTION rollbot_holds_service(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT state IN ('declared', 'awaiting_approval', 'approved', 'rolling_back',
		'verifying', 'failed')
$$;

CREATE OR REPLACE FUNCTION rollbot_is_final(state text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT state IN ('resolved', 'rejected', 'expired', 'cancelled')
$$;

CREATE UNIQUE INDEX incidents_one_rollback_per_service ON incidents (service)
	WHERE rollbot_holds_service(state);
CREATE INDEX incidents_in_progress ON incidents (state)
	WHERE NOT rollbot_is_final(state);
CREATE INDEX incidents_owned_work ON incidents (owner)
	WHERE rollbot_owned_work(state, report_pending);
