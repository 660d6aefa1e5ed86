/*
 * cmd_token.c - "herald token verify TOKEN" and "herald token make
 * MAILING RECIPIENT": the unsubscribe tokens of token.h, for operators
 * and for the web endpoint that handles one-click unsubscribes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "token.h"

static void
cmd_token_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald token verify TOKEN\n"
	    "       herald token make MAILING RECIPIENT\n"
	    "\n"
	    "verify checks an unsubscribe token's signature with the keys of\n"
	    "the configuration (token_key) and prints the mailing and the\n"
	    "recipient it names; exit status 1 when it is malformed, signed\n"
	    "with an unknown key or altered. make prints the token herald puts\n"
	    "in that recipient's unsubscribe links.\n");
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

int
cmd_token(struct cli *cli, int argc, char **argv)
{
	struct herald_config *cfg;
	struct token_keys *keys;
	struct buf err = BUF_INIT, out = BUF_INIT;
	uint64_t mailing, recipient;
	int status = CLI_OK;

	if (cli_wants_help(argc, argv)) {
		cmd_token_usage(stdout);
		return CLI_OK;
	}
	if (argc < 2 || (strcmp(argv[1], "verify") &&
	    strcmp(argv[1], "make")))
		return cli_unknown_verb(cmd_token_usage, "token",
		    argc < 2 ? NULL : argv[1], "verify or make");
	if (!strcmp(argv[1], "verify") && argc != 3)
		return argc < 3 ? cli_usage_error(cmd_token_usage, "token "
		    "verify: name the TOKEN to verify") :
		    cli_unexpected(cmd_token_usage, "token verify", argv[3]);
	if (!strcmp(argv[1], "make") && argc != 4)
		return argc < 4 ? cli_usage_error(cmd_token_usage, "token "
		    "make: name the MAILING and the RECIPIENT (two ids)") :
		    cli_unexpected(cmd_token_usage, "token make", argv[4]);
	if (argc == 4 && (!cli_is_id(argv[2]) || parse_u64(argv[2],
	    &mailing)))
		return cli_bad_id(cmd_token_usage, "token make", "mailing",
		    argv[2]);
	if (argc == 4 && (!cli_is_id(argv[3]) || parse_u64(argv[3],
	    &recipient)))
		return cli_bad_id(cmd_token_usage, "token make", "recipient",
		    argv[3]);
	cfg = cli_config(cli);
	if (cfg == NULL)
		return CLI_FAILED;
	keys = token_keys_load(cfg, &err);
	if (keys == NULL) {
		msg_error("%s", buf_str(&err));
		buf_free(&err);
		return CLI_FAILED;
	}
	if (argc == 4) {
		token_make(keys, mailing, recipient, &out);
		printf("%s\n", buf_str(&out));
	} else if (token_verify(keys, argv[2], &mailing, &recipient,
	    &err) == 0) {
		printf("valid: mailing %" PRIu64 ", recipient %" PRIu64 "\n",
		    mailing, recipient);
	} else {
		msg_error("token \"%s\": %s", argv[2], buf_str(&err));
		status = CLI_FAILED;
	}
	token_keys_free(keys);
	buf_free(&err);
	buf_free(&out);
	return status;
}
