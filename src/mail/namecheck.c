/*
 * namecheck.c - warnings about names that refer to nothing (see
 * namecheck.h).
 *
 * A template name is looked up as the renderer would: in the contexts
 * its enclosing sections push, innermost first, then at the root. A
 * context is known (the mailing map, the attributes map), keyless (a
 * section over a text: lookups go on outwards) or unknown (a section
 * over an attribute, or over a name that is itself unknown): a name
 * that may resolve in an unknown context is not judged.
 */
#include "namecheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "compose.h"
#include "db.h"
#include "delivery.h"
#include "log.h"
#include "suggest.h"

#define ATTRIBUTE_KEYS_MAX 1000	/* keys kept from the sample */

void
namecheck_list_free(struct namecheck_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->names[i]);
	free(list->names);
	list->names = NULL;
	list->count = 0;
}

static int
namelist_has(const struct namecheck_list *list, const char *name, size_t length)
{
	for (size_t i = 0; i < list->count; i++)
		if (strlen(list->names[i]) == length &&
		    strncmp(list->names[i], name, length) == 0)
			return 1;
	return 0;
}

static void
namelist_add(struct namecheck_list *list, const char *name)
{
	if (namelist_has(list, name, strlen(name)))
		return;
	list->names = xrealloc(list->names, (list->count + 1) *
	    sizeof(*list->names));
	list->names[list->count++] = xstrdup(name);
}

/* --- attributes -------------------------------------------------------- */

static int
attribute_keys_row(void *arg, unsigned ncolumns, char **col)
{
	struct namecheck_list *keys = arg;
	json_t *array;
	size_t i;
	json_t *key;

	(void)ncolumns;
	if (col[0] == NULL)
		return 0;
	array = json_loads(col[0], 0, NULL);
	json_array_foreach(array, i, key)
		if (json_is_string(key) && keys->count < ATTRIBUTE_KEYS_MAX)
			namelist_add(keys, json_string_value(key));
	json_decref(array);
	return 0;
}

int
namecheck_read_attributes(MYSQL *db, struct namecheck_list *keys,
    struct buf *err)
{
	char sql[320];

	/* The newest recipients by primary key: a bounded read whatever
	 * the size of the table. */
	snprintf(sql, sizeof(sql), "SELECT DISTINCT JSON_KEYS(attributes) FROM "
	    "(SELECT attributes FROM recipients WHERE attributes IS NOT NULL "
	    "ORDER BY id DESC LIMIT %d) AS newest", NAMECHECK_ATTRIBUTE_SAMPLE);
	return db_query_strings(db, sql, 0, NULL, attribute_keys_row, keys,
	    err);
}

/* --- template names -------------------------------------------------- */

enum context {
	CONTEXT_KEYLESS,	/* a text or a flag: lookups go outwards */
	CONTEXT_MAILING,	/* {{#mailing}}: composer_mailing_names */
	CONTEXT_ATTRIBUTES,	/* {{#attributes}}: the attribute keys */
	CONTEXT_UNKNOWN,	/* anything could resolve here */
};

struct template_check {
	const struct tmplset *set;
	const struct namecheck_list *attributes;	/* NULL: unknown */
	struct buf *warnings;
	unsigned count;
	int attributes_unchecked;
};

static int
names_have(const char *const *names, const char *name, size_t length)
{
	for (unsigned i = 0; names[i]; i++)
		if (strlen(names[i]) == length &&
		    strncmp(names[i], name, length) == 0)
			return 1;
	return 0;
}

/* The names at the root of every message's data. */
static int
is_root_name(const char *name, size_t length)
{
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		if (strlen(delivery_field_names[i]) == length &&
		    strncmp(delivery_field_names[i], name, length) == 0)
			return 1;
	return names_have(composer_generated_names, name, length);
}

static int
context_has(const struct template_check *tc, enum context c,
    const char *name, size_t length)
{
	if (c == CONTEXT_MAILING)
		return names_have(composer_mailing_names, name, length);
	if (c == CONTEXT_ATTRIBUTES)
		return namelist_has(tc->attributes, name, length);
	return 0;
}

/*
 * Where name's first part resolves, given the contexts around it
 * (innermost last): a context index, -1 for the root, -2 when it does
 * not resolve, -3 when an unknown context may hold it.
 */
static int
resolve(const struct template_check *tc, const enum context *contexts,
    unsigned depth, const char *name, size_t length)
{
	for (unsigned d = depth; d-- > 0; ) {
		if (contexts[d] == CONTEXT_UNKNOWN)
			return -3;
		if (context_has(tc, contexts[d], name, length))
			return (int)d;
	}
	return is_root_name(name, length) ? -1 : -2;
}

