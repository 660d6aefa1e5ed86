/*
 * tracking.h - the tracked links of a mailing's templates.
 *
 * When a template set compiles (tmplset.h), tracking_find() marks the
 * links of its text and HTML parts as link slots (template.h), so a
 * message renders each as its own click URL, https://track_domain/c/
 * TOKEN (compose.h), with no search through the text per message.
 *
 * Which links are tracked:
 *	HTML part:  the href value of an <a> or <area> tag, when it is an
 *	            absolute http or https URL written out in the
 *	            template (the entity &amp; in it stands for &).
 *	text part:  every http:// or https:// URL in the text, up to a
 *	            space, quote or angle bracket; a final . , ; : ! ? )
 *	            is punctuation, not the URL's.
 * Never: a URL built with a tag in it ({{base}}/x, https://x/{{id}}),
 * mailto: and other schemes, stylesheets and images (<link href>,
 * <img src>), the unsubscribe and view-online links (values, not text),
 * and a link that comes right after the comment {{! notrack }} (the
 * exclusion marker: put it just before the <a> tag or the URL).
 *
 * A set's distinct URLs are its link list; a URL's index there is its
 * slot.
 */
#ifndef HERALD_TRACKING_H
#define HERALD_TRACKING_H

#include "buf.h"
#include "template.h"

/* Longest URL tracked; a longer link is left as written. */
#define TRACKING_URL_MAX 4000

struct tracking_links {
	char **urls;		/* distinct, as a browser reads them */
	unsigned count;
};

/* Marks the tracked links of t (html: HTML rules, else text rules) as
 * slots, adding their URLs to links. */
void tracking_find(struct template *t, int html,
    struct tracking_links *links);

void tracking_links_free(struct tracking_links *links);

/*
 * Appends to out the link's target: url with the mailing's UTM
 * parameters (utm, a query string; NULL or "" for none) added to its
 * query, before any #fragment. A URL that already has a utm_ parameter
 * is left as it is: the template's author chose.
 */
void tracking_target(const char *url, const char *utm, struct buf *out);

/*
 * Checks a mailing's UTM parameters: NAME=VALUE pairs joined by '&',
 * each NAME utm_ and letters or '_', each VALUE letters, digits and
 * - . _ ~ % + (already URL-encoded). -1 with what is wrong in why.
 */
int tracking_check_utm(const char *utm, struct buf *why);

#endif
