/* rollbot — the /rollback subcommands (MIT licence, see LICENSE).
 *
 * Subcommands. `help status resolve cancel report history services sent assess`
 * are recognised
 * only as the first word, unquoted, in any case, so a service can never be
 * named after one (cmd_is_reserved_word, for the configuration loader).
 * They read their words with the same lexer; the note of `resolve` and the
 * reason of `cancel` are prose, so they are taken as typed instead (see
 * take_note). Options of the rollback form given to them are named as
 * such rather than reported as unknown.
 *
 * Split out of parse.c (parse_int.h). Pure: no I/O, no heap allocation.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parse_int.h"

/* ---- subcommands ---------------------------------------------------- */

#define ID_EXAMPLE "INC-2026-0001"

static const struct subcommand subcommands[] = {
	{ "help", CMD_HELP, "`/rollback help`", "nothing.", NULL },
	{ "status", CMD_STATUS, "`/rollback status " ID_EXAMPLE " --post`", "only `--post`.",
	  NULL },
	{ "resolve", CMD_RESOLVE, "`/rollback resolve " ID_EXAMPLE " fixed by the rollback`",
	  "it takes none. Write the note after the ID, like `/rollback resolve " ID_EXAMPLE
	  " fixed by the rollback`.",
	  "note" },
	{ "cancel", CMD_CANCEL, "`/rollback cancel " ID_EXAMPLE " false alarm`",
	  "it takes none. Write the reason after the ID, like `/rollback cancel " ID_EXAMPLE
	  " false alarm`.",
	  "reason" },
	{ "report", CMD_REPORT, "`/rollback report " ID_EXAMPLE "`",
	  "it takes only the incident ID.", NULL },
	{ "history", CMD_HISTORY, "`/rollback history SERVICE`",
	  "it takes only a service name, like `/rollback history SERVICE`.", NULL },
	{ "services", CMD_SERVICES, "`/rollback services`", "nothing.", NULL },
	{ "sent", CMD_SENT, "`/rollback sent " ID_EXAMPLE " status-page`",
	  "it takes none. Name the draft after the ID: `status-page`, `email` or `internal`.",
	  "draft" },
	{ "assess", CMD_ASSESS, "`/rollback assess SERVICE --post`",
	  "only a service name and `--post`.", NULL },
};

/* The subcommand `word` names, in any case, or NULL. */
const struct subcommand *cmd_find_subcommand(const char *word)
{
	for (size_t i = 0; i < RB_ARRAY_LEN(subcommands); i++)
		if (!strcasecmp(word, subcommands[i].word))
			return &subcommands[i];
	return NULL;
}

