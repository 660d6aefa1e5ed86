/*
 * scoreboard.c - workers' shared-memory slots (see scoreboard.h).
 */
#include "scoreboard.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t
scoreboard_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
scoreboard_path(const char *state_directory)
{
	struct buf path = BUF_INIT;

	buf_printf(&path, "%s/heraldd.scoreboard", state_directory);
	return buf_steal(&path);
}

static size_t
scoreboard_size(unsigned slot_count)
{
	return sizeof(struct scoreboard) +
	    (size_t)slot_count * sizeof(struct worker_slot);
}

struct scoreboard *
scoreboard_create(const char *path, unsigned slot_count, struct buf *err)
{
	size_t size = scoreboard_size(slot_count);
	struct scoreboard *board;
	char *fresh;
	int fd;

	/* Build it beside, then rename: a reader never maps a half-made
	 * board. */
	fresh = xmalloc(strlen(path) + 5);
	sprintf(fresh, "%s.new", path);
	unlink(fresh);
	fd = open(fresh, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		buf_printf(err, "cannot create %s: %s", fresh, strerror(errno));
		free(fresh);
		return NULL;
	}
	if (ftruncate(fd, (off_t)size) != 0) {
		buf_printf(err, "cannot size %s: %s", fresh, strerror(errno));
		goto fail;
	}
	board = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (board == MAP_FAILED) {
		buf_printf(err, "cannot map %s: %s", fresh, strerror(errno));
		goto fail;
	}
	board->slot_count = slot_count;
	atomic_store(&board->master_pid, (int32_t)getpid());
	atomic_store(&board->master_started_ms, scoreboard_now_ms());
	board->magic = SCOREBOARD_MAGIC;
	if (rename(fresh, path) != 0) {
		buf_printf(err, "cannot rename %s to %s: %s", fresh, path,
		    strerror(errno));
		munmap(board, size);
		goto fail;
	}
	close(fd);
	free(fresh);
	return board;
fail:
	close(fd);
	unlink(fresh);
	free(fresh);
	return NULL;
}

const struct scoreboard *
scoreboard_open_readonly(const char *path, struct buf *err)
{
	struct scoreboard *board = NULL;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		buf_printf(err, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(*board)) {
		buf_printf(err, "%s is not a heraldd scoreboard", path);
		goto out;
	}
	board = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (board == MAP_FAILED) {
		buf_printf(err, "cannot map %s: %s", path, strerror(errno));
		board = NULL;
		goto out;
	}
	if (board->magic != SCOREBOARD_MAGIC ||
	    scoreboard_size(board->slot_count) > (size_t)st.st_size) {
		buf_printf(err, "%s is not a heraldd scoreboard", path);
		munmap(board, (size_t)st.st_size);
		board = NULL;
	}
out:
	close(fd);
	return board;
}

void
scoreboard_unmap(const struct scoreboard *board)
{
	if (board)
		munmap((void *)board, scoreboard_size(board->slot_count));
}

void
scoreboard_heartbeat(struct worker_slot *slot, enum worker_state state)
{
	atomic_store(&slot->state, (int32_t)state);
	atomic_store(&slot->heartbeat_ms, scoreboard_now_ms());
}

void
scoreboard_begin_batch(struct worker_slot *slot, uint64_t batch_id,
    uint64_t mailing_id)
{
	atomic_store(&slot->batch_id, batch_id);
	atomic_store(&slot->mailing_id, mailing_id);
	atomic_store(&slot->batch_started_ms, scoreboard_now_ms());
	scoreboard_heartbeat(slot, WORKER_SENDING);
}

void
scoreboard_end_batch(struct worker_slot *slot)
{
	atomic_store(&slot->batch_started_ms, 0);
	atomic_store(&slot->batch_id, 0);
	atomic_store(&slot->mailing_id, 0);
}

const char *
worker_state_name(enum worker_state state)
{
	switch (state) {
	case WORKER_EMPTY:
		return "empty";
	case WORKER_STARTING:
		return "starting";
	case WORKER_IDLE:
		return "idle";
	case WORKER_SENDING:
		return "sending";
	case WORKER_STOPPING:
		return "stopping";
	case WORKER_WAITING:
		return "waiting";
	case WORKER_MONITOR:
		return "monitor";
	}
	return "unknown";
}

struct relay_counters *
scoreboard_relay(struct scoreboard *board, const char *name)
{
	for (unsigned i = 0; i < SCOREBOARD_RELAYS; i++) {
		struct relay_counters *r = &board->relays[i];
		uint32_t state = atomic_load(&r->state);

		if (state == 0) {
			uint32_t expected = 0;

			if (atomic_compare_exchange_strong(&r->state,
			    &expected, 1)) {
				snprintf(r->name, sizeof(r->name), "%s", name);
				atomic_store(&r->state, 2);
				return r;
			}
			state = expected;
		}
		/* Another worker is naming it: a few instructions away,
		 * unless it was killed right there; then skip the entry. */
		for (unsigned spin = 0; state == 1 && spin < 1000000; spin++)
			state = atomic_load(&r->state);
		if (state == 2 && strncmp(r->name, name, sizeof(r->name) - 1) == 0)
			return r;
	}
	return NULL;
}
