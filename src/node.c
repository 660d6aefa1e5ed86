/*
 * node.c - this heraldd's name among the nodes (see node.h).
 */
#include "node.h"

#include <stdio.h>
#include <unistd.h>

void
node_name(const struct herald_config *cfg, char *out, size_t size)
{
	if (cfg->node_name[0])
		snprintf(out, size, "%s", cfg->node_name);
	else if (gethostname(out, size) != 0)
		snprintf(out, size, "localhost");
	out[size - 1] = '\0';
}
