/*
 * namehash.h - FNV-1a hashing of names (domains, queue ids, statement
 * texts) for small tables: the route index of relaypool.c, the
 * destination table of reputation.c, the kept statements of stmtcache.c.
 */
#ifndef HERALD_NAMEHASH_H
#define HERALD_NAMEHASH_H

#include <stdint.h>

/* FNV-1a over text, ASCII-lower-cased when fold (domains compare without
 * case); never 0, so 0 can mark an empty slot. */
static inline uint64_t
namehash(const char *text, int fold)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *text; text++) {
		unsigned char c = (unsigned char)*text;

		if (fold && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 1099511628211ULL;
	}
	return h ? h : 1;
}

#endif
