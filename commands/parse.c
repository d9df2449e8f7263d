/* rollbot — the /rollback grammar (MIT licence, see LICENSE).
 *
 * This file owns the reading of what a person typed after `/rollback`: it
 * splits the text into words the way a person means them, not the way a
 * shell would, and turns them into a struct cmd or into one message that
 * says exactly what is wrong and how to fix it. The reader is someone on
 * call at 3 a.m., so every mistake has its own sentence, the sentence names
 * the word at fault, and where a near miss is obvious it says "did you mean".
 *
 * The words and the messages are parse_lex.c's, the subcommands
 * parse_sub.c's (parse_int.h); this file reads the rollback form.
 *
 * Safety. Nothing here reaches a shell, but values from Slack end up in an
 * argv, an environment variable and the audit log, so: the service must be
 * one the configuration names (matched exactly); a target must pass
 * plan_target_valid for the service's kind; a reason is one line of at most
 * CMD_REASON_CHARS characters with no control characters, and otherwise
 * free text: backticks and $(…) included, since people quote the commands
 * they ran, and free text never reaches an argv (a script method sees it
 * only as the value of ROLLBOT_REASON). The note of resolve and the reason
 * of cancel follow the same rules. An
 * incident ID is checked character by character. The whole text is capped
 * at TEXT_MAX bytes and must be valid UTF-8.
 *
 * Pure: no I/O, no heap allocation; words live in the caller's stack frame.
 */
#include "parse.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parse_int.h"

#define USAGE_LINE \
	"Usage: /rollback SERVICE [--to REVISION] [--severity P0-P3] [--reason \"…\"] [--dry-run] [--with-db]"
#define OPTIONS_LINE   "Options: --to, --severity, --reason, --dry-run, --with-db."
#define REASON_EXAMPLE "`--reason \"checkout 5xx at 6%\"`"

/* ---- values --------------------------------------------------------- */

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* True when s is one or more ASCII digits and nothing else. */
bool cmd_is_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* The service named exactly `name`, or NULL. */
const struct cmd_service *cmd_known_service(const char *name, const struct cmd_service *services,
					    size_t n_services)
{
	for (size_t i = 0; i < n_services; i++)
		if (services[i].name && !strcmp(services[i].name, name))
			return &services[i];
	return NULL;
}

/* Checks a service word and finds it among the known services. Returns
 * the service or NULL with the message written and *rc set. */
