/*
 * cmd_token.c - "herald token verify [--purpose P] TOKEN" and "herald
 * token make [--purpose P] MAILING RECIPIENT [LINK]": the signed tokens
 * of token.h, one purpose each (unsubscribe, view-online, return-path,
 * click), for
 * operators and for the web endpoint that handles one-click
 * unsubscribes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "keyring.h"
#include "log.h"
#include "returnpath.h"
#include "token.h"

static void
cmd_token_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald token verify [--purpose PURPOSE] TOKEN\n"
	    "       herald token make [--purpose PURPOSE] MAILING RECIPIENT\n"
	    "       herald token make --purpose click MAILING RECIPIENT LINK\n"
	    "\n"
	    "Each token has one purpose: unsubscribe (the default; the\n"
	    "List-Unsubscribe links and {{unsubscribe_url}}), view-online\n"
	    "({{view_online_url}}), return-path (the VERP envelope sender\n"
	    "bounces+TOKEN@bounce_domain) or click (a tracked link,\n"
	    "https://track_domain/c/TOKEN, which also names the LINK id).\n"
	    "A token of one purpose is refused for another.\n"
	    "\n"
	    "verify checks a token's signature with the keys in use (the\n"
	    "database's, herald key list; or the configuration's token_key\n"
	    "lines, which override them) and prints the mailing and the\n"
	    "recipient it names; a return-path token may be given as the\n"
	    "whole address. Exit status 1 when it is malformed, signed with\n"
	    "an unknown key, made for another purpose or altered. make prints\n"
	    "the token herald puts in that recipient's message.\n");
}

static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	*v = strtoull(s, &end, 10);
	return *end ? -1 : 0;
}

/* A return path's token given as the whole address: its token part. */
static const char *
token_of_address(const char *text, struct return_path *rp)
{
	return strchr(text, '@') && return_path_parse(text, rp) == 0 ?
	    rp->token : text;
}

int
cmd_token(struct cli *cli, int argc, char **argv)
{
	struct herald_config *cfg;
	struct token_keys *keys;
	MYSQL *db = NULL;
	struct buf err = BUF_INIT, out = BUF_INIT;
	enum token_purpose purpose = TOKEN_UNSUBSCRIBE;
	struct return_path rp;
	const char *verb, *args[4];
	unsigned nargs = 0, ids;
	uint64_t mailing, recipient, link = 0;
	int status = CLI_OK;

	if (cli_wants_help(argc, argv)) {
		cmd_token_usage(stdout);
		return CLI_OK;
	}
	if (argc < 2 || (strcmp(argv[1], "verify") &&
	    strcmp(argv[1], "make")))
		return cli_unknown_verb(cmd_token_usage, "token",
		    argc < 2 ? NULL : argv[1], "verify or make");
	verb = argv[1];
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--purpose") == 0) {
			if (i + 1 == argc)
				return cli_missing_value(cmd_token_usage,
				    "token", argv[i], "unsubscribe, "
				    "view-online, return-path or click");
			if (token_purpose_parse(argv[++i], &purpose) != 0)
				return cli_usage_error(cmd_token_usage,
				    "token: unknown purpose \"%s\": expected "
				    "unsubscribe, view-online, return-path or "
				    "click", argv[i]);
		} else if (nargs < 4) {
			args[nargs++] = argv[i];
		} else {
			return cli_unexpected(cmd_token_usage, "token",
			    argv[i]);
		}
	}
	if (!strcmp(verb, "verify") && nargs != 1)
		return nargs < 1 ? cli_usage_error(cmd_token_usage, "token "
		    "verify: name the TOKEN to verify") :
		    cli_unexpected(cmd_token_usage, "token verify", args[1]);
	ids = purpose == TOKEN_CLICK ? 3 : 2;
	if (!strcmp(verb, "make") && nargs != ids)
		return nargs < ids ? cli_usage_error(cmd_token_usage, "token "
		    "make: name the MAILING and the RECIPIENT%s", ids == 3 ?
		    " and the LINK (three ids)" : " (two ids)") :
		    cli_unexpected(cmd_token_usage, "token make", args[ids]);
	if (nargs >= 2 && (!cli_is_id(args[0]) || parse_u64(args[0],
	    &mailing)))
		return cli_bad_id(cmd_token_usage, "token make", "mailing",
		    args[0]);
	if (nargs >= 2 && (!cli_is_id(args[1]) || parse_u64(args[1],
	    &recipient)))
		return cli_bad_id(cmd_token_usage, "token make", "recipient",
		    args[1]);
	if (nargs == 3 && (!cli_is_id(args[2]) || parse_u64(args[2], &link)))
		return cli_bad_id(cmd_token_usage, "token make", "link",
		    args[2]);
	cfg = cli_config(cli);
	if (cfg == NULL)
		return CLI_FAILED;
	/* The configuration's keys need no database (keyring.h). */
	if (!keyring_configured(cfg)) {
		db = cli_database(cli, "token", 0);
		if (db == NULL)
			return CLI_FAILED;
	}
	keys = keyring_read(cfg, db, &err);
	if (db)
		mysql_close(db);
	if (keys == NULL) {
		msg_error("token: %s", buf_str(&err));
		buf_free(&err);
		return CLI_FAILED;
	}
	if (nargs >= 2) {
		if (purpose == TOKEN_CLICK)
			token_make_click(keys, mailing, recipient, link, &out);
		else
			token_make(keys, purpose, mailing, recipient, &out);
		printf("%s\n", buf_str(&out));
	} else if (purpose == TOKEN_CLICK) {
		if (token_verify_click(keys, args[0], &mailing, &recipient,
		    &link, &err) == 0) {
			printf("valid click token: mailing %" PRIu64 ", "
			    "recipient %" PRIu64 ", link %" PRIu64 "\n",
			    mailing, recipient, link);
		} else {
			msg_error("token \"%s\": %s", args[0], buf_str(&err));
			status = CLI_FAILED;
		}
	} else if (token_verify(keys, purpose, purpose == TOKEN_RETURN_PATH ?
	    token_of_address(args[0], &rp) : args[0], &mailing, &recipient,
	    &err) == 0) {
		printf("valid %s token: mailing %" PRIu64 ", recipient %" PRIu64
		    "\n", token_purpose_name(purpose), mailing, recipient);
	} else {
		msg_error("token \"%s\": %s", args[0], buf_str(&err));
		status = CLI_FAILED;
	}
	token_keys_free(keys);
	buf_free(&err);
	buf_free(&out);
	return status;
}
