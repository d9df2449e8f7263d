-- The audit log of tests/unit/test_report.c's p1_resolved fixture, as rows in
-- PostgreSQL: test_report_db loads it and renders tests/golden/p1_resolved.md
-- from the database, byte for byte. Generated from the C fixture; keep the two equal.
INSERT INTO incidents (id, year, seq, service, state, severity, reason, target, method,
	requested_by, channel, created_at, updated_at, ended_at)
VALUES ('INC-2026-0042', 2026, 42, 'payments-api', 'resolved', 'P1', 'checkout 5xx at 6%', '41',
	'kubectl', 'U02JD0E4512', 'C0INCIDENTS', '2026-11-23T15:17:02.123Z', '2026-11-23T15:27:31.455Z',
	'2026-11-23T15:27:31.455Z');
INSERT INTO audit_log (incident_id, at, actor, kind, detail) VALUES
	('INC-2026-0042', '2026-11-23T15:17:02.123Z', 'U02JD0E4512', 'command_received', '{"command":"/rollback","text":"payments-api --to 41 --severity P1 --reason \"checkout 5xx at 6%\"","channel":"C0INCIDENTS","service":"payments-api","target":"41","severity":"P1","reason":"checkout 5xx at 6%","envelope_id":"e-7f3a","trigger_id":"t-1190"}'),
	('INC-2026-0042', '2026-11-23T15:17:02.123Z', 'rollbot', 'state_change', '{"from":null,"to":"declared"}'),
	('INC-2026-0042', '2026-11-23T15:17:02.871Z', 'rollbot', 'message_posted', '{"message":"announcement","channel":"C0INCIDENTS","ts":"1795447022.000100"}'),
	('INC-2026-0042', '2026-11-23T15:17:03.402Z', 'rollbot', 'plan_ready', '{"target":"41","steps":"2","running_before":"42","display_name":"Payments","environment":"production (cluster prod-eu)","affected":"checkout and card payments","owner":"payments team"}'),
	('INC-2026-0042', '2026-11-23T15:17:03.402Z', 'rollbot', 'state_change', '{"from":"declared","to":"awaiting_approval"}'),
	('INC-2026-0042', '2026-11-23T15:17:03.950Z', 'rollbot', 'message_posted', '{"message":"approval_request","channel":"C0INCIDENTS","ts":"1795447023.000200"}'),
	('INC-2026-0042', '2026-11-23T15:17:04.310Z', 'U0ROLLBOT1', 'reaction_added', '{"reaction":"white_check_mark","decision":"ignored_bot_reaction"}'),
	('INC-2026-0042', '2026-11-23T15:17:04.390Z', 'U0ROLLBOT1', 'reaction_added', '{"reaction":"x","decision":"ignored_bot_reaction"}'),
	('INC-2026-0042', '2026-11-23T15:18:11.020Z', 'U02JD0E4512', 'reaction_added', '{"reaction":"white_check_mark","decision":"ignored_requester"}'),
	('INC-2026-0042', '2026-11-23T15:19:40.551Z', 'U05ONCALL1', 'pinned', '{"author":"U04SRE9K2","text":"EU checkout failing since the 15:02 deploy, error rate 6%","ts":"1795447120.000300","posted_at":"2026-11-23T15:18:40.118Z"}'),
	('INC-2026-0042', '2026-11-23T15:19:50.803Z', 'U03ASM1TH7Q', 'reaction_added', '{"reaction":"white_check_mark","decision":"approval_counted"}'),
	('INC-2026-0042', '2026-11-23T15:19:50.803Z', 'rollbot', 'state_change', '{"from":"awaiting_approval","to":"approved"}'),
	('INC-2026-0042', '2026-11-23T15:19:51.240Z', 'rollbot', 'message_posted', '{"message":"approved","channel":"C0INCIDENTS","ts":"1795447191.000400"}'),
	('INC-2026-0042', '2026-11-23T15:19:51.300Z', 'rollbot', 'state_change', '{"from":"approved","to":"rolling_back"}'),
	('INC-2026-0042', '2026-11-23T15:19:52.598Z', 'rollbot', 'command_run', '{"step":0,"title":"Roll deployment/payments-api back to revision 41","argv":["kubectl","rollout","undo","deployment/payments-api","-n","prod","--to-revision=41"],"command":"kubectl rollout undo deployment/payments-api -n prod --to-revision=41","exit_status":"0","timed_out":false,"pgid":4242,"duration_ms":"1234","output":"deployment.apps/payments-api rolled back\n","truncated":false}'),
	('INC-2026-0042', '2026-11-23T15:19:52.903Z', 'rollbot', 'message_posted', '{"message":"step_result","channel":"C0INCIDENTS","ts":"1795447192.000500"}'),
	('INC-2026-0042', '2026-11-23T15:21:30.411Z', 'rollbot', 'command_run', '{"step":1,"title":"Wait for the rollout","argv":["kubectl","rollout","status","deployment/payments-api","-n","prod","--timeout=300s"],"command":"kubectl rollout status deployment/payments-api -n prod --timeout=300s","exit_status":"0","timed_out":false,"pgid":4250,"duration_ms":"97801","output":"Waiting for deployment \"payments-api\" rollout to finish: 1 of 3 updated replicas are available...\ndeployment \"payments-api\" successfully rolled out\n","truncated":false}'),
	('INC-2026-0042', '2026-11-23T15:21:30.702Z', 'rollbot', 'state_change', '{"from":"rolling_back","to":"verifying"}'),
	('INC-2026-0042', '2026-11-23T15:21:31.114Z', 'rollbot', 'message_posted', '{"message":"rolled_back","channel":"C0INCIDENTS","ts":"1795447291.000600"}'),
	('INC-2026-0042', '2026-11-23T15:22:31.090Z', 'rollbot', 'probe_results', '{"status":{"passed":true,"detail":"deployment successfully rolled out"},"health":{"passed":false,"detail":"HTTP 503"},"version":{"passed":true,"detail":"41 is running"},"error_rate":{"passed":false,"detail":"6.0% (threshold 1.0%)"},"latency":{"passed":true,"detail":"1.4 s (threshold 2.0 s)"}}'),
	('INC-2026-0042', '2026-11-23T15:22:31.091Z', 'rollbot', 'verification', '{"round":"1","passed":"false","failures":"health check: HTTP 503; error rate: 6.0% (threshold 1.0%)"}'),
	('INC-2026-0042', '2026-11-23T15:24:30.008Z', 'U05ONCALL1', 'pinned', '{"author":"U04SRE9K2","text":"DB pool exhausted too?","ts":"1795447450.000700","posted_at":"2026-11-23T15:24:10.442Z"}'),
	('INC-2026-0042', '2026-11-23T15:25:00.315Z', 'U05ONCALL1', 'unpinned', '{"ts":"1795447450.000700"}'),
	('INC-2026-0042', '2026-11-23T15:27:02.130Z', 'rollbot', 'status_update', '{"number":"1","state":"verifying"}'),
	('INC-2026-0042', '2026-11-23T15:27:02.611Z', 'rollbot', 'message_posted', '{"message":"status_update","channel":"C0INCIDENTS","ts":"1795447622.000800"}'),
	('INC-2026-0042', '2026-11-23T15:27:31.388Z', 'rollbot', 'probe_results', '{"status":{"passed":true,"detail":"deployment successfully rolled out"},"health":{"passed":true,"detail":"HTTP 200"},"version":{"passed":true,"detail":"41 is running"},"error_rate":{"passed":true,"detail":"0.12% (threshold 1.0%)"},"latency":{"passed":true,"detail":"440 ms (threshold 2.0 s)"}}'),
	('INC-2026-0042', '2026-11-23T15:27:31.389Z', 'rollbot', 'verification', '{"round":"2","passed":"true","failures":""}'),
	('INC-2026-0042', '2026-11-23T15:27:31.389Z', 'rollbot', 'state_change', '{"from":"verifying","to":"resolved"}'),
	('INC-2026-0042', '2026-11-23T15:27:31.902Z', 'rollbot', 'message_posted', '{"message":"complete","channel":"C0INCIDENTS","ts":"1795447651.000900"}'),
	('INC-2026-0042', '2026-11-23T15:41:12.004Z', 'U05ONCALL1', 'draft_sent', '{"draft":"status-page"}');
INSERT INTO user_names (user_id, name) VALUES
	('U02JD0E4512', 'Dana Whitfield'), ('U03ASM1TH7Q', 'Arjun Mehta'), ('U04SRE9K2', 'Sam Okafor'),
	('U0NOTINIT99', 'Nobody In This Incident');
