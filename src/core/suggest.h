/*
 * suggest.h - the known name a misspelt one was meant to be.
 *
 * suggest_closest() measures how many edits turn a word into each
 * candidate (inserting, deleting or replacing a character, or swapping
 * two neighbours, so "frist_name" is one edit from "first_name"; case
 * is ignored) and returns the candidate that is clearly meant: within
 * one edit for words of up to four characters, two for longer ones,
 * and closer than every other candidate. NULL when none is.
 */
#ifndef HERALD_SUGGEST_H
#define HERALD_SUGGEST_H

#include <stddef.h>

/*
 * The edits from a to b as above (the optimal string alignment
 * distance, case ignored), counted up to limit + 1: a distance beyond
 * limit is returned as limit + 1, so a caller comparing against a bound
 * pays only for that bound.
 */
size_t suggest_edit_distance(const char *a, const char *b, size_t limit);

const char *suggest_closest(const char *word, const char *const *candidates,
    size_t count);

#endif
