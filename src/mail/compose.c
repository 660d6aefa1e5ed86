/*
 * compose.c - building a mailing's messages (see compose.h).
 *
 * It reads nothing from the database: its caller hands it the mailing
 * (mailing_content.h). Per message the composer fills a fixed table of values (the row's
 * fields, the mailing's, the generated ones) and renders into buffers it
 * keeps: once the buffers have grown to the largest message, building
 * one allocates nothing, except to read a recipient's JSON attributes
 * (jansson), when there are any.
 */
#include "compose.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "address.h"
#include "message.h"
#include "returnpath.h"
#include "tmplset.h"
#include "token.h"

#define CHANGE_CHECK_INTERVAL 1	/* seconds between stat() rounds */

/* The values templates see, in the order of value_names. */
enum value_slot {
	V_FIELDS = 0,				/* delivery_field order */
	V_RECIPIENT_ID = DELIVERY_FIELD_COUNT,
	V_MAILING,
	V_UNSUBSCRIBE_URL,
	V_VIEW_ONLINE_URL,
	V_TOKEN,
	V_COUNT
};

static const char *value_names[V_COUNT];

/* In value_slot order from V_RECIPIENT_ID (compose.h). */
const char *const composer_generated_names[] = {
	"recipient_id", "mailing", "unsubscribe_url", "view_online_url",
	"token", NULL
};
const char *const composer_mailing_names[] = { "id", "name", "subject",
	NULL };

/* One per variant that has its own files, subject or From. */
struct variant_set {
	uint32_t variant_id;		/* 0: the mailing's own */
	struct tmplset *set;
	char *from_name, *from_address;	/* NULL: the mailing's */
	unsigned *targets;		/* its link slot -> c->targets index */
};

struct composer {
	const struct herald_config *cfg;
	uint64_t mailing_id;
	char *mailing_name;
	char *subject;
	char *from_name, *from_address;
	char *reply_to;
	double rate_limit;
	char *message_domain;
	char *bounce_domain;
	char *unsubscribe_base;		/* https://.../unsubscribe */
	char *unsubscribe_mailto;	/* unsubscribe@domain */
	const struct token_keys *keys;	/* the caller's: composer_set_keys() */
	int track_clicks;		/* track_domain set, mailing tracks */
	char *utm;			/* the mailing's UTM parameters */
	char **targets;			/* distinct tracked link targets */
	unsigned target_count;
	uint64_t *link_ids;		/* per target; NULL until set */

	struct variant_set *variants;
	unsigned variant_count;
	time_t checked_at;
	int changed;

	/* Reused from message to message. */
	struct tvalue values[V_COUNT];
	struct tvalue mailing_values[3];
	struct tvalue data;
	struct tvalue mailing;
	char id_text[24];
	struct tvalue *link_values;	/* per slot of the set in use */
	size_t *link_ends;		/* end of each slot's URL in links */
	unsigned link_capacity;
	struct buf links;		/* this message's click URLs */
	struct buf token, view_token, unsubscribe_url, unsubscribe_mailto_uri,
	    view_online, subject_text, text, html, headers, scratch,
	    message_id, to_name, feedback_id, header_why;
	/* Attributes of the current row, as tvalues (two passes: count,
	 * then fill, so pointers into the array stay valid). */
	struct tvalue *attr_values;
	const char **attr_keys;
	size_t attr_capacity, attr_used;
	json_t *attr_json;
	json_t *attr_numbers;		/* numbers' texts */
	int html_present;		/* the last message had HTML */
};

static void
value_names_init(void)
{
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		value_names[i] = delivery_field_names[i];
	for (unsigned i = V_RECIPIENT_ID; i < V_COUNT; i++)
		value_names[i] = composer_generated_names[i - V_RECIPIENT_ID];
}

static void
set_string(struct tvalue *v, const char *s, size_t length)
{
	v->type = TV_STRING;
	v->string = s;
	v->length = length;
}

/* A From's two parts (address.h), each allocated. */
static int
parse_from(const char *text, char **from_name, char **from_address,
    struct buf *err)
{
	struct buf name = BUF_INIT, address = BUF_INIT, why = BUF_INIT;
	int status = address_parse_mailbox(text, &name, &address, &why);

