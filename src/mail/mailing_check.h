/*
 * mailing_check.h - the checks a mailing's content passes before it is
 * queued: "herald mailing create" and "herald mailing variant add" run
 * the same ones, so a variant is refused for exactly what would refuse
 * a mailing.
 *
 *	mailing_check_from()       "Name <address>" or an address
 *	mailing_check_templates()  the template directory compiles, with the
 *	                           subject a worker would use
 *
 * Both return -1 (NULL) with a sentence in err that names the option
 * and what to do.
 */
#ifndef HERALD_MAILING_CHECK_H
#define HERALD_MAILING_CHECK_H

#include "buf.h"
#include "tmplset.h"

/* Checks text as a From: "Name <address>" or an address, no line
 * break. 0, or -1 naming --from. */
int mailing_check_from(const char *text, struct buf *err);

/*
 * Compiles directory as a worker will, with subject when the directory
 * has no subject.mustache. subject_given says the operator passed
 * --subject: refused when the directory has subject.mustache, since
 * workers take the file and the text would be shown but never sent
 * (whose: "mailing" or "variant", for the message). The caller owns the
 * set (tmplset_free); NULL with the reason in err.
 */
struct tmplset *mailing_check_templates(const char *directory,
    const char *subject, int subject_given, const char *whose,
    struct buf *err);

#endif