bool cmd_is_reserved_word(const char *name)
{
	return name && cmd_find_subcommand(name) != NULL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* INC-YYYY-NNNN with 4 to 6 digits at the end, "INC" in any case. The
 * database numbers incidents per year from 0001 (sql/001_init.sql). */
static bool incident_id_valid(const char *s)
{
	size_t seq;

	if (strncasecmp(s, "INC-", 4) != 0)
		return false;
	s += 4;
	for (int i = 0; i < 4; i++)
		if (!is_digit(s[i]))
			return false;
	if (s[4] != '-')
		return false;
	seq = strlen(s + 5);
	return seq >= 4 && seq <= 6 && cmd_is_digits(s + 5);
}

/* Copies a valid incident ID, upper-case: only "inc" has letters. */
static void incident_id_copy(char dst[CMD_INCIDENT_MAX], const char *id)
{
	size_t i;

	for (i = 0; id[i] && i + 1 < CMD_INCIDENT_MAX; i++)
		dst[i] = id[i] >= 'a' && id[i] <= 'z' ? (char)(id[i] - 'a' + 'A') : id[i];
	dst[i] = '\0';
}

/* The ID someone most likely meant by `word`, upper-case, in out: the
 * word without a leading '#' or trailing punctuation, with "INC-" added
 * when it is missing and the number padded to 4 digits. False when even
 * that is not an incident ID. */
static bool incident_id_guess(const char *word, char out[CMD_INCIDENT_MAX])
{
	char t[CMD_INCIDENT_MAX + 8];
	size_t len;

	word += *word == '#';
	len = strlen(word);
	while (len > 0 && strchr(".,:;!?)", word[len - 1]))
		len--;
	if (len == 0 || len > CMD_INCIDENT_MAX - 5)
		return false;
	snprintf(t, sizeof t, "%s%.*s", strncasecmp(word, "INC-", 4) ? "INC-" : "", (int)len, word);
	/* "INC-2026-" is 9 bytes; what follows is the number. */
	len = strlen(t);
	if (len > 9 && len < 13 && t[8] == '-' && cmd_is_digits(t + 9)) {
		char seq[4];
		memcpy(seq, t + 9, len - 9 + 1);
		snprintf(t + 9, sizeof t - 9, "%.*s%s", (int)(13 - len), "000", seq);
	}
	if (!incident_id_valid(t))
		return false;
	incident_id_copy(out, t);
	return true;
}

/* Reads an incident ID into out->incident. The hints cover the likely
 * slips: a near miss of an ID, and a service name where the ID goes. */
static int take_incident(const struct subcommand *sc, const char *id,
			 const struct cmd_service *services, size_t n_services, struct cmd *out,
			 struct msg *m)
{
	char guess[CMD_INCIDENT_MAX];

	if (incident_id_valid(id)) {
		incident_id_copy(out->incident, id);
		return 0;
	}
	if (!*id) {
		cmd_put(m, "The incident ID is empty: they look like " ID_EXAMPLE ".");
		return CMD_EVALUE;
	}
	if (cmd_known_service(id, services, n_services)) {
		cmd_put(m,
			"`%s` takes an incident ID, not a service: `/rollback status` lists the open "
			"incidents, `/rollback history %s` the past ones of %s.",
			sc->word, id, id);
		return CMD_EVALUE;
	}
	cmd_put_echo(m, id);
	cmd_put(m, " is not an incident ID: they look like " ID_EXAMPLE ".");
	if (incident_id_guess(id, guess))
		cmd_put(m, " Did you mean `%s`?", guess);
	return CMD_EVALUE;
}

static int needs_incident(const struct subcommand *sc, struct msg *m)
{
	cmd_put(m,
		"`%s` needs the incident ID, like %s. `/rollback status` lists the open incidents.",
		sc->word, sc->example);
	return CMD_ESYNTAX;
}

/* An option after a subcommand. Returns 0 (status --post), 1 for help, or
 * CMD_ESYNTAX with the message written. Rollback options are named as
 * such: typed out of habit, they need a different fix than a typo. */
static int sub_option(const struct subcommand *sc, struct word *w, struct cmd *out, struct msg *m)
{
	char *eq = strchr(w->text, '=');

	if (eq)
		*eq = '\0';
	if (!strcmp(w->text, "--help") || !strcmp(w->text, "-h"))
		return 1;
	if ((sc->kind == CMD_STATUS || sc->kind == CMD_ASSESS) && !strcmp(w->text, "--post")) {
		if (eq) {
			cmd_put(m, "`--post` takes no value.");
			return CMD_ESYNTAX;
		}
		out->post = true;
		return 0;
	}
	for (size_t i = 0; i < OPT_COUNT; i++) {
		if (!strcmp(w->text, cmd_opt_names[i])) {
			cmd_put(m, "`%s` is an option for rollbacks, not for `%s`: %s",
				cmd_opt_names[i], sc->word, sc->takes);
			return CMD_ESYNTAX;
		}
	}
	cmd_put(m, "Unknown option ");
	cmd_put_echo(m, w->text);
	if ((sc->kind == CMD_STATUS || sc->kind == CMD_ASSESS) &&
	    cmd_edit_distance(w->text, "--post") <=
		    cmd_typo_budget(strlen(w->text) - strspn(w->text, "-")))
		cmd_put(m, " for `%s`. Did you mean `--post`?", sc->word);
	else
		cmd_put(m, " for `%s`: %s", sc->word, sc->takes);
	return CMD_ESYNTAX;
}

/* A word after everything a subcommand takes. */
static int extra_word(const struct subcommand *sc, struct msg *m)
{
	if (sc->kind == CMD_STATUS)
		cmd_put(m, "`status` takes at most one incident ID, and `--post`.");
	else if (sc->kind == CMD_HISTORY)
		cmd_put(m, "`history` takes at most one service name.");
	else if (sc->kind == CMD_ASSESS)
		cmd_put(m, "`assess` takes one service name, and `--post`.");
	else if (sc->kind == CMD_SERVICES)
		cmd_put(m, "`services` takes nothing: `/rollback services` lists every service.");
	else
		cmd_put(m, "`%s` takes only the incident ID.", sc->word);
	return CMD_ESYNTAX;
}

/* A configured service's name into out->service, or the lookup's error
 * (unknown, with the nearest names) in m. */
static int take_known_service(const char *name, const struct cmd_service *services,
			      size_t n_services, struct cmd *out, struct msg *m)
{
	const struct cmd_service *svc;
	int rc;

	svc = cmd_find_service(name, services, n_services, m, &rc);
	if (!svc)
		return rc;
	rc = rb_strlcpy(out->service, svc->name, sizeof out->service);
	RB_ASSERT(rc == 0);
	return 0;
}

/* The service of `history`. An incident ID there (unless a service is
 * really called that) means the person wants one incident's story. */
static int take_history_service(const char *name, const struct cmd_service *services,
				size_t n_services, struct cmd *out, struct msg *m)
{
	char id[CMD_INCIDENT_MAX];

	if (!*name) {
		cmd_put(m, "The service name is empty: `/rollback history SERVICE`, or `/rollback "
			   "history` for every service.");
		return CMD_EVALUE;
	}
	if (!cmd_known_service(name, services, n_services) && incident_id_valid(name)) {
		incident_id_copy(id, name);
		cmd_put(m,
			"`history` takes a service name, not an incident ID. For one incident: "
			"`/rollback report %s`.",
			id);
		return CMD_EVALUE;
	}
	return take_known_service(name, services, n_services, out, m);
}

/* The service of `assess`: one configured service. */
static int take_assess_service(const char *name, const struct cmd_service *services,
			       size_t n_services, struct cmd *out, struct msg *m)
{
	if (!*name) {
		cmd_put(m, "The service name is empty: `/rollback assess SERVICE`.");
		return CMD_EVALUE;
	}
	return take_known_service(name, services, n_services, out, m);
}

/* status [INC-ID] [--post], report INC-ID, history [SERVICE]: a few words
 * in any order, options anywhere. */
static int sub_words(struct parse *p, const struct subcommand *sc,
		     const struct cmd_service *services, size_t n_services, struct cmd *out,
		     struct msg *m)
{
	for (;;) {
		int rc = cmd_lex_next(&p->lx, &p->w, m);

		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		if (cmd_is_option_word(&p->w))
			rc = sub_option(sc, &p->w, out, m);
		else if (out->incident[0] || out->service[0] || sc->kind == CMD_SERVICES)
			rc = extra_word(sc, m);
		else if (sc->kind == CMD_HISTORY)
			rc = take_history_service(p->w.text, services, n_services, out, m);
		else if (sc->kind == CMD_ASSESS)
			rc = take_assess_service(p->w.text, services, n_services, out, m);
		else
			rc = take_incident(sc, p->w.text, services, n_services, out, m);
		if (rc != 0)
			return rc;
	}
	if (sc->kind == CMD_REPORT && !out->incident[0])
		return needs_incident(sc, m);
	if (sc->kind == CMD_ASSESS && !out->service[0]) {
		cmd_put(m, "`assess` needs a service, like %s. `/rollback services` lists them.",
			sc->example);
		return CMD_ESYNTAX;
	}
	return 0;
}

/* True for a word that reads as an option in free text: "-x…" or "--x…".
 * A lone dash or dashes used as punctuation ("-- see thread") are text. */
static bool looks_like_option(const struct word *w)
{
	const char *s = w->text;
	size_t dashes = strspn(s, "-");
	char c = s[dashes];

	return !w->quoted_start && (dashes == 1 || dashes == 2) &&
	       ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

/* The free text after the ID of resolve and cancel. It is not split into
 * words: a note is prose, taken as typed, and its quotes are removed only
 * when the whole of it is one quoted string. A first word that looks like
 * an option is refused, so that `--reason "…"` typed out of habit is
 * explained rather than recorded as the note. */
static int take_note(struct parse *p, const struct subcommand *sc, struct cmd *out, struct msg *m)
{
	struct lexer peek = p->lx;
	struct msg quiet = { NULL, 0, 0 };
	int rc = cmd_lex_next(&peek, &p->w, &quiet);

	if (rc == 0)
		return 0;
	if (rc > 0 && looks_like_option(&p->w))
		return sub_option(sc, &p->w, out, m);
	if (rc > 0 && p->w.quoted_start && cmd_lex_next(&peek, &p->v, &quiet) == 0)
		return cmd_take_text(p->w.text, sc->noun, out, m);
	cmd_rest_as_typed(&p->lx, &p->w);
	return cmd_take_text(p->w.text, sc->noun, out, m);
}

/* resolve INC-ID [note…], cancel INC-ID [reason…]. */
static int sub_note(struct parse *p, const struct subcommand *sc,
		    const struct cmd_service *services, size_t n_services, struct cmd *out,
		    struct msg *m)
{
	int rc;

	for (;;) {
		rc = cmd_lex_next(&p->lx, &p->w, m);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return needs_incident(sc, m);
		if (!cmd_is_option_word(&p->w))
			break;
		/* Only --help gets through: resolve and cancel take no options. */
		rc = sub_option(sc, &p->w, out, m);
		if (rc != 0)
			return rc;
	}
	rc = take_incident(sc, p->w.text, services, n_services, out, m);
	if (rc != 0)
		return rc;
	return take_note(p, sc, out, m);
}

/* sent INC-ID DRAFT: which stakeholder draft went out (the report lists
 * them). The draft's name is kept lower-case in out->reason. */
static int sub_sent(struct parse *p, const struct subcommand *sc,
		    const struct cmd_service *services, size_t n_services, struct cmd *out,
		    struct msg *m)
{
	static const char *const drafts[] = { "status-page", "email", "internal" };
	int rc = sub_note(p, sc, services, n_services, out, m);

	if (rc != 0)
		return rc;
	for (size_t i = 0; i < RB_ARRAY_LEN(drafts); i++) {
		if (!strcasecmp(out->reason, drafts[i])) {
			rc = rb_strlcpy(out->reason, drafts[i], sizeof out->reason);
			RB_ASSERT(rc == 0);
			return 0;
		}
	}
	cmd_put(m,
		out->reason[0] ?
			"`%s` is not a draft: say which one was sent, `status-page`, "
			"`email` or `internal`, like %s." :
			"Say which draft was sent%s: `status-page`, `email` or `internal`, "
			"like %s.",
		out->reason[0] ? out->reason : "", sc->example);
	return CMD_EVALUE;
}

/* Parses the rest of the text after a subcommand word into *out. */
int cmd_subcommand(struct parse *p, const struct subcommand *sc, const struct cmd_service *services,
		   size_t n_services, struct cmd *out, struct msg *m)
{
	int rc = 1; /* help */

	if (sc->kind == CMD_RESOLVE || sc->kind == CMD_CANCEL)
		rc = sub_note(p, sc, services, n_services, out, m);
	else if (sc->kind == CMD_SENT)
		rc = sub_sent(p, sc, services, n_services, out, m);
	else if (sc->kind != CMD_HELP)
		rc = sub_words(p, sc, services, n_services, out, m);
	if (rc == 1) {
		cmd_clear(out, CMD_HELP);
		return 0;
	}
	if (rc < 0) {
		cmd_clear(out, CMD_ROLLBACK);
		return rc;
	}
	out->kind = sc->kind;
	return 0;
}
