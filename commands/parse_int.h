/* rollbot — what the /rollback parser's files share (MIT licence, see LICENSE).
 *
 * parse.c reads a rollback and its options, checks the values (service,
 * target, reason) and holds cmd_parse; parse_lex.c cuts the text into words
 * (UTF-8, quotes, Slack escapes and tokens) and writes the messages, with
 * the near-miss distance behind every "did you mean"; parse_sub.c reads the
 * subcommands (status, resolve, cancel, report, history, services, sent)
 * and incident IDs. Internal to the parser: nothing outside
 * commands/parse*.c includes this.
 */
#ifndef PARSE_INT_H
#define PARSE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parse.h"

/* The longest text read: a 500-character reason is at most 2000 bytes of
 * UTF-8 (more with &amp; escapes), and the rest of a command is short. */
#define TEXT_MAX 4000
/* How much of a --to value is kept for the message when the service is
 * named only after it. Anything longer than a version is invalid anyway. */
#define TARGET_KEEP 200

/* A message being written into the caller's err buffer; output past the
 * end is dropped, never overflows. */
struct msg {
	char *buf;
	size_t cap;
	size_t len;
};

struct lexer {
	const char *s;
	size_t len;
	size_t pos; /* byte offset of the next unread character */
	int col;    /* 1-based column of s[pos], counted in characters as seen */
};

struct word {
	char text[TEXT_MAX + 1]; /* decoded */
	size_t len;
	bool quoted_start; /* began with a quote: a value, never an option */
	bool quoted;	   /* some part of it was quoted */
};

enum opt {
	OPT_TO,
	OPT_SEVERITY,
	OPT_REASON,
	OPT_DRY_RUN,
	OPT_WITH_DB,
	OPT_HELP,
	OPT_COUNT
};

/* Everything cmd_parse keeps between words. Kept in one struct so the
 * large word buffers sit together in the caller's frame. */
struct parse {
	struct lexer lx;
	struct word w; /* the word being looked at */
	struct word v; /* an option's value, when it is the next word */
	const struct cmd_service *svc;
	bool seen[OPT_COUNT];
	char target[TARGET_KEEP + 1];
	bool target_cut;  /* --to was longer than TARGET_KEEP bytes */
	bool bare_reason; /* the previous word was an unquoted --reason value */
};

/* A subcommand word and what messages say about it. */
struct subcommand {
	const char *word;
	enum cmd_kind kind;
	const char *example; /* a whole command, in `code` */
	const char *takes;   /* what it takes, said after a colon */
	const char *noun;    /* what the free text after the ID is called */
};

/* parse_lex.c: messages. */
void cmd_put(struct msg *m, const char *fmt, ...) RB_PRINTF(2, 3);
/* A user's word in `code`, cut and made safe for mrkdwn. */
void cmd_put_echo(struct msg *m, const char *s);

/* parse_lex.c: UTF-8 and near misses. */
bool cmd_utf8_valid(const char *str, size_t len);
uint32_t cmd_cp_at(const char *str, size_t pos, size_t *n);
bool cmd_is_control(uint32_t c);
size_t cmd_edit_distance(const char *a, const char *b);
size_t cmd_typo_budget(size_t len);

/* parse_lex.c: words. */
int cmd_lex_next(struct lexer *lx, struct word *w, struct msg *m);
bool cmd_is_option_word(const struct word *w);
void cmd_rest_as_typed(struct lexer *lx, struct word *w);

/* parse.c. */
extern const char *const cmd_opt_names[OPT_COUNT];
bool cmd_is_digits(const char *s);
const struct cmd_service *cmd_known_service(const char *name, const struct cmd_service *services,
					    size_t n_services);
const struct cmd_service *cmd_find_service(const char *name, const struct cmd_service *services,
					   size_t n_services, struct msg *m, int *rc);
int cmd_take_text(const char *r, const char *what, struct cmd *out, struct msg *m);
void cmd_clear(struct cmd *out, enum cmd_kind kind);

/* parse_sub.c. */
const struct subcommand *cmd_find_subcommand(const char *word);
int cmd_subcommand(struct parse *p, const struct subcommand *sc, const struct cmd_service *services,
		   size_t n_services, struct cmd *out, struct msg *m);

#endif
