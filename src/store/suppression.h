/*
 * suppression.h - addresses never to mail again: the suppressions table
 * and everything that reads or writes it.
 *
 * An entry is an address (compared without case), its source (who or
 * what suppressed it), a reason in words, an optional detail (a bounce's
 * status and the remote server's words), the mailing that caused it if
 * any, and the time. The stager leaves suppressed addresses out of new
 * stage tables; a worker, when it reads a batch's rows, turns the rows
 * of addresses suppressed since staging into "suppressed" (a final
 * state) with suppression_apply_to_batch(), so a suppression acts on the
 * next batch of every mailing, even one paused for weeks.
 *
 * Addresses given to this module are normalized with address_check()
 * (suppression_normalize); bad ones are refused before anything changes.
 * Every function returns 0, or -1 with a sentence in err.
 */
#ifndef HERALD_SUPPRESSION_H
#define HERALD_SUPPRESSION_H

#include <mysql.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "buf.h"

enum suppression_source {
	SUPPRESSION_OPERATOR,	/* herald suppress add */
	SUPPRESSION_IMPORT,	/* herald suppress import */
	SUPPRESSION_BOUNCE,	/* a permanent bounce (herald bounce) */
	SUPPRESSION_UNSUBSCRIBE,
	SUPPRESSION_COMPLAINT,
};

/* The source's name as the table stores it ("operator", ...). */
const char *suppression_source_name(enum suppression_source source);

/* A growing list of normalized addresses; the list owns its strings. */
struct suppression_list {
	char **emails;
	size_t count;
	size_t capacity;
};

void suppression_list_free(struct suppression_list *list);

/*
 * Checks text as an address and appends its normalized form to list.
 * -1 with "what is wrong" in err (the caller says where it came from).
 */
int suppression_normalize(const char *text, struct suppression_list *list,
    struct buf *err);

/*
 * Reads FILE: one address per line; blank lines and lines starting with
 * '#' are skipped, spaces around an address and a CR before the LF are
 * ignored. -1 with "FILE:LINE: ..." in err at the first bad line (the
 * list may then hold the good lines before it: the caller frees it and
 * changes nothing).
 */
int suppression_read_file(const char *path, struct suppression_list *list,
    struct buf *err);

/*
 * Inserts the addresses, without a transaction of its own: callers that
 * record more in the same transaction (a bounce) use it. An address
 * already suppressed keeps its first entry. *added, when not NULL, gets
 * how many were new. reason, detail: text or NULL; mailing_id 0 = none.
 */
int suppression_insert(MYSQL *db, const struct suppression_list *list,
    enum suppression_source source, const char *reason, const char *detail,
    uint64_t mailing_id, unsigned long long *added, struct buf *err);

/* How an unsubscribe arrived (the table's channel column). */
enum suppression_channel {
	SUPPRESSION_ONE_CLICK,	/* RFC 8058 POST from a mailbox provider */
	SUPPRESSION_PAGE,	/* the button of herald-web's page */
	SUPPRESSION_MAILTO,	/* mail to the List-Unsubscribe address */
};

/* The channel's name as the table stores it ("one-click", ...). */
const char *suppression_channel_name(enum suppression_channel channel);

/*
 * Inserts one unsubscribe entry (source "unsubscribe") for a normalized
 * address, with the mailing, the channel and the client's address
 * (remote_address: text or NULL), without a transaction of its own (the
 * caller changes the recipient in the same one: unsubscribe.h). An
 * address already suppressed keeps its first entry; *added (when not
 * NULL) is 1 when the entry is new, else 0.
 */
int suppression_insert_unsubscribe(MYSQL *db, const char *email,
    uint64_t mailing_id, enum suppression_channel channel,
    const char *remote_address, int *added, struct buf *err);

/* suppression_insert() in a transaction of its own: all or nothing. */
int suppression_add(MYSQL *db, const struct suppression_list *list,
    enum suppression_source source, const char *reason,
    unsigned long long *added, struct buf *err);

/* Removes the addresses' entries, all or nothing; *removed gets how many
 * there were. */
int suppression_remove(MYSQL *db, const struct suppression_list *list,
    unsigned long long *removed, struct buf *err);

struct suppression_entry {
	const char *email;
	const char *source;
	const char *reason;
	const char *detail;	/* "" when none */
	const char *mailing_id;	/* "" when none */
	const char *created_at;	/* UTC, "YYYY-MM-DD HH:MM:SS" */
};

/* Calls fn for every entry, oldest first; fn returns 0 to go on. */
typedef int suppression_entry_fn(void *arg,
    const struct suppression_entry *entry);
int suppression_list_entries(MYSQL *db, suppression_entry_fn *fn, void *arg,
    struct buf *err);

/*
 * The check at claim time: with one UPDATE joined to the suppressions
 * table, the batch's rows after after_row that are still to be sent
 * (pending or deferred) and whose address is suppressed become
 * "suppressed", with the entry's source and reason as their reply;
 * *suppressed gets their number. Running it again finds nothing more to
 * do. The caller then counts the batch's suppressed rows (delivery.c
 * does it in the read that follows) and gives the count to
 * suppression_count_batch().
 */
int suppression_apply_to_batch(MYSQL *db, const struct batch *batch,
    uint32_t after_row, unsigned *suppressed, struct buf *err);

/*
 * Brings the mailing's suppressed_count up to date with in_batch, the
 * number of the batch's rows (all of them, not only those after the
 * checkpoint) now suppressed: what was not counted yet is added, once,
 * whatever failed before.
 */
int suppression_count_batch(MYSQL *db, const struct batch *batch,
    unsigned in_batch, struct buf *err);

#endif
