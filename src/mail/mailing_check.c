/*
 * mailing_check.c - the checks of a mailing's content (see
 * mailing_check.h).
 */
#include "mailing_check.h"

#include <string.h>

#include "address.h"

int
mailing_check_from(const char *text, struct buf *err)
{
	const char *lt = strrchr(text, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	struct buf normalized = BUF_INIT, why = BUF_INIT;
	int status;

	if (lt && (gt == NULL || gt[1] != '\0')) {
		buf_printf(err, "--from \"%s\": expected \"Name <address>\" "
		    "or an address", text);
		return -1;
	}
	if (strpbrk(text, "\r\n")) {
		buf_printf(err, "--from: line breaks are not allowed");
		return -1;
	}
	status = address_check(lt ? lt + 1 : text, lt ? (size_t)(gt - lt - 1) :
	    strlen(text), &normalized, &why);
	if (status)
		buf_printf(err, "--from \"%s\": %s", text, buf_str(&why));
	buf_free(&normalized);
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
