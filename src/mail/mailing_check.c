/*
 * mailing_check.c - the checks of a mailing's content (see
 * mailing_check.h).
 */
#include "mailing_check.h"

#include "address.h"

int
mailing_check_from(const char *text, struct buf *err)
{
	struct buf name = BUF_INIT, address = BUF_INIT, why = BUF_INIT;
	int status = address_parse_mailbox(text, &name, &address, &why);

	if (status)
		buf_printf(err, "--from \"%s\": %s", text, buf_str(&why));
	buf_free(&name);
	buf_free(&address);
	buf_free(&why);
	return status;
}

struct tmplset *
mailing_check_templates(const char *directory, const char *subject,
    int subject_given, const char *whose, struct buf *err)
{
	struct tmplset *set = tmplset_open(directory, subject, err);

	if (set && subject_given && set->subject_source) {
		buf_printf(err, "--subject \"%s\": %s/subject.mustache gives "
		    "this %s's subject; leave --subject out, or remove the "
		    "file to use --subject", subject, directory, whose);
		tmplset_free(set);
		return NULL;
	}
	return set;
}
