/*
 * fuzz_template.c - fuzz target for the Mustache compiler and renderer.
 *
 * The input is a template source, then optionally a NUL byte and the
 * data: "key=value" lines (a value "[a|b|c]" is a list of maps with a
 * key "x", "{}" a map with the same keys, "!" true, "" false). Partials
 * named p, q and r exist (q includes r, r includes p, p includes q, so
 * recursion is reachable). Every escaping mode renders the compiled
 * template; a compile error must come with a FILE:LINE:COLUMN message.
 *
 * Built with libFuzzer by "make fuzz-template" (clang), and replayed
 * over tests/fuzz/corpus/template by the test command (replay.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

#define FUZZ_KEYS 16

static const char *
partial(void *arg, const char *name)
{
	(void)arg;
	if (strcmp(name, "p") == 0)
		return "[{{a}}{{> q}}]\n";
	if (strcmp(name, "q") == 0)
		return "  {{#a}}{{> r}}{{/a}}\n";
	if (strcmp(name, "r") == 0)
		return "{{^b}}{{> p}}{{/b}}";
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *source, *values, *line;
	const char *keys[FUZZ_KEYS];
	struct tvalue items[FUZZ_KEYS], list_items[3], inner[FUZZ_KEYS];
	static const char *const inner_keys[] = { "x" };
	struct tvalue root = { .type = TV_MAP };
	unsigned count = 0;
	struct buf err = BUF_INIT, out = BUF_INIT;
	struct template *t;

	memcpy(text, data, size);
	text[size] = '\0';
	source = text;
	values = strlen(text) < size ? text + strlen(text) + 1 : NULL;
	memset(items, 0, sizeof(items));
	memset(list_items, 0, sizeof(list_items));
	for (unsigned i = 0; i < 3; i++) {
		list_items[i].type = TV_MAP;
		list_items[i].count = 1;
		list_items[i].keys = inner_keys;
		list_items[i].items = &inner[i];
		inner[i].type = TV_STRING;
		inner[i].string = i == 0 ? "a" : i == 1 ? "<b>" : "";
		inner[i].length = strlen(inner[i].string);
	}
	while (values && (line = strsep(&values, "\n")) && count < FUZZ_KEYS) {
		char *eq = strchr(line, '=');
		struct tvalue *v = &items[count];

		if (eq == NULL)
			continue;
		*eq = '\0';
		keys[count++] = line;
		if (eq[1] == '[') {
			v->type = TV_LIST;
			v->count = strlen(eq + 1) % 4;
			v->items = list_items;
		} else if (strcmp(eq + 1, "{}") == 0) {
			v->type = TV_MAP;
			v->count = count - 1;
			v->keys = keys;
			v->items = items;	/* a map that contains itself */
		} else if (strcmp(eq + 1, "!") == 0 || eq[1] == '\0') {
			v->type = TV_BOOL;
			v->boolean = eq[1] == '!';
		} else {
			v->type = TV_STRING;
			v->string = eq + 1;
			v->length = strlen(eq + 1);
		}
	}
	root.count = count;
	root.keys = keys;
	root.items = items;
	t = template_compile("fuzz", source, partial, NULL, &err);
	if (t == NULL) {
		if (strncmp(buf_str(&err), "fuzz:", 5) != 0 &&
		    strncmp(buf_str(&err), "p:", 2) != 0 &&
		    strncmp(buf_str(&err), "q:", 2) != 0 &&
		    strncmp(buf_str(&err), "r:", 2) != 0)
			abort();	/* an error must say where */
	} else {
		template_render(t, &root, ESCAPE_HTML, &out);
		buf_reset(&out);
		template_render(t, &root, ESCAPE_TEXT, &out);
		buf_reset(&out);
		template_render(t, &root, ESCAPE_HEADER, &out);
		/* Header rendering never lets a line break through. */
		if (memchr(buf_str(&out), '\r', out.len) != NULL &&
		    memchr(source, '\r', strlen(source)) == NULL)
			abort();
		template_free(t);
	}
	buf_free(&err);
	buf_free(&out);
	free(text);
	return 0;
}
