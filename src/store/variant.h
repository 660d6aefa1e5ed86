/*
 * variant.h - a mailing's variants (A/B test cells): making them, and
 * which recipient gets which.
 *
 * A variant overrides some of its mailing's content (subject, template
 * directory, From) for a share of its recipients. Shares are given in
 * percent with at most two decimals and kept in basis points
 * (hundredths of a percent, 10% = 1000). A mailing's variants' shares
 * add up to at most 100%; the rest of its recipients get the mailing's
 * own content, which herald calls variant A (variant_id 0 in the stage
 * table). Variants change only before staging: in draft, queued, or
 * paused before it was ever staged. variant_add() and variant_remove()
 * lock the mailing's row while they check its state, so a stager that
 * starts meanwhile waits and then sees the variants as they are.
 *
 * Assignment, at staging: each recipient r of mailing m is ranked by
 * HMAC-SHA256(K, "m.r") (decimal ids; ties, which do not happen in
 * practice, by recipient id), where K is derived from the newest token
 * key (token_derive_key, label "herald-variant-assignment:"). The ranks
 * are cut at the cumulative shares, variants in id order, then A:
 * among N recipients the variant whose shares up to and including its
 * own add up to C basis points takes the ranks up to floor(N * C /
 * 10000). So each variant gets its share of N to within one recipient,
 * a recipient's variant depends only on the key, the mailing and who
 * else is selected (the same selection staged again gives the same
 * variants), and nobody can steer a recipient into a cell without the
 * key. The server computes the HMAC (two SHA2() around the key's inner
 * and outer pads, bound as values) inside the one INSERT ... SELECT of
 * staging, so staging still streams no row through herald.
 *
 * Functions returning int give 0, or -1 with a sentence in err naming
 * the mailing, the option and what to do; a refusal changes nothing.
 */
#ifndef HERALD_VARIANT_H
#define HERALD_VARIANT_H

#include <mysql.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

#define VARIANT_SHARE_WHOLE 10000	/* basis points in 100% */
#define VARIANT_NAME_MAX 100
#define VARIANT_OWN_NAME "A"		/* the mailing's own content */
#define VARIANT_RANK_LABEL "herald-variant-assignment:"

/*
 * Parses a share such as "10%", "12.5%" or "0.25%" (more than 0, at
 * most 100%, two decimals at most) into basis points. -1 with why.
 */
int variant_share_parse(const char *text, unsigned *basis_points,
    struct buf *why);

/* Appends basis_points as a percentage: "10%", "12.5%", "0.25%". */
void variant_share_format(unsigned basis_points, struct buf *out);

/*
 * A variant name: 1 to VARIANT_NAME_MAX letters, digits, '.', '_' or
 * '-', and not "A" in any case (the mailing's own content). -1 with why.
 */
int variant_name_check(const char *name, struct buf *why);

/*
 * How many of n ranked recipients fall at or below the cut of
 * upto_basis_points: floor(n * upto / VARIANT_SHARE_WHOLE). A variant's
 * count is the difference between its cut and the previous one.
 */
uint64_t variant_cut(uint64_t n, unsigned upto_basis_points);

/*
 * The HMAC-SHA256 inner and outer pads of key (zero-padded to the
 * 64-byte block, XOR 0x36 and 0x5c), in lowercase hex: with them the
 * server computes HMAC(key, msg) as SHA2(opad || SHA2(ipad || msg)).
 */
void variant_rank_pads(const unsigned char *key, size_t key_length,
    char ipad_hex[129], char opad_hex[129]);

/*
 * The SQL that gives each staged row its variant (see the top).
 *
 * With a test phase (testphase.h) the same ranking is cut twice: among
 * N recipients the first T = floor(N * test_share / 10000) ranks are the
 * test cell, cut among the variants at their cumulative shares of T as
 * above (so each variant gets its share of the test cell to within one
 * recipient, A the rest), and the ranks after T are the holdout, staged
 * as A until the winner is chosen. Then the statement ranks in a derived
 * table q: rank is the rank's expression over recipients r (with the
 * three bound values), and expression is the variant over q.rk (the
 * rank) and q.nt (T).
 */
struct variant_assignment {
	struct buf expression;	/* over recipients r; "0" with no variant;
				 * with a test share, over q.rk and q.nt */
	struct buf rank;	/* with a test share only: the rank over r */
	const char *params[3];	/* bound in order where it appears */
	unsigned nparams;
	char ipad[129], opad[129];
};

/*
 * Builds the assignment for mailing_id (decimal text; a must not
 * outlive it) from its variants, loading the token keys only when it
 * has some (or a test phase). test_share: the test cell's share in
 * basis points, 0 without a test phase. Only numbers read from integer
 * columns go into the text; the pads and the mailing id are bound. Free
 * with variant_assignment_free().
 */
int variant_assignment_prepare(const struct herald_config *cfg, MYSQL *db,
    const char *mailing_id, unsigned test_share, struct variant_assignment *a,
    struct buf *err);

void variant_assignment_free(struct variant_assignment *a);

/* A variant as given to variant_add(): NULL fields are the mailing's. */
struct variant_spec {
	const char *name;
	const char *subject;
	const char *template_dir;
	const char *from;
	unsigned share;		/* basis points */
};

/*
 * Adds v to mailing (already checked: variant_name_check, and its
 * content by mailing_check.h). Refused when the mailing does not exist,
 * is staged or being staged, already has a variant of that name, or
 * when the shares would add up to more than 100%.
 */
int variant_add(MYSQL *db, uint64_t mailing, const struct variant_spec *v,
    struct buf *err);

/* Removes mailing's variant name, under the same rule of state. */
int variant_remove(MYSQL *db, uint64_t mailing, const char *name,
    struct buf *err);

struct variant_row {
	uint32_t id;
	unsigned share;		/* basis points */
	char *name;
	char *subject;		/* NULL: the mailing's (likewise below) */
	char *template_dir;
	char *from;
};

struct variant_list {
	struct variant_row *rows;	/* in id order */
	unsigned count;
	unsigned share_total;		/* basis points of all rows */
	int mailing_found;
};

/* Reads mailing's variants into list (zeroed first; free it with
 * variant_list_free), and whether the mailing exists. */
int variant_list_read(MYSQL *db, uint64_t mailing,
    struct variant_list *list, struct buf *err);

void variant_list_free(struct variant_list *list);

#endif
