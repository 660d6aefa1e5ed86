/*
 * template.c - Mustache compiler and renderer (see template.h).
 *
 * A compiled template is an array of nodes. A section node knows where
 * its body ends, so rendering skips a falsey section in one step. Partials
 * are compiled once per (name, indentation) into a table shared by the
 * root template and every partial it reaches, which also makes recursive
 * partials work: a partial is entered in the table before its own body is
 * compiled.
 */
#include "template.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEMPLATE_MAX_DEPTH 64	/* nested contexts while rendering */
#define TEMPLATE_RENDER_STEPS (1UL << 22)	/* nodes and lookups per render */
#define TEMPLATE_RENDER_OUTPUT (32UL << 20)	/* bytes per render */
#define TEMPLATE_MAX_DELIMITER 16

enum node_type {
	NODE_TEXT,
	NODE_VARIABLE,		/* escaped per render */
	NODE_RAW,		/* {{{x}}} and {{&x}} */
	NODE_SECTION,
	NODE_INVERTED,
	NODE_PARTIAL,
};

struct node {
	enum node_type type;
	const char *text;	/* NODE_TEXT: into the template's copy */
	size_t length;
	struct template_link *links;	/* NODE_TEXT: its link slots, in
					 * order (template_find_links()) */
	unsigned link_count;
	int marked;		/* NODE_TEXT: {{! notrack }} came before it */
	char **parts;		/* dotted name split; NULL parts for "." */
	unsigned part_count;
	unsigned end;		/* sections: index of the node after the body */
	size_t offset;		/* tags: where the tag starts in the source */
	struct template *partial;
};

struct partial_table {
	struct partial_entry {
		char *key;		/* name, NUL, indentation */
		size_t key_length;
		struct template *template;
	} *entries;
	unsigned count;
	template_partial_fn *lookup;
	void *arg;
	int strict;		/* an unknown partial is an error */
};

struct template {
	char *name;		/* as compiled: a file, or a partial's name */
	size_t indent;		/* partials: spaces added to each line */
	int is_partial;
	char *source;		/* our copy; text nodes point into it */
	struct node *nodes;
	unsigned count;
	unsigned capacity;
	struct partial_table *partials;
};

/* Parser state for one source. */
struct parser {
	const char *name;
	const char *src;
	size_t length;
	size_t pos;
	size_t line_start;
	char open[TEMPLATE_MAX_DELIMITER + 1];
	char close[TEMPLATE_MAX_DELIMITER + 1];
	struct template *t;
	unsigned stack[TEMPLATE_MAX_DEPTH];	/* open section nodes */
	unsigned depth;
	struct buf *err;
	int notrack;		/* a {{! notrack }} waits for the next text */
};