	if (status != 0) {
		buf_printf(err, "From \"%s\": %s", text, buf_str(&why));
	} else {
		*from_name = buf_steal(&name);
		*from_address = buf_steal(&address);
	}
	buf_free(&name);
	buf_free(&address);
	buf_free(&why);
	return status;
}

static const char *
domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at ? at + 1 : address;
}

static char *
or_default(const char *value, const char *fallback)
{
	return xstrdup(value && value[0] ? value : fallback);
}

static int
composer_settings(struct composer *c, struct buf *err)
{
	const struct herald_config *cfg = c->cfg;
	const char *from_domain = domain_of(c->from_address);
	struct buf text = BUF_INIT;

	c->message_domain = or_default(cfg->message_domain, from_domain);
	c->bounce_domain = or_default(cfg->bounce_domain, c->message_domain);
	buf_printf(&text, "https://%s/unsubscribe", c->message_domain);
	c->unsubscribe_base = or_default(cfg->unsubscribe_url, buf_str(&text));
	buf_reset(&text);
	buf_printf(&text, "unsubscribe@%s", c->message_domain);
	c->unsubscribe_mailto = or_default(cfg->unsubscribe_mailto,
	    buf_str(&text));
	buf_free(&text);
	if (strncmp(c->unsubscribe_base, "https://", 8) != 0) {
		buf_printf(err, "unsubscribe_url \"%s\" must be an https URL "
		    "(RFC 8058 one-click unsubscribe)", c->unsubscribe_base);
		return -1;
	}
	if (cfg->track_domain[0] && (strspn(cfg->track_domain,
	    "abcdefghijklmnopqrstuvwxyz0123456789.-:[]"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(cfg->track_domain) ||
	    cfg->track_domain[0] == '.' || cfg->track_domain[0] == '-')) {
		buf_printf(err, "track_domain \"%s\" must be a host name, "
		    "with a :PORT if needed (click URLs are https://"
		    "track_domain/c/TOKEN)", cfg->track_domain);
		return -1;
	}
	return 0;
}

/* The targets of set's links (UTM parameters added), each listed once
 * among the mailing's, and the set's slot -> target map. */
static void
composer_add_targets(struct composer *c, struct variant_set *v)
{
	const struct tracking_links *links = &v->set->links;
	struct buf target = BUF_INIT;

	v->targets = xcalloc(links->count + 1, sizeof(*v->targets));
	for (unsigned i = 0; i < links->count; i++) {
		unsigned t;

		buf_reset(&target);
		tracking_target(links->urls[i], c->utm, &target);
		for (t = 0; t < c->target_count; t++)
			if (strcmp(c->targets[t], buf_str(&target)) == 0)
				break;
		if (t == c->target_count) {
			c->targets = xrealloc(c->targets, (t + 1) *
			    sizeof(*c->targets));
			c->targets[c->target_count++] = xstrdup(buf_str(&target));
		}
		v->targets[i] = t;
	}
	if (links->count > c->link_capacity) {
		c->link_capacity = links->count;
		c->link_values = xrealloc(c->link_values, c->link_capacity *
		    sizeof(*c->link_values));
		c->link_ends = xrealloc(c->link_ends, c->link_capacity *
		    sizeof(*c->link_ends));
	}
	buf_free(&target);
}

/* The variant's own files, subject or From, compiled; none when it has
 * none of them (it is sent with the mailing's). */
static int
composer_add_variant(struct composer *c, const struct mailing_variant *v,
    struct buf *err)
{
	struct variant_set *added;
	struct tmplset *set;

	if (v->template_dir == NULL && v->subject == NULL && v->from == NULL)
		return 0;
	set = tmplset_open(v->template_dir ? v->template_dir :
	    c->variants[0].set->directory, v->subject ? v->subject :
	    c->subject, err);
	if (set == NULL)
		return -1;
	c->variants = xrealloc(c->variants, (c->variant_count + 1) *
	    sizeof(*c->variants));
	added = &c->variants[c->variant_count++];
	memset(added, 0, sizeof(*added));
	added->variant_id = v->id;
	added->set = set;
	composer_add_targets(c, added);
	return v->from ? parse_from(v->from, &added->from_name,
	    &added->from_address, err) : 0;
}

struct composer *
composer_open(const struct herald_config *cfg,
    const struct mailing_content *m, struct buf *err)
{
	struct composer *c = xcalloc(1, sizeof(*c));

	if (value_names[0] == NULL)
		value_names_init();
	c->cfg = cfg;
	c->mailing_id = m->id;
	c->mailing_name = xstrdup(m->name);
	c->subject = xstrdup(m->subject);
	c->reply_to = xstrdup(m->reply_to);
	c->rate_limit = m->rate_limit;
	c->track_clicks = cfg->track_domain[0] && m->track_clicks;
	c->utm = m->utm_parameters ? xstrdup(m->utm_parameters) : NULL;
	if (parse_from(m->from, &c->from_name, &c->from_address, err) != 0)
		goto fail;
	if (composer_settings(c, err) != 0)
		goto fail;
	c->variants = xcalloc(1, sizeof(*c->variants));
	c->variants[0].set = tmplset_open(m->template_dir, c->subject, err);
	if (c->variants[0].set == NULL)
		goto fail;
	c->variant_count = 1;
	composer_add_targets(c, &c->variants[0]);
	for (unsigned i = 0; i < m->variant_count; i++)
		if (composer_add_variant(c, &m->variants[i], err) != 0)
			goto fail;
	c->checked_at = time(NULL);
	return c;
fail:
	composer_free(c);
	return NULL;
}

void
composer_free(struct composer *c)
{
	if (c == NULL)
		return;
	for (unsigned i = 0; i < c->variant_count; i++) {
		tmplset_free(c->variants[i].set);
		free(c->variants[i].from_name);
		free(c->variants[i].from_address);
		free(c->variants[i].targets);
	}
	free(c->variants);
	for (unsigned i = 0; i < c->target_count; i++)
		free(c->targets[i]);
	free(c->targets);
	free(c->link_ids);
	free(c->utm);
	free(c->link_values);
	free(c->link_ends);
	buf_free(&c->links);
	free(c->mailing_name);
	free(c->subject);
	free(c->from_name);
	free(c->from_address);
	free(c->reply_to);
	free(c->message_domain);
	free(c->bounce_domain);
	free(c->unsubscribe_base);
	free(c->unsubscribe_mailto);
	buf_free(&c->token);
	buf_free(&c->view_token);
	buf_free(&c->unsubscribe_url);
	buf_free(&c->unsubscribe_mailto_uri);
	buf_free(&c->view_online);
	buf_free(&c->subject_text);
	buf_free(&c->text);
	buf_free(&c->html);
	buf_free(&c->headers);
	buf_free(&c->scratch);
	buf_free(&c->message_id);
	buf_free(&c->to_name);
	buf_free(&c->feedback_id);
	buf_free(&c->header_why);
	free(c->attr_values);
	free(c->attr_keys);
	if (c->attr_json) {
		json_decref(c->attr_json);
		json_decref(c->attr_numbers);
	}
	free(c);
}

/* --- attributes: JSON text to a tvalue tree --------------------------- */

static size_t
json_count(const json_t *j)
{
	size_t n = 1, i;
	const char *key;
	json_t *item;

	if (json_is_array(j))
		json_array_foreach(j, i, item)
			n += json_count(item);
	else if (json_is_object(j))
		json_object_foreach((json_t *)j, key, item)
			n += json_count(item);
	return n;
}

static struct tvalue *
attr_take(struct composer *c, size_t n)
{
	struct tvalue *v = &c->attr_values[c->attr_used];

	c->attr_used += n;
	return v;
}

/* Fills *v from j; children are taken from the arena in one block. */
static void
json_fill(struct composer *c, const json_t *j, struct tvalue *v)
{
	size_t i, count;
	const char *key;
	json_t *item;
	struct tvalue *items;

	memset(v, 0, sizeof(*v));
	switch (json_typeof(j)) {
	case JSON_STRING:
		set_string(v, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		/* Numbers render as the text jansson keeps for them. */
		{
			char *text = json_dumps(j, JSON_ENCODE_ANY);
			json_t *kept = json_string(text ? text : "");

			/* Kept alive, unmoved, until the next row. */
			json_array_append_new(c->attr_numbers, kept);
			set_string(v, json_string_value(kept),
			    json_string_length(kept));
			free(text);
		}
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		v->type = TV_BOOL;
		v->boolean = json_is_true(j);
		break;
	case JSON_NULL:
		break;
	case JSON_ARRAY:
		count = json_array_size(j);
		items = attr_take(c, count);
		v->type = TV_LIST;
		v->count = count;
		v->items = items;
		json_array_foreach(j, i, item)
			json_fill(c, item, &items[i]);
		break;
	case JSON_OBJECT:
		count = json_object_size(j);
		items = attr_take(c, count);
		v->type = TV_MAP;
		v->count = count;
		v->items = items;
		v->keys = &c->attr_keys[items - c->attr_values];
		i = 0;
		json_object_foreach((json_t *)j, key, item) {
			c->attr_keys[items - c->attr_values + i] = key;
			json_fill(c, item, &items[i]);
			i++;
		}
		break;
	}
}

static void
attributes_set(struct composer *c, const char *text, struct tvalue *v)
{
	json_t *root;

	memset(v, 0, sizeof(*v));
	if (c->attr_json) {
		json_decref(c->attr_json);
		json_decref(c->attr_numbers);
		c->attr_json = c->attr_numbers = NULL;
	}
	if (text[0] == '\0')
		return;
	root = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		return;	/* the importer stores only objects */
	}
	c->attr_json = root;
	c->attr_numbers = json_array();
	{
		size_t need = json_count(root) + 64;

		if (need > c->attr_capacity) {
			c->attr_capacity = need * 2;
			c->attr_values = xrealloc(c->attr_values,
			    c->attr_capacity * sizeof(*c->attr_values));
			c->attr_keys = xrealloc(c->attr_keys,
			    c->attr_capacity * sizeof(*c->attr_keys));
		}
	}
	c->attr_used = 0;
	json_fill(c, root, v);
}

/* --- one message -------------------------------------------------------- */

static const struct variant_set *
composer_variant(const struct composer *c, uint32_t variant_id)
{
	for (unsigned i = 1; i < c->variant_count; i++)
		if (c->variants[i].variant_id == variant_id)
			return &c->variants[i];
	return &c->variants[0];
}

static void
url_with_token(struct buf *out, const char *base, const char *token)
{
	buf_reset(out);
	buf_printf(out, "%s%st=%s", base, strchr(base, '?') ? "&" : "?",
	    token);
}

static void
composer_values(struct composer *c, const struct delivery_row *row)
{
	struct tvalue *v = c->values;

	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		set_string(&v[i], row->fields[i], strlen(row->fields[i]));
	attributes_set(c, row->fields[FIELD_ATTRIBUTES], &v[FIELD_ATTRIBUTES]);
	snprintf(c->id_text, sizeof(c->id_text), "%" PRIu64,
	    row->recipient_id);
	set_string(&v[V_RECIPIENT_ID], c->id_text, strlen(c->id_text));

	buf_reset(&c->token);
	token_make(c->keys, TOKEN_UNSUBSCRIBE, c->mailing_id,
	    row->recipient_id, &c->token);
	url_with_token(&c->unsubscribe_url, c->unsubscribe_base,
	    buf_str(&c->token));
	buf_reset(&c->unsubscribe_mailto_uri);
	buf_printf(&c->unsubscribe_mailto_uri, "mailto:%s?subject="
	    "unsubscribe%%20%s", c->unsubscribe_mailto, buf_str(&c->token));
	/* Its own token: a shared view-online link must not unsubscribe. */
	buf_reset(&c->view_online);
	if (c->cfg->view_online_url[0]) {
		buf_reset(&c->view_token);
		token_make(c->keys, TOKEN_VIEW_ONLINE, c->mailing_id,
		    row->recipient_id, &c->view_token);
		url_with_token(&c->view_online, c->cfg->view_online_url,
		    buf_str(&c->view_token));
	}
	set_string(&v[V_UNSUBSCRIBE_URL], buf_str(&c->unsubscribe_url),
	    c->unsubscribe_url.len);
	set_string(&v[V_VIEW_ONLINE_URL], buf_str(&c->view_online),
	    c->view_online.len);
	set_string(&v[V_TOKEN], buf_str(&c->token), c->token.len);

	c->mailing.type = TV_MAP;
	c->mailing.count = 3;
	c->mailing.keys = composer_mailing_names;
	c->mailing.items = c->mailing_values;
	v[V_MAILING] = c->mailing;

	c->data.type = TV_MAP;
	c->data.count = V_COUNT;
	c->data.keys = value_names;
	c->data.items = c->values;
}

/*
 * The values of v's link slots for this recipient: its own click URLs
 * when the mailing tracks clicks, else the targets as they are.
 */
static void
composer_link_values(struct composer *c, const struct variant_set *v,
    uint64_t recipient_id)
{
	unsigned count = v->set->links.count;

	buf_reset(&c->links);
	for (unsigned i = 0; i < count; i++) {
		const char *target = c->targets[v->targets[i]];

		if (c->track_clicks) {
			buf_printf(&c->links, "https://%s/c/",
			    c->cfg->track_domain);
			token_make_click(c->keys, c->mailing_id, recipient_id,
			    c->link_ids[v->targets[i]], &c->links);
			c->link_ends[i] = c->links.len;
		} else {
			set_string(&c->link_values[i], target, strlen(target));
		}
	}
	/* The buffer has stopped growing: now its pointers hold. */
	for (unsigned i = 0; c->track_clicks && i < count; i++) {
		size_t start = i ? c->link_ends[i - 1] : 0;

		set_string(&c->link_values[i], c->links.data + start,
		    c->link_ends[i] - start);
	}
}

void
composer_set_keys(struct composer *c, const struct token_keys *keys)
{
	c->keys = keys;
}

int
composer_build(struct composer *c, const struct delivery_row *row,
    struct buf *message, struct buf *sender, struct buf *err)
{
	const struct variant_set *variant = composer_variant(c,
	    row->variant_id);
	const struct tmplset *set = variant->set;
	size_t link_count = set->links.count;
	struct message_fields f;
	char mailing_id[24];
	size_t name_length;

	if (!address_is_safe_for_smtp(row->fields[FIELD_EMAIL])) {
		buf_printf(err, "the address \"%s\" cannot be used in SMTP",
		    row->fields[FIELD_EMAIL]);
		return -1;
	}
	snprintf(mailing_id, sizeof(mailing_id), "%" PRIu64, c->mailing_id);
	set_string(&c->mailing_values[0], mailing_id, strlen(mailing_id));
	set_string(&c->mailing_values[1], c->mailing_name,
	    strlen(c->mailing_name));
	set_string(&c->mailing_values[2], c->subject, strlen(c->subject));
	if (c->keys == NULL) {
		buf_printf(err, "mailing %" PRIu64 ": no token keys given "
		    "(composer_set_keys)", c->mailing_id);
		return -1;
	}
	composer_values(c, row);
	if (c->track_clicks && c->target_count && c->link_ids == NULL) {
		buf_printf(err, "mailing %" PRIu64 ": its links are not "
		    "registered (links_register) yet", c->mailing_id);
		return -1;
	}
	if (link_count)
		composer_link_values(c, variant, row->recipient_id);

	buf_reset(&c->subject_text);
	buf_reset(&c->text);
	buf_reset(&c->html);
	buf_reset(&c->headers);
	if (template_render(set->subject, &c->data, ESCAPE_HEADER,
	    &c->subject_text) != 0 || (set->text &&
	    template_render_links(set->text, &c->data, ESCAPE_TEXT,
	    c->link_values, link_count, &c->text) != 0) || (set->html &&
	    template_render_links(set->html, &c->data, ESCAPE_HTML,
	    c->link_values, link_count, &c->html) != 0) ||
	    (set->headers && template_render(set->headers, &c->data,
	    ESCAPE_HEADER, &c->headers) != 0)) {
		buf_printf(err, "the templates of %s need more than 4 million "
		    "steps or 32 MB for this recipient (sections nested over "
		    "long lists?)", set->directory);
		return -1;
	}
	/*
	 * The header block as rendered for this recipient: a value at the
	 * start of a line ("{{x}}: y", or a line that is only "{{x}}")
	 * could add Bcc, From or Content-Type, which the check with empty
	 * data at open cannot see.
	 */
	buf_reset(&c->header_why);
	if (set->headers && message_check_extra_headers(buf_str(&c->headers),
	    c->headers.len, &c->header_why) != 0) {
		buf_printf(err, "%s/headers.mustache as rendered for this "
		    "recipient: %s", set->directory, buf_str(&c->header_why));
		return -1;
	}

	buf_reset(&c->to_name);
	buf_printf(&c->to_name, "%s %s", row->fields[FIELD_FIRST_NAME],
	    row->fields[FIELD_LAST_NAME]);
	name_length = c->to_name.len;
	while (name_length && c->to_name.data[name_length - 1] == ' ')
		c->to_name.data[--name_length] = '\0';
	c->to_name.len = name_length;
	buf_reset(&c->message_id);
	buf_printf(&c->message_id, "herald.%" PRIu64 ".%" PRIu64 "@%s",
	    c->mailing_id, row->recipient_id, c->message_domain);
	buf_reset(&c->feedback_id);
	buf_printf(&c->feedback_id, "%" PRIu64 ":%" PRIu32 ":herald:%s",
	    c->mailing_id, row->variant_id, c->cfg->feedback_id_sender);

	memset(&f, 0, sizeof(f));
	f.from_name = variant->from_address ? variant->from_name :
	    c->from_name;
	f.from_address = variant->from_address ? variant->from_address :
	    c->from_address;
	f.to_name = buf_str(&c->to_name) + (c->to_name.data &&
	    c->to_name.data[0] == ' ' ? 1 : 0);
	f.to_address = row->fields[FIELD_EMAIL];
	f.reply_to = c->reply_to;
	f.subject = buf_str(&c->subject_text);
	f.subject_length = c->subject_text.len;
	f.date = time(NULL);
	f.message_id = buf_str(&c->message_id);
	f.unsubscribe_url = buf_str(&c->unsubscribe_url);
	f.unsubscribe_mailto = buf_str(&c->unsubscribe_mailto_uri);
	f.feedback_id = buf_str(&c->feedback_id);
	f.extra_headers = buf_str(&c->headers);
	f.extra_headers_length = c->headers.len;
	f.text = set->text ? buf_str(&c->text) : NULL;
	f.text_length = c->text.len;
	f.html = set->html ? buf_str(&c->html) : NULL;
	c->html_present = set->html != NULL;
	f.html_length = c->html.len;
	buf_reset(message);
	message_build(&f, message, &c->scratch);

	buf_reset(sender);
	return_path_make(c->keys, c->mailing_id, row->recipient_id,
	    c->bounce_domain, sender);
	return 0;
}

int
composer_files_changed(struct composer *c)
{
	time_t now = time(NULL);

	if (c->changed || now - c->checked_at < CHANGE_CHECK_INTERVAL)
		return c->changed;
	c->checked_at = now;
	for (unsigned i = 0; i < c->variant_count && !c->changed; i++)
		c->changed = tmplset_changed(c->variants[i].set);
	return c->changed;
}

const char *
composer_last_html(const struct composer *c, size_t *length)
{
	*length = c->html.len;
	return c->html_present ? buf_str(&c->html) : NULL;
}

uint64_t
composer_mailing_id(const struct composer *c)
{
	return c->mailing_id;
}

double
composer_rate_limit(const struct composer *c)
{
	return c->rate_limit;
}

int
composer_tracks_clicks(const struct composer *c)
{
	return c->track_clicks;
}

unsigned
composer_links(const struct composer *c, const char *const **targets)
{
	*targets = (const char *const *)c->targets;
	return c->target_count;
}

void
composer_set_link_ids(struct composer *c, const uint64_t *ids)
{
	free(c->link_ids);
	c->link_ids = xcalloc(c->target_count + 1, sizeof(*c->link_ids));
	memcpy(c->link_ids, ids, c->target_count * sizeof(*ids));
}
