/*
 * tracking.c - finding the tracked links of templates (see tracking.h).
 */
#include "tracking.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct finder {
	struct tracking_links *links;
	int html;
};

/* The slot of url (decoded), adding it when new. */
static unsigned
tracking_slot(struct tracking_links *links, const char *url)
{
	for (unsigned i = 0; i < links->count; i++)
		if (strcmp(links->urls[i], url) == 0)
			return i;
	links->urls = xrealloc(links->urls, (links->count + 1) *
	    sizeof(*links->urls));
	links->urls[links->count] = xstrdup(url);
	return links->count++;
}

/* 1 when [s, s+length) is an absolute http(s) URL we can track. */
static int
url_trackable(const char *s, size_t length)
{
	size_t scheme = strncasecmp(s, "https://", 8) == 0 ? 8 :
	    strncasecmp(s, "http://", 7) == 0 ? 7 : 0;

	if (scheme == 0 || length <= scheme || length > TRACKING_URL_MAX)
		return 0;
	for (size_t i = 0; i < length; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '"' ||
		    s[i] == '<' || s[i] == '>' || s[i] == '\\')
			return 0;
	/* A host must follow the scheme. */
	return s[scheme] != '/' && s[scheme] != '?' && s[scheme] != '#';
}

/* The URL a browser reads from an href value: &amp; is &. */
static char *
html_decode(const char *s, size_t length)
{
	struct buf out = BUF_INIT;

	for (size_t i = 0; i < length; i++) {
		if (s[i] == '&' && length - i >= 5 &&
		    strncasecmp(s + i, "&amp;", 5) == 0) {
			buf_append_char(&out, '&');
			i += 4;
		} else {
			buf_append_char(&out, s[i]);
		}
	}
	return buf_steal(&out);
}

/* 1 when the tag around position at of source (looking back to its
 * '<', across tags) is <a ...> or <area ...>. */
static int
in_anchor_tag(const char *source, size_t at)
{
	size_t i = at;

	while (i > 0 && source[i - 1] != '<' && source[i - 1] != '>')
		i--;
	if (i == 0 || source[i - 1] != '<')
		return 0;
	if ((source[i] == 'a' || source[i] == 'A') &&
	    isspace((unsigned char)source[i + 1]))
		return 1;
	return strncasecmp(source + i, "area", 4) == 0 &&
	    isspace((unsigned char)source[i + 4]);
}

/*
 * HTML: the next href="URL" (or '...') of an <a> or <area> tag. The
 * attribute name must follow a space, its value close in this text.
 */
static int
find_html(struct finder *f, const char *source, size_t start,
    size_t length, size_t *from, int *marked, struct template_link *link)
{
	const char *text = source + start;

	while (*from + 5 < length) {
		size_t name = *from, value, end;
		char quote;

		while (name + 4 < length && strncasecmp(text + name, "href", 4))
			name++;
		if (name + 4 >= length)
			break;
		*from = name + 4;
		if (name == 0 ? start == 0 ||
		    !isspace((unsigned char)source[start - 1]) :
		    !isspace((unsigned char)text[name - 1]))
			continue;
		value = name + 4;
		while (value < length && isspace((unsigned char)text[value]))
			value++;
		if (value >= length || text[value] != '=')
			continue;
		value++;
		while (value < length && isspace((unsigned char)text[value]))
			value++;
		if (value >= length || (text[value] != '"' &&
		    text[value] != '\''))
			continue;
		quote = text[value++];
		end = value;
		while (end < length && text[end] != quote)
			end++;
		if (end >= length)	/* the value goes on in a tag */
			continue;
		*from = end + 1;
		if (!in_anchor_tag(source, start + name))
			continue;
		/* The marker excludes the first link after it, whatever
		 * it is. */
		if (*marked) {
			*marked = 0;
			continue;
		}
		if (!url_trackable(text + value, end - value))
			continue;
		{
			char *url = html_decode(text + value, end - value);

			link->slot = tracking_slot(f->links, url);
			free(url);
		}
		link->offset = value;
		link->length = end - value;
		return 1;
	}
	*from = length;
	return 0;
}