const struct cmd_service *cmd_find_service(const char *name, const struct cmd_service *services,
					   size_t n_services, struct msg *m, int *rc)
{
	size_t len = strlen(name);
	const struct cmd_service *near = NULL;
	size_t near_d = SIZE_MAX;
	bool near_tie = false;

	*rc = CMD_EVALUE;
	for (size_t i = 0; i < len; i++) {
		if (!is_alnum(name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.') {
			cmd_put_echo(m, name);
			cmd_put(m,
				" is not a valid service name: use letters, digits, -, _ and . only.");
			return NULL;
		}
	}
	if (!is_alnum(name[0])) {
		cmd_put_echo(m, name);
		cmd_put(m, " is not a valid service name: it must start with a letter or digit.");
		return NULL;
	}
	if (len >= CMD_SERVICE_MAX) {
		cmd_put_echo(m, name);
		cmd_put(m, " is not a valid service name: it is longer than %d characters.",
			CMD_SERVICE_MAX - 1);
		return NULL;
	}
	const struct cmd_service *found = cmd_known_service(name, services, n_services);
	if (found)
		return found;

	*rc = CMD_EUNKNOWN;
	cmd_put(m, "Unknown service ");
	cmd_put_echo(m, name);
	cmd_put(m, ".");
	for (size_t i = 0; i < n_services; i++) {
		if (services[i].name && !strcasecmp(services[i].name, name)) {
			cmd_put(m, " Did you mean `%s`? Service names are lower-case.",
				services[i].name);
			return NULL;
		}
	}
	if (n_services == 0) {
		cmd_put(m,
			" No services are configured: add them under `services:` in rollbot.yaml.");
		return NULL;
	}
	for (size_t i = 0; i < n_services; i++) {
		size_t d;
		if (!services[i].name)
			continue;
		d = cmd_edit_distance(name, services[i].name);
		if (d < near_d) {
			near = &services[i];
			near_d = d;
			near_tie = false;
		} else if (d == near_d) {
			near_tie = true;
		}
	}
	if (near && !near_tie && near_d <= cmd_typo_budget(len))
		cmd_put(m, " Did you mean `%s`?", near->name);
	cmd_put(m, " Known services: ");
	for (size_t i = 0, shown = 0; i < n_services; i++) {
		if (!services[i].name)
			continue;
		/* Leave room for ", …." at the end rather than cut a name. */
		if (m->len + strlen(services[i].name) + 12 >= m->cap) {
			cmd_put(m, ", …");
			break;
		}
		cmd_put(m, "%s%s", shown++ ? ", " : "", services[i].name);
	}
	cmd_put(m, ".");
	return NULL;
}

/* Checks --to against what the service's method accepts. */
static int check_target(const struct cmd_service *svc, const char *target, bool cut, struct msg *m)
{
	const struct plan_method_info *mi;

	switch (svc->target) {
	case PLAN_TARGET_NONE:
		cmd_put(m, "`--to` does not apply to %s: ", svc->name);
		/* The method only explains when it agrees with the target kind. */
		mi = (unsigned)svc->method < PLAN_METHOD_COUNT ? plan_method_info(svc->method) :
								 NULL;
		if (mi && mi->target == PLAN_TARGET_NONE)
			cmd_put(m, "%s rollbacks always go back to %s.", mi->name,
				mi->default_target);
		else
			cmd_put(m, "its rollback always goes back to one fixed place.");
		cmd_put(m, " Run `/rollback %s` without --to.", svc->name);
		return CMD_EVALUE;
	case PLAN_TARGET_REVISION:
		if (cut || !plan_target_valid(PLAN_TARGET_REVISION, target)) {
			cmd_put_echo(m, target);
			cmd_put(m,
				" is not a revision: %s takes a revision number, e.g. `--to 41`.",
				svc->name);
			return CMD_EVALUE;
		}
		return 0;
	case PLAN_TARGET_VERSION:
		if (cut || !plan_target_valid(PLAN_TARGET_VERSION, target)) {
			cmd_put_echo(m, target);
			cmd_put(m,
				" is not a version: %s takes a version of letters, digits, . _ and -, "
				"e.g. `--to v2.0.1`.",
				svc->name);
			return CMD_EVALUE;
		}
		return 0;
	}
	cmd_put(m, "%s has no valid target kind in the configuration.", svc->name);
	return CMD_EVALUE;
}

/* Checks decoded free text (`what` names it: "reason", "note"): one line,
 * at most CMD_REASON_CHARS characters, no controls, since it goes into the
 * audit log and into messages. Anything else is accepted, backticks and
 * $(…) included: free text never reaches an argv or a shell (a script
 * method gets it as the value of ROLLBOT_REASON, which a shell does not
 * expand again), and every template escapes it for Slack. Copies it into
 * out->reason. */
int cmd_take_text(const char *r, const char *what, struct cmd *out, struct msg *m)
{
	size_t chars = rb_utf8_chars(r);
	size_t i = 0, n;

	if (chars > CMD_REASON_CHARS) {
		cmd_put(m,
			"The %s is %zu characters long; the limit is %d. Put the details in the "
			"incident thread.",
			what, chars, CMD_REASON_CHARS);
		return CMD_EVALUE;
	}
	for (; r[i]; i += n) {
		uint32_t c = cmd_cp_at(r, i, &n);
		if (c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029) {
			cmd_put(m, "The %s has a line break; keep it on one line.", what);
			return CMD_EVALUE;
		}
		if (cmd_is_control(c)) {
			cmd_put(m, "The %s contains a control character (U+%04X); use plain text.",
				what, (unsigned)c);
			return CMD_EVALUE;
		}
	}
	/* 500 characters of UTF-8 always fit CMD_REASON_MAX. */
	int rc = rb_strlcpy(out->reason, r, sizeof out->reason);
	RB_ASSERT(rc == 0);
	return 0;
}

/* Checks a decoded --reason: not empty, and take_text's rules. */
static int take_reason(const char *r, struct cmd *out, struct msg *m)
{
	if (!*r) {
		cmd_put(m, "`--reason` is empty. Say in a few words what is wrong, e.g. %s.",
			REASON_EXAMPLE);
		return CMD_EVALUE;
	}
	return cmd_take_text(r, "reason", out, m);
}

/* ---- the command ---------------------------------------------------- */

/* The options of the rollback form, as typed, by enum opt. */
const char *const cmd_opt_names[OPT_COUNT] = { "--to",	    "--severity", "--reason",
					       "--dry-run", "--with-db",  "--help" };

static int unknown_option(const char *name, struct msg *m)
{
	size_t best = OPT_COUNT, best_d = SIZE_MAX;
	size_t bare = strspn(name, "-");

	if (!strcmp(name, "--post")) {
		cmd_put(m,
			"`--post` goes with `status`, like `/rollback status INC-2026-0001 --post`.");
		return CMD_ESYNTAX;
	}
	for (size_t i = 0; i < OPT_COUNT; i++) {
		size_t d = cmd_edit_distance(name, cmd_opt_names[i]);
		if (d < best_d) {
			best = i;
			best_d = d;
		}
	}
	cmd_put(m, "Unknown option ");
	cmd_put_echo(m, name);
	cmd_put(m, ".");
	if (best < OPT_COUNT && best_d <= cmd_typo_budget(strlen(name) - bare))
		cmd_put(m, " Did you mean `%s`?", cmd_opt_names[best]);
	cmd_put(m, " " OPTIONS_LINE);
	return CMD_ESYNTAX;
}

static int needs_value(enum opt o, struct msg *m)
{
	switch (o) {
	case OPT_TO:
		cmd_put(m, "`--to` needs a value, e.g. `--to 41`.");
		break;
	case OPT_SEVERITY:
		cmd_put(m, "`--severity` needs a value: P0, P1, P2 or P3.");
		break;
	default:
		cmd_put(m, "`--reason` needs a value, e.g. %s.", REASON_EXAMPLE);
		break;
	}
	return CMD_ESYNTAX;
}

/* Empties *out into a command of `kind` with no severity. */
void cmd_clear(struct cmd *out, enum cmd_kind kind)
{
	memset(out, 0, sizeof *out);
	out->kind = kind;
	out->severity = CMD_SEV_UNSET;
}

/* A second bare word. The hints cover the usual slips: a forgotten --to or
 * --severity, and a reason of several words without quotes. */
static int stray_word(const struct parse *p, bool after_bare_reason, struct msg *m)
{
	const struct word *w = &p->w;
	enum cmd_severity sev;

	cmd_put(m, "Unexpected ");
	cmd_put_echo(m, w->text);
	if (after_bare_reason) {
		cmd_put(m, ". A reason of several words needs quotes, e.g. %s.", REASON_EXAMPLE);
	} else if (!w->quoted && !p->seen[OPT_TO] && cmd_is_digits(w->text) &&
		   plan_target_valid(p->svc->target, w->text)) {
		cmd_put(m, " after the service name. Did you mean `--to %s`?", w->text);
	} else if (!w->quoted && !p->seen[OPT_SEVERITY] &&
		   cmd_severity_from_name(w->text, &sev) == 0) {
		cmd_put(m, " after the service name. Did you mean `--severity %s`?",
			cmd_severity_name(sev));
	} else {
		cmd_put(m, " after the service name. Put free text in --reason \"…\".");
	}
	return CMD_ESYNTAX;
}

/* Reads an option's value: after '=' in the same word, or the next word.
 * A next word that is itself an option means the value is missing. */
static int option_value(struct parse *p, enum opt o, const char *eq, const char **val, bool *quoted,
			struct msg *m)
{
	int rc;

	if (eq) {
		*val = eq + 1;
		*quoted = p->w.quoted;
	} else {
		rc = cmd_lex_next(&p->lx, &p->v, m);
		if (rc < 0)
			return rc;
		if (rc == 0 || (!p->v.quoted_start && !strncmp(p->v.text, "--", 2)))
			return needs_value(o, m);
		*val = p->v.text;
		*quoted = p->v.quoted;
	}
	if (!**val && o != OPT_REASON)
		return needs_value(o, m);
	return 0;
}

static void keep_target(struct parse *p, const char *val)
{
	size_t n = strlen(val);

	p->target_cut = n > TARGET_KEEP;
	if (p->target_cut) {
		n = TARGET_KEEP;
		while (n > 0 && ((unsigned char)val[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(p->target, val, n);
	p->target[n] = '\0';
}

/* Handles one option word (p->w starts with '-'). Returns 0, 1 for help,
 * or a negative code with the message written. */
static int option(struct parse *p, struct cmd *out, struct msg *m)
{
	char *eq = strchr(p->w.text, '=');
	const char *val = NULL;
	bool quoted = false;
	enum opt o;
	int rc;

	if (eq)
		*eq = '\0';
	for (o = 0; o < OPT_COUNT; o++)
		if (!strcmp(p->w.text, cmd_opt_names[o]))
			break;
	if (!strcmp(p->w.text, "-h"))
		o = OPT_HELP;
	if (o == OPT_COUNT)
		return unknown_option(p->w.text, m);
	if (o == OPT_HELP)
		return 1;
	if (o == OPT_DRY_RUN || o == OPT_WITH_DB) {
		if (eq) {
			cmd_put(m, "`%s` takes no value.", cmd_opt_names[o]);
			return CMD_ESYNTAX;
		}
		if (o == OPT_DRY_RUN)
			out->dry_run = true;
		else
			out->with_db = true;
		return 0;
	}
	if (p->seen[o]) {
		cmd_put(m, "`%s` given twice.", cmd_opt_names[o]);
		return CMD_ESYNTAX;
	}
	p->seen[o] = true;
	if (o == OPT_TO && p->svc && p->svc->target == PLAN_TARGET_NONE)
		return check_target(p->svc, "", false, m);
	rc = option_value(p, o, eq, &val, &quoted, m);
	if (rc < 0)
		return rc;

	switch (o) {
	case OPT_SEVERITY:
		if (cmd_severity_from_name(val, &out->severity) != 0) {
			cmd_put(m, "`--severity` must be P0, P1, P2 or P3, not ");
			cmd_put_echo(m, val);
			cmd_put(m, ".");
			return CMD_EVALUE;
		}
		return 0;
	case OPT_REASON:
		rc = take_reason(val, out, m);
		p->bare_reason = rc == 0 && !quoted;
		return rc;
	case OPT_TO:
		keep_target(p, val);
		if (p->svc)
			return check_target(p->svc, p->target, p->target_cut, m);
		return 0;
	default:
		break;
	}
	return 0;
}

/* The word where a rollback names its service. */
static int service_word(struct parse *p, const struct cmd_service *services, size_t n_services,
			struct cmd *out, struct msg *m)
{
	const struct subcommand *sc = p->w.quoted ? NULL : cmd_find_subcommand(p->w.text);
	int rc;

	if (!p->w.text[0]) {
		cmd_put(m, "Which service? " USAGE_LINE);
		return CMD_ESYNTAX;
	}
	if (sc) {
		/* "--post status": the subcommand is recognised only first. */
		cmd_put(m, "`%s` must come first, right after /rollback, like %s.", sc->word,
			sc->example);
		return CMD_ESYNTAX;
	}
	p->svc = cmd_find_service(p->w.text, services, n_services, m, &rc);
	if (!p->svc)
		return rc;
	rc = rb_strlcpy(out->service, p->svc->name, sizeof out->service);
	RB_ASSERT(rc == 0);
	if (p->seen[OPT_TO])
		return check_target(p->svc, p->target, p->target_cut, m);
	return 0;
}

/* Parses the text of a /rollback command; see parse.h. On error *out is
 * cleared (kind CMD_ROLLBACK, nothing set) and err holds one line of
 * mrkdwn with anything quoted from the user escaped: post it as is. */
int cmd_parse(const char *text, const struct cmd_service *services, size_t n_services,
	      struct cmd *out, char *err, size_t errlen)
{
	struct parse p;
	struct msg m = { err, errlen, 0 };
	size_t len;
	int rc = 0;
	bool first = true;

	if (err && errlen)
		err[0] = '\0';
	cmd_clear(out, CMD_ROLLBACK);
	if (!text)
		text = "";
	len = strlen(text);
	if (len > TEXT_MAX) {
		cmd_put(&m,
			"That command is too long for rollbot (more than %d characters). A --reason "
			"may be at most %d characters.",
			TEXT_MAX, CMD_REASON_CHARS);
		return CMD_ESYNTAX;
	}
	if (!cmd_utf8_valid(text, len)) {
		cmd_put(&m,
			"The command contains bytes that are not valid UTF-8 text; please retype it.");
		return CMD_ESYNTAX;
	}

	memset(&p.seen, 0, sizeof p.seen);
	p.lx = (struct lexer){ text, len, 0, 1 };
	p.svc = NULL;
	p.target[0] = '\0';
	p.target_cut = false;
	p.bare_reason = false;

	for (;;) {
		bool after_bare_reason = p.bare_reason;
		const struct subcommand *sc;

		rc = cmd_lex_next(&p.lx, &p.w, &m);
		if (rc <= 0)
			break;
		p.bare_reason = false;
		sc = first && !p.w.quoted ? cmd_find_subcommand(p.w.text) : NULL;
		if (cmd_is_option_word(&p.w)) {
			rc = option(&p, out, &m);
			if (rc == 1) {
				cmd_clear(out, CMD_HELP);
				return 0;
			}
		} else if (sc) {
			return cmd_subcommand(&p, sc, services, n_services, out, &m);
		} else if (p.svc) {
			rc = stray_word(&p, after_bare_reason, &m);
		} else {
			rc = service_word(&p, services, n_services, out, &m);
		}
		if (rc < 0)
			break;
		first = false;
	}
	if (rc == 0 && first) {
		cmd_clear(out, CMD_HELP);
		return 0;
	}
	if (rc == 0 && !p.svc) {
		cmd_put(&m, "Which service? " USAGE_LINE);
		rc = CMD_ESYNTAX;
	}
	if (rc == 0 && out->with_db && !p.svc->db_rollback) {
		/* A database rollback is never improvised: the config names it. */
		cmd_put(&m,
			"`--with-db`: %s has no `db_rollback` command in rollbot's configuration, so "
			"rollbot cannot roll its database back. Ask the service's owners, or run "
			"the down-migration by hand.",
			p.svc->name);
		rc = CMD_EVALUE;
	}
	if (rc < 0) {
		cmd_clear(out, CMD_ROLLBACK);
		return rc;
	}
	/* A target that passed check_target is at most 64 bytes. */
	rc = rb_strlcpy(out->target, p.target, sizeof out->target);
	RB_ASSERT(rc == 0);
	return 0;
}

/* "P0".."P3"; "" for CMD_SEV_UNSET or anything out of range. The string is
 * constant. */
const char *cmd_severity_name(enum cmd_severity s)
{
	static const char *const names[] = { "P0", "P1", "P2", "P3" };

	if ((int)s < 0 || (size_t)s >= RB_ARRAY_LEN(names))
		return "";
	return names[s];
}

/* Reads "P0".."P3", either case. Returns 0 and sets *out, or RB_EINVAL
 * with *out untouched. */
int cmd_severity_from_name(const char *s, enum cmd_severity *out)
{
	if (!s || (s[0] != 'P' && s[0] != 'p') || s[1] < '0' || s[1] > '3' || s[2] != '\0')
		return RB_EINVAL;
	*out = (enum cmd_severity)(s[1] - '0');
	return 0;
}

/* The help text, Slack mrkdwn, constant. Severities follow the decision
 * matrix in seeds/003. */
const char *cmd_usage(void)
{
	return "*Roll back a release*\n"
	       "`/rollback SERVICE [--to REVISION] [--severity P0|P1|P2|P3] [--reason \"what is "
	       "wrong\"] [--dry-run] [--with-db]`\n"
	       "\n"
	       "*Examples*\n"
	       "• `/rollback payments-api --to 41 --severity P1 --reason \"checkout 5xx at 6%\"`\n"
	       "• `/rollback search --severity P0 --reason \"search is down\"` (blue-green and "
	       "flag services take no --to)\n"
	       "• `/rollback payments-api --dry-run` (shows the plan, changes nothing)\n"
	       "\n"
	       "*Options*\n"
	       "• `--to`: the revision (kubectl, helm, lambda) or version (docker, script) to go "
	       "back to. Left out, rollbot picks the previous one and says which.\n"
	       "• `--severity`: *P0* complete outage, *P1* errors over 5% or a big slowdown, "
	       "*P2* minor errors, *P3* cosmetic. Left out, the configured default applies.\n"
	       "• `--reason`: one line, at most 500 characters; quote it when it has spaces.\n"
	       "• `--dry-run`: announce what would happen without doing it.\n"
	       "• `--with-db`: also run the service's database down-migration (data written "
	       "since may be lost; needs two approvers).\n"
	       "\n"
	       "*Before deciding*\n"
	       "• `/rollback assess SERVICE [--post]`: its error rate, p99 and health check "
	       "against the runbook's thresholds, the verdict (roll back now, discuss or "
	       "monitor), the severity it suggests and the command it would run. `--post` also "
	       "posts it in this channel.\n"
	       "\n"
	       "*Follow an incident* (IDs look like INC-2026-0001)\n"
	       "• `/rollback status [INC-ID] [--post]`: where an incident stands; without an ID, "
	       "every open one. `--post` also posts it in the incident's thread.\n"
	       "• `/rollback resolve INC-ID [note]`: close the incident by hand once the service "
	       "is healthy again.\n"
	       "• `/rollback cancel INC-ID [reason]`: call the incident off, e.g. a false alarm.\n"
	       "• `/rollback report INC-ID`: the incident's timeline, for the post-mortem.\n"
	       "• `/rollback history [SERVICE]`: past rollbacks, of one service or of all.\n"
	       "• `/rollback services`: every service rollbot can roll back, its method and "
	       "environment, and the incident that holds it.\n"
	       "• `/rollback sent INC-ID status-page|email|internal`: record that a draft the "
	       "report came with was sent.\n"
	       "\n"
	       "rollbot declares the incident, posts its announcement in this channel and "
	       "records every step. `/rollback help` shows this again.";
}
