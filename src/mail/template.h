/*
 * template.h - Mustache templates, compiled once, rendered many times.
 *
 * template_compile() parses a template text into a flat list of nodes
 * (text, variable, section, inverted section, partial); the standalone
 * line rules of the Mustache specification are applied at compile time,
 * so rendering is a walk over the nodes that appends to a caller's
 * buffer. Supported: variables ({{x}}, {{{x}}}, {{&x}}), dotted names,
 * the implicit iterator {{.}}, sections, inverted sections, comments,
 * set delimiters and partials (with their indentation). Lambdas are not:
 * recipient data is never interpreted as template text.
 *
 * Values (struct tvalue) are a small tree the caller builds: strings,
 * booleans, lists and maps. Escaping is chosen per render: HTML escapes
 * & < > " ' in {{x}} (never in {{{x}}}); TEXT escapes nothing; HEADER
 * replaces CR, LF and NUL in every value with a space.
 *
 * Errors: template_compile() returns NULL and puts "NAME:LINE:COLUMN:
 * what was expected" in err.
 */
#ifndef HERALD_TEMPLATE_H
#define HERALD_TEMPLATE_H

#include <stddef.h>

#include "buf.h"

enum tvalue_type {
	TV_NULL,	/* missing: renders empty, falsey */
	TV_BOOL,
	TV_STRING,	/* also numbers, as their text */
	TV_LIST,
	TV_MAP,
};

struct tvalue {
	enum tvalue_type type;
	int boolean;			/* TV_BOOL */
	const char *string;		/* TV_STRING */
	size_t length;
	size_t count;			/* TV_LIST items, TV_MAP entries */
	const struct tvalue *items;	/* TV_LIST and TV_MAP values */
	const char *const *keys;	/* TV_MAP keys */
};

enum template_escape {
	ESCAPE_HTML,
	ESCAPE_TEXT,
	ESCAPE_HEADER,
};

struct template;

/* Looks up a partial's source by name; NULL when there is none. */
typedef const char *template_partial_fn(void *arg, const char *name);

/*
 * Compiles source (named name in error messages). Partials are resolved
 * through partial() at compile time; an unknown partial renders empty
 * (the specification's rule). NULL with err set on a syntax error.
 */
struct template *template_compile(const char *name, const char *source,
    template_partial_fn *partial, void *arg, struct buf *err);

/* The same, but an unknown partial is an error at its tag (herald's own
 * templates: a missing partial file is a mistake, not an empty text). */
struct template *template_compile_strict(const char *name,
    const char *source, template_partial_fn *partial, void *arg,
    struct buf *err);

void template_free(struct template *t);

/* A variable or section name a template uses (template_names()). */
struct template_name {
	const char *template;		/* the name it was compiled under,
					 * or the partial's name */
	int is_partial;
	unsigned line, column;		/* of its tag, from 1 */
	const char *name;		/* dotted as written; "." alone for
					 * the implicit iterator */
	int is_section;			/* {{#name}} or {{^name}} */
	const char *const *sections;	/* the {{#sections}} around it,
					 * outermost first: contexts its
					 * name may resolve in */
	unsigned section_count;
};

typedef void template_name_fn(void *arg, const struct template_name *use);

/*
 * Calls fn for every variable and section name t uses, in source order,
 * going into partials (each compiled partial once: one used with two
 * indentations is compiled, and walked, twice). The
 * pointers in *use are valid during the call only.
 */
void template_names(const struct template *t, template_name_fn *fn,
    void *arg);

/*
 * Links: a caller (tracking.h) can mark spans of a template's literal
 * text as link slots; rendering with slot values puts each slot's value
 * (escaped as a variable's) in place of the span. Only literal text is
 * looked at: a link built from tags ({{base}}/x) is never a slot.
 */
struct template_link {
	size_t offset, length;	/* the span, within its text */
	unsigned slot;		/* its value's index at render time */
};

/*
 * Finds the next link of a literal text: source is the whole template
 * source (for looking back before the text, e.g. to the start of an
 * HTML tag), the text is [start, start + length) of it. It searches
 * from *from (relative to start), and returns 1 with link filled and
 * *from past it, or 0 when there is none left. *marked is 1 when the
 * comment {{! notrack }} came just before this text: the finder skips
 * the first link it finds and clears it. followed is 1 when a tag comes
 * after the text, so a link running to its very end goes on in a tag.
 */
typedef int template_link_fn(void *arg, const char *source, size_t start,
    size_t length, size_t *from, int *marked, int followed,
    struct template_link *link);

/* Marks the links fn finds in every literal text of t and of the
 * partials it uses (each compiled partial once), in source order. */
void template_find_links(struct template *t, template_link_fn *fn,
    void *arg);

/*
 * Appends the rendering of t with data to out. Returns 0, or -1 when
 * the rendering was cut short: sections nested over lists multiply, so
 * a render may visit at most 4 million nodes and write 32 MB (a real
 * message needs a few hundred nodes).
 */
int template_render(const struct template *t, const struct tvalue *data,
    enum template_escape escape, struct buf *out);

/* The same, with links[slot] (TV_STRING, link_count of them) in place
 * of each link slot; template_render() keeps the links as written. */
int template_render_links(const struct template *t,
    const struct tvalue *data, enum template_escape escape,
    const struct tvalue *links, size_t link_count, struct buf *out);

#endif