/* Ends a URL in text: space, control, quote, angle bracket. */
static int
ends_text_url(char c)
{
	return (unsigned char)c <= ' ' || c == 0x7f || c == '"' || c == '\'' ||
	    c == '<' || c == '>';
}

/* Text: the next http:// or https:// URL that starts a word. */
static int
find_text(struct finder *f, const char *source, size_t start,
    size_t length, size_t *from, int *marked, int followed,
    struct template_link *link)
{
	const char *text = source + start;

	while (*from + 7 < length) {
		size_t begin = *from, end;

		while (begin + 7 < length && strncasecmp(text + begin,
		    "http://", 7) && strncasecmp(text + begin, "https://", 8))
			begin++;
		if (begin + 7 >= length)
			break;
		end = begin;
		while (end < length && !ends_text_url(text[end]))
			end++;
		*from = end;
		/* Inside a word ("xhttp://") or going on in a tag. */
		if ((begin > 0 && isalnum((unsigned char)text[begin - 1])) ||
		    (end == length && followed))
			continue;
		while (end > begin && strchr(".,;:!?)", text[end - 1]))
			end--;
		if (*marked) {
			*marked = 0;
			continue;
		}
		if (!url_trackable(text + begin, end - begin))
			continue;
		{
			char *url = xstrndup(text + begin, end - begin);

			link->slot = tracking_slot(f->links, url);
			free(url);
		}
		link->offset = begin;
		link->length = end - begin;
		return 1;
	}
	*from = length;
	return 0;
}

static int
tracking_next(void *arg, const char *source, size_t start, size_t length,
    size_t *from, int *marked, int followed, struct template_link *link)
{
	struct finder *f = arg;

	if (f->html)
		return find_html(f, source, start, length, from, marked, link);
	return find_text(f, source, start, length, from, marked, followed,
	    link);
}

void
tracking_find(struct template *t, int html, struct tracking_links *links)
{
	struct finder f = { .links = links, .html = html };

	template_find_links(t, tracking_next, &f);
}

void
tracking_links_free(struct tracking_links *links)
{
	for (unsigned i = 0; i < links->count; i++)
		free(links->urls[i]);
	free(links->urls);
	links->urls = NULL;
	links->count = 0;
}

void
tracking_target(const char *url, const char *utm, struct buf *out)
{
	const char *hash = strchr(url, '#');
	size_t before = hash ? (size_t)(hash - url) : strlen(url);
	const char *query = memchr(url, '?', before);
	int has_utm = 0;

	for (const char *p = query; p && p < url + before; p++)
		if ((*p == '?' || *p == '&') && strncmp(p + 1, "utm_", 4) == 0)
			has_utm = 1;
	if (utm == NULL || utm[0] == '\0' || has_utm) {
		buf_append_str(out, url);
		return;
	}
	buf_append(out, url, before);
	if (query == NULL)
		buf_append_char(out, '?');
	else if (url[before - 1] != '?' && url[before - 1] != '&')
		buf_append_char(out, '&');
	buf_append_str(out, utm);
	if (hash)
		buf_append_str(out, hash);
}

int
tracking_check_utm(const char *utm, struct buf *why)
{
	const char *p = utm;

	if (utm[0] == '\0') {
		buf_printf(why, "empty: give NAME=VALUE pairs, for example "
		    "utm_source=herald&utm_medium=email");
		return -1;
	}
	while (*p) {
		size_t name = strspn(p, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");
		size_t value;

		if (name <= 4 || strncmp(p, "utm_", 4) != 0 || p[name] != '=') {
			buf_printf(why, "at \"%s\": expected utm_NAME=VALUE",
			    p);
			return -1;
		}
		p += name + 1;
		value = strspn(p, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%+");
		if (value == 0 || (p[value] != '\0' && p[value] != '&') ||
		    (p[value] == '&' && p[value + 1] == '\0')) {
			buf_printf(why, "at \"%s\": a value is letters, digits "
			    "and - . _ ~ %% + (URL-encode the rest), and pairs "
			    "are joined by &", p);
			return -1;
		}
		p += value + (p[value] == '&');
	}
	return 0;
}