/* What a section named name pushes, given the contexts around it. */
static enum context
section_context(const struct template_check *tc, const enum context *contexts,
    unsigned depth, const char *name)
{
	size_t first = strcspn(name, ".");
	int where = resolve(tc, contexts, depth, name, first);

	if (where == -1 && name[first] == '\0') {
		if (strcmp(name, "mailing") == 0)
			return CONTEXT_MAILING;
		if (strcmp(name, "attributes") == 0)
			return tc->attributes ? CONTEXT_ATTRIBUTES :
			    CONTEXT_UNKNOWN;
		return CONTEXT_KEYLESS;
	}
	if (where == -1 && strncmp(name, "mailing.", 8) == 0 &&
	    names_have(composer_mailing_names, name + 8, strlen(name + 8)))
		return CONTEXT_KEYLESS;
	if (where >= 0 && contexts[where] == CONTEXT_MAILING &&
	    name[first] == '\0')
		return CONTEXT_KEYLESS;
	return CONTEXT_UNKNOWN;
}

/* Names a template may use where contexts are open, for suggestions. */
static void
candidates(const struct template_check *tc, const enum context *contexts,
    unsigned depth, struct namecheck_list *out)
{
	for (unsigned i = 0; i < DELIVERY_FIELD_COUNT; i++)
		if (strcmp(delivery_field_names[i], "attributes") != 0)
			namelist_add(out, delivery_field_names[i]);
	for (unsigned i = 0; composer_generated_names[i]; i++)
		if (strcmp(composer_generated_names[i], "mailing") != 0)
			namelist_add(out, composer_generated_names[i]);
	for (unsigned i = 0; composer_mailing_names[i]; i++) {
		struct buf name = BUF_INIT;

		buf_printf(&name, "mailing.%s", composer_mailing_names[i]);
		namelist_add(out, buf_str(&name));
		buf_free(&name);
	}
	for (size_t i = 0; tc->attributes && i < tc->attributes->count; i++) {
		struct buf name = BUF_INIT;

		buf_printf(&name, "attributes.%s", tc->attributes->names[i]);
		namelist_add(out, buf_str(&name));
		buf_free(&name);
	}
	for (unsigned d = 0; d < depth; d++) {
		if (contexts[d] == CONTEXT_MAILING)
			for (unsigned i = 0; composer_mailing_names[i]; i++)
				namelist_add(out, composer_mailing_names[i]);
		for (size_t i = 0; contexts[d] == CONTEXT_ATTRIBUTES &&
		    i < tc->attributes->count; i++)
			namelist_add(out, tc->attributes->names[i]);
	}
}

/* The file a name was read from, as the operator knows it. */
static void
template_file(const struct template_check *tc, const struct template_name *u,
    struct buf *out)
{
	const char *subject = "/subject.mustache";
	size_t length = strlen(u->template), tail = strlen(subject);

	if (u->is_partial)
		buf_printf(out, "%s/%s.mustache", tc->set->directory,
		    u->template);
	else if (tc->set->subject_source == NULL && length >= tail &&
	    strcmp(u->template + length - tail, subject) == 0)
		buf_append_str(out, "--subject");
	else
		buf_append_str(out, u->template);
}

static void
warn(struct template_check *tc, const struct template_name *u,
    const char *what, const char *meant)
{
	struct buf line = BUF_INIT;

	template_file(tc, u, &line);
	buf_printf(&line, ":%u:%u: {{%s%s}} %s; it renders empty", u->line,
	    u->column, u->is_section ? "#" : "", u->name, what);
	if (meant)
		buf_printf(&line, "; did you mean {{%s%s}}?",
		    u->is_section ? "#" : "", meant);
	buf_append_char(&line, '\n');
	/* A partial used by two parts is walked twice: one warning. */
	if (strstr(buf_str(tc->warnings), buf_str(&line)) == NULL) {
		buf_append_str(tc->warnings, buf_str(&line));
		tc->count++;
	}
	buf_free(&line);
}

static void
check_name(void *arg, const struct template_name *u)
{
	struct template_check *tc = arg;
	enum context *contexts = xcalloc(u->section_count + 1,
	    sizeof(*contexts));
	struct namecheck_list known = { NULL, 0 };
	const char *name = u->name, *rest;
	size_t first = strcspn(name, ".");
	struct buf what = BUF_INIT;
	int where;

	for (unsigned d = 0; d < u->section_count; d++)
		contexts[d] = section_context(tc, contexts, d, u->sections[d]);
	if (strcmp(name, ".") == 0)
		goto out;
	where = resolve(tc, contexts, u->section_count, name, first);
	rest = name[first] ? name + first + 1 : NULL;
	if (where == -3 || (where >= 0 && rest == NULL))
		goto out;
	candidates(tc, contexts, u->section_count, &known);
	if (where == -1 && rest && strncmp(name, "attributes.", 11) == 0) {
		size_t key = strcspn(rest, ".");

		if (tc->attributes == NULL) {
			tc->attributes_unchecked = 1;
		} else if (!namelist_has(tc->attributes, rest, key)) {
			buf_printf(&what, "names an attribute no recipient has "
			    "(among the newest %d)", NAMECHECK_ATTRIBUTE_SAMPLE);
			warn(tc, u, buf_str(&what), suggest_closest(name,
			    (const char *const *)known.names, known.count));
		}
	} else if (where == -1 && rest && strncmp(name, "mailing.", 8) == 0) {
		if (!names_have(composer_mailing_names, rest, strlen(rest)))
			warn(tc, u, "is not a field of the mailing (mailing.id, "
			    "mailing.name, mailing.subject)",
			    suggest_closest(name, (const char *const *)
			    known.names, known.count));
	} else if (where != -1 || rest) {
		const char *meant = suggest_closest(name,
		    (const char *const *)known.names, known.count);
		struct buf prefixed = BUF_INIT;

		/* {{member_level}} for an attribute of that name. */
		if (meant == NULL && rest == NULL && tc->attributes &&
		    namelist_has(tc->attributes, name, strlen(name))) {
			buf_printf(&prefixed, "attributes.%s", name);
			meant = buf_str(&prefixed);
		}
		warn(tc, u, rest && where == -1 ? "is not a field of a text "
		    "value" : "names no recipient field, imported attribute "
		    "or generated value", meant);
		buf_free(&prefixed);
	}
out:
	namecheck_list_free(&known);
	buf_free(&what);
	free(contexts);
}

