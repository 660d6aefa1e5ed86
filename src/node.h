/*
 * node.h - this heraldd's name among the nodes sharing one database.
 *
 * Batch leases (batch.h), the monitor's metrics (monitor.h) and the
 * nodes table all name a node the same way: node_name, or the host name
 * when it is empty.
 */
#ifndef HERALD_NODE_H
#define HERALD_NODE_H

#include <stddef.h>

#include "config.h"

/* Writes this node's name into out (size bytes, NUL-terminated). */
void node_name(const struct herald_config *cfg, char *out, size_t size);

#endif
