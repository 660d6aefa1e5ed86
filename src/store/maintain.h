/*
 * maintain.h - "herald maintain": compaction of finished mailings' stage
 * tables into monthly archives, packing of closed months, release of
 * expired batch leases (see maintain.c for the steps and their safety).
 */
#ifndef HERALD_MAINTAIN_H
#define HERALD_MAINTAIN_H

#include <mysql.h>

#include "buf.h"
#include "config.h"

struct maintain_report {
	unsigned compacted;		/* mailings moved to archives */
	unsigned packed;		/* archives packed */
	unsigned leases_released;
	unsigned union_tables;		/* tables in history's UNION after */
	int busy;			/* another run holds the lock */
};

int maintain_run(const struct herald_config *cfg, MYSQL *db,
    struct maintain_report *report, struct buf *err);

#endif