unsigned
namecheck_templates(const struct tmplset *set,
    const struct namecheck_list *attributes, struct buf *warnings,
    int *attributes_unchecked)
{
	struct template_check tc = { .set = set, .attributes = attributes,
	    .warnings = warnings };
	const struct template *parts[] = { set->subject, set->text, set->html,
	    set->headers };

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i])
			template_names(parts[i], check_name, &tc);
	if (attributes_unchecked)
		*attributes_unchecked = tc.attributes_unchecked;
	return tc.count;
}

/* --- segment references ------------------------------------------------ */

static int
collect_name(void *arg, unsigned ncolumns, char **col)
{
	(void)ncolumns;
	namelist_add(arg, col[0]);
	return 0;
}

static int
count_rows(void *arg, unsigned ncolumns, char **col)
{
	(void)ncolumns;
	*(long *)arg = atol(col[0]);
	return 1;
}

int
namecheck_segment(MYSQL *db, const struct segment_sql *seg,
    struct buf *warnings, struct buf *err)
{
	struct namecheck_list lists = { NULL, 0 };
	int lists_read = 0, count = 0, status = -1;

	for (unsigned i = 0; i < seg->reference_count; i++) {
		const struct segment_reference *r = &seg->references[i];
		const char *params[1] = { r->value };
		long found = 0;

		if (r->type == SEGMENT_MAILING) {
			if (db_query_strings(db, "SELECT COUNT(*) FROM mailings "
			    "WHERE id = ?", 1, params, count_rows, &found,
			    err) != 0)
				goto out;
			if (!found)
				buf_printf(warnings, "column %u: received(%s): "
				    "there is no mailing %s, so it selects "
				    "nobody (herald mailing list)\n", r->column,
				    r->value, r->value);
			count += !found;
			continue;
		}
		/* Lists are few (one per import source): read them once. */
		if (!lists_read && db_query_strings(db, "SELECT name FROM lists "
		    "ORDER BY name LIMIT 10000", 0, NULL, collect_name, &lists,
		    err) != 0)
			goto out;
		lists_read = 1;
		if (db_query_strings(db, "SELECT COUNT(*) FROM lists WHERE name "
		    "= ?", 1, params, count_rows, &found, err) != 0)
			goto out;
		if (!found) {
			const char *meant = suggest_closest(r->value,
			    (const char *const *)lists.names, lists.count);

			buf_printf(warnings, "column %u: list = %s: there is "
			    "no list \"%s\"", r->column, r->value, r->value);
			if (meant)
				buf_printf(warnings, "; did you mean %s?", meant);
			buf_append_char(warnings, '\n');
			count++;
		}
	}
	status = 0;
out:
	namecheck_list_free(&lists);
	return status == 0 ? count : -1;
}

void
namecheck_warn_each(const char *prefix, const struct buf *warnings)
{
	const char *line = buf_str(warnings);

	while (*line) {
		size_t length = strcspn(line, "\n");

		msg_warn("%s%.*s", prefix, (int)length, line);
		line += length + (line[length] == '\n');
	}
}

unsigned
namecheck_templates_report(MYSQL *db, const char *no_database,
    const struct tmplset *set, const char *prefix)
{
	struct namecheck_list keys = { NULL, 0 };
	struct buf warnings = BUF_INIT, why = BUF_INIT;
	int have_keys = 0, unchecked = 0;
	unsigned count;

	if (db && namecheck_read_attributes(db, &keys, &why) == 0)
		have_keys = 1;
	else if (db == NULL)
		buf_append_str(&why, no_database);
	count = namecheck_templates(set, have_keys ? &keys : NULL, &warnings,
	    &unchecked);
	namecheck_warn_each(prefix, &warnings);
	if (unchecked)
		msg_warn("%sattributes.NAME not checked: the attribute names "
		    "cannot be read (%s)", prefix, buf_str(&why));
	namecheck_list_free(&keys);
	buf_free(&warnings);
	buf_free(&why);
	return count;
}
