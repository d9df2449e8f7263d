/* rollbot — the /rollback grammar (MIT licence, see LICENSE).
 *
 *   /rollback SERVICE [--to REVISION] [--severity P0|P1|P2|P3]
 *             [--reason "free text"] [--dry-run] [--with-db]
 *   /rollback status [INC-ID] [--post]
 *   /rollback resolve INC-ID [note…]
 *   /rollback cancel INC-ID [reason…]
 *   /rollback report INC-ID
 *   /rollback history [SERVICE]
 *   /rollback sent INC-ID status-page|email|internal
 *   /rollback assess SERVICE [--post]
 *   /rollback help
 *
 * A subcommand is the first word (any case, unquoted); the words are
 * reserved, so no service may be named after one (cmd_is_reserved_word).
 * An incident ID is INC-, a 4-digit year, -, and 4 to 6 digits, in any
 * case; it is stored upper-case. The note of `resolve` and the reason of
 * `cancel` are the rest of the text after the ID, as typed, decoded like a
 * --reason and unquoted when they are one quoted string.
 *
 * cmd_parse turns the text Slack sends (after "/rollback ") into a typed
 * command, or into one clear, specific error for the person who typed it.
 * Pure: no I/O; the known services are passed in.
 */
#ifndef PARSE_H
#define PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "plan.h"
#include "rb.h"

#define CMD_SERVICE_MAX 64
#define CMD_TARGET_MAX 65
#define CMD_REASON_CHARS 500 /* the limit people are told, in characters */
#define CMD_REASON_MAX (CMD_REASON_CHARS * 4 + 1) /* 500 UTF-8 characters + NUL */
#define CMD_INCIDENT_MAX 24 /* "INC-2026-000001" and room to spare */

enum cmd_kind {
	CMD_HELP = 0,
	CMD_ROLLBACK = 1,
	CMD_STATUS,  /* incident (or "": the open ones), post */
	CMD_RESOLVE, /* incident, reason (the note, "" when none) */
	CMD_CANCEL,  /* incident, reason ("" when none) */
	CMD_REPORT,  /* incident */
	CMD_HISTORY, /* service ("" = every service) */
	CMD_SERVICES, /* nothing: what can be rolled back */
	CMD_SENT,    /* incident, reason = the draft: "status-page", "email" or "internal" */
	CMD_ASSESS,  /* service, post: the runbooks' verdict on its figures */
};

enum cmd_severity {
	CMD_SEV_UNSET = -1,
	CMD_SEV_P0 = 0,
	CMD_SEV_P1,
	CMD_SEV_P2,
	CMD_SEV_P3,
};

/* One service rollbot knows, as the parser needs it. */
struct cmd_service {
	const char *name;
	enum plan_target target; /* what --to accepts for this service's method */
	enum plan_method method; /* for messages: why --to does not apply */
	bool db_rollback;        /* the service names a db_rollback command */
};

struct cmd {
	enum cmd_kind kind;
	char service[CMD_SERVICE_MAX]; /* rollback, history; "" otherwise */
	char target[CMD_TARGET_MAX];   /* "" when --to was not given */
	enum cmd_severity severity;    /* CMD_SEV_UNSET when --severity was not given */
	/* --reason, the note of resolve or the reason of cancel; "" when not
	 * given; decoded, one line, at most CMD_REASON_CHARS characters. Only a
	 * rollback's --reason is checked for shell substitution syntax: the
	 * others must never reach a script. */
	char reason[CMD_REASON_MAX];
	bool dry_run;
	bool with_db; /* --with-db: also run the service's database down-migration */
	char incident[CMD_INCIDENT_MAX]; /* "INC-2026-0001", upper-case; "" when not given */
	bool post; /* status/assess --post: post the answer in the channel too */
};

enum {
	CMD_ESYNTAX = -30, /* quotes, unknown option, missing value, stray word */
	CMD_EUNKNOWN = -31, /* service not in the configuration */
	CMD_EVALUE = -32,  /* a value that is not what it should be */
};

/* Parses `text` (the slash command's text, still Slack-escaped: &amp; &lt;
 * &gt; are decoded here; smart quotes count as quotes). Returns 0 and fills
 * *out, or a negative CMD_E* code with a one-line, user-facing message in err
 * (errlen bytes; RB_ERR_LEN is not enough for the services list: use
 * CMD_ERR_LEN). */
#define CMD_ERR_LEN 1024
int cmd_parse(const char *text, const struct cmd_service *services,
	      size_t n_services, struct cmd *out, char *err, size_t errlen) RB_MUSTCHECK;

/* "P0".."P3" for a severity, "" for CMD_SEV_UNSET. */
const char *cmd_severity_name(enum cmd_severity s);

/* Parses "P0".."P3" (case-insensitive). Returns 0 or RB_EINVAL. */
int cmd_severity_from_name(const char *s, enum cmd_severity *out);

/* True when `name` is a subcommand word (help, status, resolve, cancel,
 * report, history, sent, assess), in any case: a service cannot be called that, since
 * `/rollback NAME` would never reach it. False for NULL. */
bool cmd_is_reserved_word(const char *name);

/* The usage text shown for `/rollback help` and after syntax errors. */
const char *cmd_usage(void);

#endif