static void parser_error(struct parser *p, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
parser_error(struct parser *p, size_t at, const char *fmt, ...)
{
	unsigned line = 1, column = 1;
	va_list ap;

	for (size_t i = 0; i < at && i < p->length; i++) {
		if (p->src[i] == '\n') {
			line++;
			column = 1;
		} else {
			column++;
		}
	}
	buf_printf(p->err, "%s:%u:%u: ", p->name, line, column);
	va_start(ap, fmt);
	buf_vprintf(p->err, fmt, ap);
	va_end(ap);
}

static struct node *
template_add_node(struct template *t, enum node_type type)
{
	struct node *n;

	if (t->count == t->capacity) {
		t->capacity = t->capacity ? t->capacity * 2 : 16;
		t->nodes = xrealloc(t->nodes, t->capacity * sizeof(*t->nodes));
	}
	n = &t->nodes[t->count++];
	memset(n, 0, sizeof(*n));
	n->type = type;
	return n;
}

static void
template_add_text(struct parser *p, const char *text, size_t length)
{
	struct node *n;

	if (length == 0)
		return;
	n = template_add_node(p->t, NODE_TEXT);
	n->text = text;
	n->length = length;
	n->marked = p->notrack;
	p->notrack = 0;
}

/* Splits a dotted name; "." stays a single empty-part name. */
static void
node_set_name(struct node *n, const char *name, size_t length)
{
	size_t start = 0;

	if (length == 1 && name[0] == '.')
		return;
	for (size_t i = 0; i <= length; i++) {
		if (i < length && name[i] != '.')
			continue;
		n->parts = xrealloc(n->parts, (n->part_count + 1) *
		    sizeof(*n->parts));
		n->parts[n->part_count++] = xstrndup(name + start, i - start);
		start = i + 1;
	}
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trims spaces around [*start, *end). */
static void
trim(const char *s, size_t *start, size_t *end)
{
	while (*start < *end && is_blank(s[*start]))
		(*start)++;
	while (*end > *start && is_blank(s[*end - 1]))
		(*end)--;
}

/* 1 when [s, s+length) is the comment "notrack", spaces around it
 * allowed. */
static int
is_notrack_comment(const char *s, size_t length)
{
	size_t start = 0, end = length;

	trim(s, &start, &end);
	return end - start == 7 && memcmp(s + start, "notrack", 7) == 0;
}

static struct template *template_compile_with(const char *name,
    const char *source, size_t length, struct partial_table *partials,
    struct buf *err);

static struct template *
partial_get(struct parser *p, const char *name, const char *indent,
    size_t indent_length, size_t at)
{
	struct partial_table *table = p->t->partials;
	size_t name_length = strlen(name);
	size_t key_length = name_length + 1 + indent_length;
	struct partial_entry *e;
	struct template *slot, *compiled;
	const char *source;
	struct buf indented = BUF_INIT;

	for (unsigned i = 0; i < table->count; i++) {
		e = &table->entries[i];
		if (e->key_length == key_length &&
		    memcmp(e->key, name, name_length + 1) == 0 &&
		    memcmp(e->key + name_length + 1, indent, indent_length) == 0)
			return e->template;
	}
	source = table->lookup ? table->lookup(table->arg, name) : NULL;
	if (source == NULL) {
		if (table->strict && buf_str(p->err)[0] == '\0')
			parser_error(p, at, "unknown partial \"%s\": expected "
			    "a file %s.mustache", name, name);
		return NULL;
	}
	table->entries = xrealloc(table->entries, (table->count + 1) *
	    sizeof(*table->entries));
	e = &table->entries[table->count++];
	e->key = xmalloc(key_length);
	memcpy(e->key, name, name_length + 1);
	memcpy(e->key + name_length + 1, indent, indent_length);
	e->key_length = key_length;
	/* Standalone partials indent every line of their source. */
	for (const char *s = source; *s; ) {
		const char *nl = strchr(s, '\n');
		size_t line = nl ? (size_t)(nl - s) + 1 : strlen(s);

		buf_append(&indented, indent, indent_length);
		buf_append(&indented, s, line);
		s += line;
	}
	/*
	 * The slot is entered before the body is compiled so a recursive
	 * partial finds itself; compiling may grow the table, so only the
	 * slot pointer (not e) is used afterwards.
	 */
	slot = e->template = xcalloc(1, sizeof(struct template));
	compiled = template_compile_with(name, buf_str(&indented),
	    indented.len, table, p->err);
	buf_free(&indented);
	if (compiled == NULL)
		return NULL;
	*slot = *compiled;
	free(compiled);
	slot->indent = indent_length;
	slot->is_partial = 1;
	return slot;
}

/* Handles "{{=<% %>=}}": new delimiters from the tag's content. */
static int
parser_set_delimiters(struct parser *p, const char *s, size_t length,
    size_t at)
{
	size_t start = 0, end = length, split;

	trim(s, &start, &end);
	for (split = start; split < end && !is_blank(s[split]); split++)
		;
	if (split == start || split == end ||
	    split - start > TEMPLATE_MAX_DELIMITER) {
		parser_error(p, at, "%s", "expected two delimiters separated "
		    "by a space, as in {{=<% %>=}}");
		return -1;
	}
	memcpy(p->open, s + start, split - start);
	p->open[split - start] = '\0';
	while (split < end && is_blank(s[split]))
		split++;
	if (end - split > TEMPLATE_MAX_DELIMITER || memchr(s + split, ' ',
	    end - split)) {
		parser_error(p, at, "%s", "expected two delimiters separated "
		    "by a space, as in {{=<% %>=}}");
		return -1;
	}
	memcpy(p->close, s + split, end - split);
	p->close[end - split] = '\0';
	return 0;
}

/* Whether the tag [tag_start, tag_end) is alone on its line. */
static int
parser_standalone(const struct parser *p, size_t tag_start, size_t tag_end,
    size_t *after)
{
	size_t i;

	for (i = p->line_start; i < tag_start; i++)
		if (!is_blank(p->src[i]))
			return 0;
	for (i = tag_end; i < p->length && is_blank(p->src[i]); i++)
		;
	if (i < p->length && p->src[i] == '\r' && i + 1 < p->length &&
	    p->src[i + 1] == '\n')
		i++;
	if (i < p->length && p->src[i] != '\n')
		return 0;
	*after = i < p->length ? i + 1 : i;
	return 1;
}

static int
parser_tag(struct parser *p, size_t tag_start)
{
	size_t open_length = strlen(p->open);
	size_t content = tag_start + open_length, content_end, tag_end, after;
	size_t search;
	const char *found, *close = p->close;
	char kind = p->src[content], triple_close[TEMPLATE_MAX_DELIMITER + 2];
	size_t name_start, name_end, indent_length = 0;
	const char *indent = "";
	struct node *n;

	if (kind == '{') {
		snprintf(triple_close, sizeof(triple_close), "}%s", p->close);
		close = triple_close;
	} else if (kind == '=') {
		snprintf(triple_close, sizeof(triple_close), "=%s", p->close);
		close = triple_close;
	}
	/* "{{{" and "{{=" tags close with "}}}" and "=}}" after the opening
	 * character, never overlapping it ("{{=}}" is not a closed tag). */
	search = content + (kind == '{' || kind == '=' ? 1 : 0);
	found = search <= p->length ? memmem(p->src + search, p->length -
	    search, close, strlen(close)) : NULL;
	if (found == NULL) {
		parser_error(p, tag_start, "unclosed tag: expected \"%s\"",
		    close);
		return -1;
	}
	content_end = (size_t)(found - p->src);
	tag_end = content_end + strlen(close);
	name_start = content + (strchr("#^/!>&{=", kind) && kind ? 1 : 0);
	name_end = content_end;
	trim(p->src, &name_start, &name_end);
	if (strchr("#^/!>=", kind) && kind &&
	    parser_standalone(p, tag_start, tag_end, &after)) {
		/* The line is the tag alone: drop its spaces and newline;
		 * a partial indents its lines by those spaces instead. */
		indent = p->src + p->line_start;
		indent_length = tag_start - p->line_start;
		template_add_text(p, p->src + p->pos, p->line_start - p->pos);
		p->pos = after;
		p->line_start = after;
	} else {
		template_add_text(p, p->src + p->pos, tag_start - p->pos);
		p->pos = tag_end;
	}
	if (kind != '!' && kind != '=' && name_end == name_start) {
		parser_error(p, tag_start, "%s", "empty tag: expected a name");
		return -1;
	}
	switch (kind) {
	case '!':
		if (is_notrack_comment(p->src + name_start, name_end -
		    name_start))
			p->notrack = 1;
		return 0;
	case '=':
		return parser_set_delimiters(p, p->src + content + 1,
		    content_end - content - 1, tag_start);
	case '>': {
		char *name = xstrndup(p->src + name_start,
		    name_end - name_start);

		n = template_add_node(p->t, NODE_PARTIAL);
		n->offset = tag_start;
		n->partial = partial_get(p, name, indent, indent_length,
		    tag_start);
		free(name);
		return buf_str(p->err)[0] ? -1 : 0;
	}
	case '#':
	case '^':
		if (p->depth == TEMPLATE_MAX_DEPTH) {
			parser_error(p, tag_start, "%s", "sections nested too "
			    "deeply");
			return -1;
		}
		n = template_add_node(p->t, kind == '#' ? NODE_SECTION :
		    NODE_INVERTED);
		node_set_name(n, p->src + name_start, name_end - name_start);
		/* The open tag's position, for "never closed" errors. */
		n->length = tag_start;
		n->offset = tag_start;
		p->stack[p->depth++] = p->t->count - 1;
		return 0;
	case '/': {
		struct node *open;
		struct buf want = BUF_INIT, got = BUF_INIT;
		int same;

		if (p->depth == 0) {
			char *name = xstrndup(p->src + name_start,
			    name_end - name_start);

			parser_error(p, tag_start, "closing tag \"%s\" has no "
			    "open section", name);
			free(name);
			return -1;
		}
		open = &p->t->nodes[p->stack[p->depth - 1]];
		for (unsigned i = 0; i < open->part_count; i++)
			buf_printf(&want, "%s%s", i ? "." : "", open->parts[i]);
		if (open->part_count == 0)
			buf_append_str(&want, ".");
		buf_append(&got, p->src + name_start, name_end - name_start);
		same = strcmp(buf_str(&want), buf_str(&got)) == 0;
		if (!same) {
			parser_error(p, tag_start, "mismatched closing tag: "
			    "expected {{/%s}}", buf_str(&want));
			buf_printf(p->err, ", found {{/%s}}", buf_str(&got));
		}
		buf_free(&want);
		buf_free(&got);
		if (!same)
			return -1;
		p->depth--;
		open->end = p->t->count;
		return 0;
	}
	default:
		n = template_add_node(p->t, kind == '{' || kind == '&' ?
		    NODE_RAW : NODE_VARIABLE);
		n->offset = tag_start;
		node_set_name(n, p->src + name_start, name_end - name_start);
		return 0;
	}
}

static int
parser_run(struct parser *p)
{
	while (p->pos < p->length) {
		const char *found = memmem(p->src + p->pos,
		    p->length - p->pos, p->open, strlen(p->open));
		size_t tag_start = found ? (size_t)(found - p->src) : p->length;

		/* Track line starts in the text before the tag. */
		for (size_t i = p->pos; i < tag_start; i++)
			if (p->src[i] == '\n')
				p->line_start = i + 1;
		if (found == NULL) {
			template_add_text(p, p->src + p->pos,
			    p->length - p->pos);
			p->pos = p->length;
			break;
		}
		if (parser_tag(p, tag_start) != 0)
			return -1;
	}
	if (p->depth) {
		struct node *open = &p->t->nodes[p->stack[p->depth - 1]];
		struct buf name = BUF_INIT;

		for (unsigned i = 0; i < open->part_count; i++)
			buf_printf(&name, "%s%s", i ? "." : "", open->parts[i]);
		parser_error(p, open->length, "section \"%s\" is never closed: "
		    "expected a closing tag", buf_str(&name));
		buf_printf(p->err, " {{/%s}}", buf_str(&name));
		buf_free(&name);
		return -1;
	}
	return 0;
}

static void
template_free_nodes(struct template *t)
{
	for (unsigned i = 0; i < t->count; i++) {
		free(t->nodes[i].links);
		for (unsigned j = 0; j < t->nodes[i].part_count; j++)
			free(t->nodes[i].parts[j]);
		free(t->nodes[i].parts);
	}
	free(t->nodes);
	free(t->source);
	free(t->name);
}

static struct template *
template_compile_with(const char *name, const char *source, size_t length,
    struct partial_table *partials, struct buf *err)
{
	struct template *t = xcalloc(1, sizeof(*t));
	struct parser p;

	t->source = xstrndup(source, length);
	t->name = xstrdup(name);
	t->partials = partials;
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.src = t->source;
	p.length = length;
	p.t = t;
	p.err = err;
	strcpy(p.open, "{{");
	strcpy(p.close, "}}");
	if (parser_run(&p) != 0) {
		template_free_nodes(t);
		free(t);
		return NULL;
	}
	/* Text nodes of sections with no closing recorded end here. */
	return t;
}

static struct template *
template_compile_table(const char *name, const char *source,
    template_partial_fn *partial, void *arg, int strict, struct buf *err)
{
	struct partial_table *table = xcalloc(1, sizeof(*table));
	struct template *t;

	table->lookup = partial;
	table->arg = arg;
	table->strict = strict;
	t = template_compile_with(name, source, strlen(source), table, err);
	if (t == NULL) {
		struct template shell = { .partials = table };

		template_free(&shell);
		return NULL;
	}
	return t;
}

struct template *
template_compile(const char *name, const char *source,
    template_partial_fn *partial, void *arg, struct buf *err)
{
	return template_compile_table(name, source, partial, arg, 0, err);
}

struct template *
template_compile_strict(const char *name, const char *source,
    template_partial_fn *partial, void *arg, struct buf *err)
{
	return template_compile_table(name, source, partial, arg, 1, err);
}

void
template_free(struct template *t)
{
	struct partial_table *table;

	if (t == NULL)
		return;
	table = t->partials;
	for (unsigned i = 0; table && i < table->count; i++) {
		template_free_nodes(table->entries[i].template);
		free(table->entries[i].template);
		free(table->entries[i].key);
	}
	if (table) {
		free(table->entries);
		free(table);
	}
	if (t->nodes || t->source) {
		template_free_nodes(t);
		free(t);
	}
}

/* --- links --------------------------------------------------------------- */

/* The links of one compiled template's texts (its partials apart). */
static void
find_links_in(struct template *t, template_link_fn *fn, void *arg)
{
	for (unsigned i = 0; i < t->count; i++) {
		struct node *n = &t->nodes[i];
		struct template_link link;
		size_t from = 0;
		int marked = n->marked;
		int followed = i + 1 < t->count;

		if (n->type != NODE_TEXT)
			continue;
		while (fn(arg, t->source, (size_t)(n->text - t->source),
		    n->length, &from, &marked, followed, &link)) {
			n->links = xrealloc(n->links, (n->link_count + 1) *
			    sizeof(*n->links));
			n->links[n->link_count++] = link;
		}
	}
}

void
template_find_links(struct template *t, template_link_fn *fn, void *arg)
{
	struct partial_table *table = t->partials;

	find_links_in(t, fn, arg);
	for (unsigned i = 0; table && i < table->count; i++)
		if (table->entries[i].template)
			find_links_in(table->entries[i].template, fn, arg);
}

/* --- the names a template uses ------------------------------------------ */

struct name_walk {
	template_name_fn *fn;
	void *arg;
	const struct template **visited;	/* partials walked */
	unsigned visited_count;
	char **sections;			/* enclosing, outermost first */
	unsigned depth;
};

/* Where the walk is in one template's source: tags come in order. */
struct name_cursor {
	size_t offset;
	unsigned line, column;
};

static char *
node_dotted_name(const struct node *n)
{
	struct buf name = BUF_INIT;

	if (n->part_count == 0)
		return xstrdup(".");
	for (unsigned i = 0; i < n->part_count; i++)
		buf_printf(&name, "%s%s", i ? "." : "", n->parts[i]);
	return buf_steal(&name);
}

static void
name_report(struct name_walk *w, const struct template *t,
    struct name_cursor *c, const struct node *n, int is_section)
{
	struct template_name use;
	char *name = node_dotted_name(n);

	for (; c->offset < n->offset; c->offset++) {
		if (t->source[c->offset] == '\n') {
			c->line++;
			c->column = 1;
		} else {
			c->column++;
		}
	}
	use.template = t->name;
	use.is_partial = t->is_partial;
	use.line = c->line;
	/* A partial's lines carry the indentation of its tag: not the
	 * author's columns. */
	use.column = c->column > t->indent ? c->column - (unsigned)t->indent :
	    c->column;
	use.name = name;
	use.is_section = is_section;
	use.sections = (const char *const *)w->sections;
	use.section_count = w->depth;
	w->fn(w->arg, &use);
	free(name);
}

static void name_walk_template(struct name_walk *w, const struct template *t);

static void
name_walk_nodes(struct name_walk *w, const struct template *t,
    struct name_cursor *c, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++) {
		const struct node *n = &t->nodes[i];

		switch (n->type) {
		case NODE_TEXT:
			break;
		case NODE_VARIABLE:
		case NODE_RAW:
			name_report(w, t, c, n, 0);
			break;
		case NODE_SECTION:
			name_report(w, t, c, n, 1);
			/* Only a section pushes a context for its body. */
			w->sections = xrealloc(w->sections, (w->depth + 1) *
			    sizeof(*w->sections));
			w->sections[w->depth++] = node_dotted_name(n);
			name_walk_nodes(w, t, c, i + 1, n->end);
			free(w->sections[--w->depth]);
			i = n->end - 1;
			break;
		case NODE_INVERTED:
			name_report(w, t, c, n, 1);
			name_walk_nodes(w, t, c, i + 1, n->end);
			i = n->end - 1;
			break;
		case NODE_PARTIAL:
			if (n->partial)
				name_walk_template(w, n->partial);
			break;
		}
	}
}

/* Walks t once (a partial used twice, or recursively, is walked at its
 * first use). */
static void
name_walk_template(struct name_walk *w, const struct template *t)
{
	struct name_cursor c = { 0, 1, 1 };

	for (unsigned i = 0; i < w->visited_count; i++)
		if (w->visited[i] == t)
			return;
	w->visited = xrealloc(w->visited, (w->visited_count + 1) *
	    sizeof(*w->visited));
	w->visited[w->visited_count++] = t;
	name_walk_nodes(w, t, &c, 0, t->count);
}

void
template_names(const struct template *t, template_name_fn *fn, void *arg)
{
	struct name_walk w = { .fn = fn, .arg = arg };

	name_walk_template(&w, t);
	free(w.visited);
	free(w.sections);
}

/* --- rendering ----------------------------------------------------------- */

struct render {
	const struct tvalue *stack[TEMPLATE_MAX_DEPTH];
	unsigned depth;
	unsigned long budget;	/* node visits left */
	size_t output_limit;
	enum template_escape escape;
	struct buf *out;
	const struct tvalue *links;	/* link slots' values, or NULL */
	size_t link_count;
};

static const struct tvalue *
map_get(const struct tvalue *map, const char *key)
{
	if (map == NULL || map->type != TV_MAP)
		return NULL;
	for (size_t i = 0; i < map->count; i++)
		if (strcmp(map->keys[i], key) == 0)
			return &map->items[i];
	return NULL;
}

static const struct tvalue *
render_lookup(struct render *r, const struct node *n)
{
	const struct tvalue *v = NULL;

	if (n->part_count == 0)
		return r->depth ? r->stack[r->depth - 1] : NULL;
	for (unsigned d = r->depth; d-- > 0; ) {
		/* Each context searched counts against the budget. */
		if (r->budget)
			r->budget--;
		v = map_get(r->stack[d], n->parts[0]);
		if (v)
			break;
	}
	for (unsigned i = 1; v && i < n->part_count; i++)
		v = map_get(v, n->parts[i]);
	return v;
}

static int
value_truthy(const struct tvalue *v)
{
	if (v == NULL)
		return 0;
	switch (v->type) {
	case TV_NULL:
		return 0;
	case TV_BOOL:
		return v->boolean;
	case TV_STRING:
		return v->length > 0;
	case TV_LIST:
		return v->count > 0;
	case TV_MAP:
		return 1;
	}
	return 0;
}

static void
render_escaped(struct render *r, const char *s, size_t length, int raw)
{
	size_t run = 0;

	if (r->escape == ESCAPE_TEXT || (raw && r->escape == ESCAPE_HTML)) {
		buf_append(r->out, s, length);
		return;
	}
	for (size_t i = 0; i < length; i++) {
		const char *entity = NULL;
		char c = s[i];

		if (r->escape == ESCAPE_HEADER) {
			if (c == '\r' || c == '\n' || c == '\0')
				entity = " ";
		} else if (c == '&') {
			entity = "&amp;";
		} else if (c == '<') {
			entity = "&lt;";
		} else if (c == '>') {
			entity = "&gt;";
		} else if (c == '"') {
			entity = "&quot;";
		} else if (c == '\'') {
			entity = "&#39;";
		}
		if (entity == NULL)
			continue;
		buf_append(r->out, s + run, i - run);
		buf_append_str(r->out, entity);
		run = i + 1;
	}
	buf_append(r->out, s + run, length - run);
}

static void render_nodes(struct render *r, const struct template *t,
    unsigned from, unsigned to);

/* A text with link slots: each slot's value (escaped as a variable's)
 * in place of the link as written; a slot with no value keeps it. */
static void
render_text_links(struct render *r, const struct node *n)
{
	size_t pos = 0;

	for (unsigned i = 0; i < n->link_count; i++) {
		const struct template_link *l = &n->links[i];
		const struct tvalue *v = l->slot < r->link_count ?
		    &r->links[l->slot] : NULL;

		buf_append(r->out, n->text + pos, l->offset - pos);
		if (v && v->type == TV_STRING)
			render_escaped(r, v->string, v->length, 0);
		else
			buf_append(r->out, n->text + l->offset, l->length);
		pos = l->offset + l->length;
	}
	buf_append(r->out, n->text + pos, n->length - pos);
}

static void
render_push(struct render *r, const struct tvalue *v, const struct template *t,
    unsigned from, unsigned to)
{
	/* Deeper than the limit renders nothing rather than overflowing. */
	if (r->depth == TEMPLATE_MAX_DEPTH)
		return;
	r->stack[r->depth++] = v;
	render_nodes(r, t, from, to);
	r->depth--;
}

static void
render_nodes(struct render *r, const struct template *t, unsigned from,
    unsigned to)
{
	for (unsigned i = from; i < to; i++) {
		const struct node *n = &t->nodes[i];
		const struct tvalue *v;

		/* Nested sections over lists multiply: a bound on the work
		 * (and the output) keeps any template finite. */
		if (r->budget == 0 || r->out->len > r->output_limit) {
			r->budget = 0;
			return;
		}
		r->budget--;

		switch (n->type) {
		case NODE_TEXT:
			if (n->link_count && r->links)
				render_text_links(r, n);
			else
				buf_append(r->out, n->text, n->length);
			break;
		case NODE_VARIABLE:
		case NODE_RAW:
			v = render_lookup(r, n);
			if (v && v->type == TV_STRING)
				render_escaped(r, v->string, v->length,
				    n->type == NODE_RAW);
			else if (v && v->type == TV_BOOL)
				buf_append_str(r->out, v->boolean ? "true" :
				    "false");
			break;
		case NODE_SECTION:
			v = render_lookup(r, n);
			if (value_truthy(v)) {
				if (v->type == TV_LIST)
					for (size_t k = 0; k < v->count; k++)
						render_push(r, &v->items[k], t,
						    i + 1, n->end);
				else
					render_push(r, v, t, i + 1, n->end);
			}
			i = n->end - 1;
			break;
		case NODE_INVERTED:
			v = render_lookup(r, n);
			if (!value_truthy(v))
				render_nodes(r, t, i + 1, n->end);
			i = n->end - 1;
			break;
		case NODE_PARTIAL:
			if (n->partial && r->depth < TEMPLATE_MAX_DEPTH) {
				/* Count partial nesting against the limit
				 * too: a recursive partial must end. */
				r->stack[r->depth] = r->depth ?
				    r->stack[r->depth - 1] : NULL;
				r->depth++;
				render_nodes(r, n->partial, 0,
				    n->partial->count);
				r->depth--;
			}
			break;
		}
	}
}

int
template_render(const struct template *t, const struct tvalue *data,
    enum template_escape escape, struct buf *out)
{
	return template_render_links(t, data, escape, NULL, 0, out);
}

int
template_render_links(const struct template *t, const struct tvalue *data,
    enum template_escape escape, const struct tvalue *links,
    size_t link_count, struct buf *out)
{
	struct render r;

	r.links = links;
	r.link_count = link_count;
	r.depth = 0;
	r.escape = escape;
	r.out = out;
	r.budget = TEMPLATE_RENDER_STEPS;
	r.output_limit = out->len + TEMPLATE_RENDER_OUTPUT;
	r.stack[r.depth++] = data;
	render_nodes(&r, t, 0, t->count);
	return r.budget ? 0 : -1;
}
