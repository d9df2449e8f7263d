-- rollbot — people's names, for the places people read them (issue 11, item 6).
--
-- The audit log and the incidents keep Slack user IDs (U02JD0E4512): they
-- never change, and Slack renders <@U…> in messages. The uploaded report
-- and `rollbot report` are plain text, so they show names instead. The bot
-- reads them with users.info (bot/names.c) and keeps them here, so that
-- the CLI, which has no Slack, shows the same names; an ID with no row
-- here is shown as it is. A cache, not a record: rows are replaced when
-- the bot reads the name again (after a day).
CREATE TABLE user_names (
	user_id text PRIMARY KEY,
	name text NOT NULL,
	fetched_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
