/*
 * cmd_key.c - "herald key list|rotate|retire ID": the token keys every
 * node and herald-web share in the database (keyring.h).
 *
 * list shows each key's id, state (signs, verifies, retired), when it
 * was created and retired and where it came from; never a secret.
 * rotate adds a key that signs from then on; retire ID makes a key's
 * tokens stop verifying. Running nodes read the change within
 * KEYRING_REFRESH_SECONDS, without a restart. A configuration with
 * token_key lines overrides the database on the node that has it: the
 * commands say so, since a rotation would not reach that node.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "keyring.h"
#include "log.h"

static void
cmd_key_usage(FILE *out)
{
	fprintf(out,
	    "usage: herald key list\n"
	    "       herald key rotate\n"
	    "       herald key retire ID\n"
	    "\n"
	    "The token keys sign the unsubscribe, view-online and click\n"
	    "tokens and the return path of every message, and key the draw\n"
	    "of recipients into variants. They live in the database, shared\n"
	    "by every node and herald-web: the newest key signs, every key\n"
	    "not retired verifies.\n"
	    "\n"
	    "  list     each key: id, state (signs, verifies, retired),\n"
	    "           created, retired, origin; never a secret\n"
	    "  rotate   add a new random key, which signs from now on (the\n"
	    "           others still verify: mail already sent keeps working)\n"
	    "  retire   stop a key verifying: links and return paths it\n"
	    "           signed are refused from then on; the key that signs\n"
	    "           cannot be retired (rotate first)\n"
	    "\n"
	    "Running nodes and herald-web read the keys again within %d\n"
	    "seconds, and at once when a token names a key they do not hold.\n"
	    "token_key lines in a node's configuration override the\n"
	    "database's keys on that node (herald.conf(5)).\n",
	    KEYRING_REFRESH_SECONDS);
}

static int
cmd_key_print(void *arg, const struct keyring_entry *key)
{
	unsigned *count = arg;

	if ((*count)++ == 0)
		printf("%-16s %-9s %-19s  %-19s  %s\n", "ID", "STATE",
		    "CREATED (UTC)", "RETIRED (UTC)", "ORIGIN");
	printf("%-16s %-9s %-19s  %-19s  %s\n", key->id, key->retired_at ?
	    "retired" : key->signs ? "signs" : "verifies", key->created_at,
	    key->retired_at ? key->retired_at : "-", key->origin);
	return 0;
}

/* Warns when this node's token_key lines hide the database's keys. */
static void
cmd_key_warn_override(const struct herald_config *cfg)
{
	if (keyring_configured(cfg))
		msg_warn("key: %s sets token_key, which overrides the "
		    "database's keys on this node: remove those lines (herald "
		    "db migrate has imported them) so that it uses these",
		    cfg->path ? cfg->path : "the configuration");
}

int
cmd_key(struct cli *cli, int argc, char **argv)
{
	struct buf err = BUF_INIT, id = BUF_INIT;
	const char *verb = argc > 1 ? argv[1] : NULL;
	unsigned nargs, count = 0;
	MYSQL *db;
	int status = CLI_FAILED;

	if (cli_wants_help(argc, argv)) {
		cmd_key_usage(stdout);
		return CLI_OK;
	}
	if (verb == NULL || (strcmp(verb, "list") && strcmp(verb, "rotate") &&
	    strcmp(verb, "retire")))
		return cli_unknown_verb(cmd_key_usage, "key", verb,
		    "list, rotate or retire");
	nargs = (unsigned)argc - 2;
	if (strcmp(verb, "retire") == 0 && nargs == 0)
		return cli_usage_error(cmd_key_usage, "key retire: name the "
		    "key ID to retire (herald key list)");
	if (nargs > (strcmp(verb, "retire") == 0 ? 1u : 0u))
		return cli_unexpected(cmd_key_usage, "key", argv[argc - 1]);
	db = cli_database(cli, "key", 0);
	if (db == NULL)
		return CLI_FAILED;
	if (strcmp(verb, "list") == 0) {
		if (keyring_list(db, cmd_key_print, &count, &err) != 0)
			goto out;
		if (count == 0)
			printf("no token keys (herald key rotate makes one)\n");
	} else if (strcmp(verb, "rotate") == 0) {
		if (keyring_rotate(db, &id, &err) != 0)
			goto out;
		printf("token key %s signs from now on; the others still "
		    "verify\n", buf_str(&id));
	} else {
		if (keyring_retire(db, argv[2], &err) != 0)
			goto out;
		printf("token key %s retired: tokens it signed no longer "
		    "verify\n", argv[2]);
	}
	cmd_key_warn_override(cli_config(cli));
	status = CLI_OK;
out:
	if (status != CLI_OK)
		msg_error("key %s: %s", verb, buf_str(&err));
	mysql_close(db);
	buf_free(&err);
	buf_free(&id);
	return status;
}
