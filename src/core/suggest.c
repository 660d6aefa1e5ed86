/*
 * suggest.c - closest known name by edit distance (see suggest.h): the
 * optimal string alignment distance, three rows of the usual table.
 */
#include "suggest.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static size_t
min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

static int
same(char a, char b)
{
	return tolower((unsigned char)a) == tolower((unsigned char)b);
}

size_t
suggest_edit_distance(const char *a, const char *b, size_t limit)
{
	size_t m = strlen(a), n = strlen(b), result;
	size_t *before, *previous, *row, *spare;

	if ((m > n ? m - n : n - m) > limit)
		return limit + 1;
	before = xcalloc(n + 1, sizeof(*before));
	previous = xcalloc(n + 1, sizeof(*previous));
	row = xcalloc(n + 1, sizeof(*row));
	for (size_t j = 0; j <= n; j++)
		previous[j] = j;
	for (size_t i = 1; i <= m; i++) {
		row[0] = i;
		for (size_t j = 1; j <= n; j++) {
			size_t cost = same(a[i - 1], b[j - 1]) ? 0 : 1;

			row[j] = min3(previous[j] + 1, row[j - 1] + 1,
			    previous[j - 1] + cost);
			if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) &&
			    same(a[i - 2], b[j - 1]) && before[j - 2] + 1 <
			    row[j])
				row[j] = before[j - 2] + 1;
		}
		spare = before;
		before = previous;
		previous = row;
		row = spare;
	}
	result = previous[n];
	free(before);
	free(previous);
	free(row);
	return result > limit ? limit + 1 : result;
}

const char *
suggest_closest(const char *word, const char *const *candidates,
    size_t count)
{
	size_t limit = strlen(word) <= 4 ? 1 : 2, best = limit + 1;
	const char *choice = NULL;
	int tied = 0;

	for (size_t i = 0; i < count; i++) {
		size_t d = suggest_edit_distance(word, candidates[i], limit);

		if (d < best) {
			best = d;
			choice = candidates[i];
			tied = 0;
		} else if (d == best && d <= limit &&
		    strcmp(choice, candidates[i]) != 0) {
			tied = 1;
		}
	}
	return tied ? NULL : choice;
}
