/*
 * tmplset.c - compiling a template directory (see tmplset.h).
 */
#include "tmplset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "message.h"

#define TEMPLATE_FILE_MAX (4 << 20)	/* a template is not 4 MB */

struct tmplset_file {
	char *path;
	int exists;
	dev_t device;
	ino_t inode;
	off_t size;
	struct timespec mtime;
};

/* The sources read so far, for partial lookups while compiling. */
struct loader {
	struct tmplset *set;
	struct buf *err;
	char **sources;
	unsigned count;
};

static void
remember_file(struct tmplset *set, const char *path, const struct stat *st)
{
	struct tmplset_file *f;

	set->files = xrealloc(set->files, (set->file_count + 1) *
	    sizeof(*set->files));
	f = &set->files[set->file_count++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	if (st) {
		f->exists = 1;
		f->device = st->st_dev;
		f->inode = st->st_ino;
		f->size = st->st_size;
		f->mtime = st->st_mtim;
	}
}

/*
 * Reads directory/name. Returns the text (owned by the loader), NULL
 * when the file does not exist (remembered, so its creation counts as
 * a change) or, with err set, when it cannot be read.
 */
static const char *
load_file(struct loader *l, const char *name)
{
	struct buf path = BUF_INIT, text = BUF_INIT;
	struct stat st;
	char chunk[65536];
	ssize_t n;
	int fd;

	buf_printf(&path, "%s/%s", l->set->directory, name);
	fd = open(buf_str(&path), O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			remember_file(l->set, buf_str(&path), NULL);
		else
			buf_printf(l->err, "%s: cannot read: %s",
			    buf_str(&path), strerror(errno));
		buf_free(&path);
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > TEMPLATE_FILE_MAX) {
		buf_printf(l->err, "%s: not a regular file of at most %d "
		    "bytes", buf_str(&path), TEMPLATE_FILE_MAX);
		close(fd);
		buf_free(&path);
		return NULL;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&text, chunk, (size_t)n);
	close(fd);
	if (n < 0 || memchr(buf_str(&text), '\0', text.len)) {
		buf_printf(l->err, "%s: %s", buf_str(&path), n < 0 ?
		    strerror(errno) : "contains a NUL byte: a template is "
		    "text");
		buf_free(&text);
		buf_free(&path);
		return NULL;
	}
	remember_file(l->set, buf_str(&path), &st);
	buf_free(&path);
	l->sources = xrealloc(l->sources, (l->count + 1) * sizeof(char *));
	l->sources[l->count++] = buf_steal(&text);
	if (l->sources[l->count - 1] == NULL)
		l->sources[l->count - 1] = xstrdup("");
	return l->sources[l->count - 1];
}

/* Partials are NAME.mustache beside the parts; names that could leave
 * the directory are not looked up. */
static const char *
partial_lookup(void *arg, const char *name)
{
	struct loader *l = arg;
	struct buf file = BUF_INIT;
	const char *source;

	if (name[0] == '\0' || name[0] == '.' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_.") != strlen(name))
		return NULL;
	buf_printf(&file, "%s.mustache", name);
	source = load_file(l, buf_str(&file));
	buf_free(&file);
	return source;
}

static int
compile_part(struct loader *l, const char *file, const char *fallback,
    struct template **out)
{
	const char *source = load_file(l, file);
	struct buf name = BUF_INIT;
	char *stripped = NULL;

	int source_is_file = source != NULL;

	if (source == NULL && l->err->len)
		return -1;
	if (source == NULL)
		source = fallback;
	if (source == NULL)
		return 0;
	/* A one-line file (the subject) ends with its line break, which is
	 * not part of the value. */
	if (strcmp(file, "subject.mustache") == 0) {
		size_t length = strlen(source);

		while (length && (source[length - 1] == '\n' ||
		    source[length - 1] == '\r'))
			length--;
		stripped = xstrndup(source, length);
		source = stripped;
		if (source_is_file)
			l->set->subject_source = xstrdup(stripped);
	}
	buf_printf(&name, "%s/%s", l->set->directory, file);
	*out = template_compile_strict(buf_str(&name), source, partial_lookup, l,
	    l->err);
	buf_free(&name);
	free(stripped);
	return *out ? 0 : -1;
}

/* The extra headers, rendered with no data, must name allowed fields. */
static int
check_headers(struct loader *l)
{
	struct buf text = BUF_INIT, why = BUF_INIT;
	struct tvalue empty = { .type = TV_MAP };
	int status;

	template_render(l->set->headers, &empty, ESCAPE_HEADER, &text);
	status = message_check_extra_headers(buf_str(&text), text.len, &why);
	if (status)
		buf_printf(l->err, "%s/headers.mustache: %s",
		    l->set->directory, buf_str(&why));
	buf_free(&text);
	buf_free(&why);
	return status;
}

struct tmplset *
tmplset_open(const char *directory, const char *subject, struct buf *err)
{
	struct tmplset *set = xcalloc(1, sizeof(*set));
	struct loader l = { .set = set, .err = err };
	struct stat st;
	int status = -1;

	set->directory = xstrdup(directory);
	errno = 0;
	if (stat(directory, &st) != 0 || !S_ISDIR(st.st_mode)) {
		buf_printf(err, "%s: not a template directory: %s", directory,
		    errno ? strerror(errno) : "not a directory");
		goto done;
	}
	if (compile_part(&l, "subject.mustache", subject, &set->subject) ||
	    compile_part(&l, "text.mustache", NULL, &set->text) ||
	    compile_part(&l, "html.mustache", NULL, &set->html) ||
	    compile_part(&l, "headers.mustache", NULL, &set->headers))
		goto done;
	if (set->subject == NULL) {
		buf_printf(err, "%s: no subject: give the mailing one or add "
		    "subject.mustache", directory);
		goto done;
	}
	if (set->text == NULL && set->html == NULL) {
		buf_printf(err, "%s: neither text.mustache nor html.mustache "
		    "is there: a message needs at least one", directory);
		goto done;
	}
	if (set->headers && check_headers(&l))
		goto done;
	if (set->text)
		tracking_find(set->text, 0, &set->links);
	if (set->html)
		tracking_find(set->html, 1, &set->links);
	status = 0;
done:
	/* Compiled templates keep their own copies of the sources. */
	for (unsigned i = 0; i < l.count; i++)
		free(l.sources[i]);
	free(l.sources);
	if (status) {
		tmplset_free(set);
		return NULL;
	}
	return set;
}

void
tmplset_free(struct tmplset *set)
{
	if (set == NULL)
		return;
	template_free(set->subject);
	template_free(set->text);
	template_free(set->html);
	template_free(set->headers);
	free(set->subject_source);
	tracking_links_free(&set->links);
	for (unsigned i = 0; i < set->file_count; i++)
		free(set->files[i].path);
	free(set->files);
	free(set->directory);
	free(set);
}

unsigned
tmplset_files_read(const struct tmplset *set)
{
	unsigned count = 0;

	/* files also remembers absent files (their creation is a change)
	 * and a partial once per indentation it is used with. */
	for (unsigned i = 0; i < set->file_count; i++) {
		unsigned j;

		if (!set->files[i].exists)
			continue;
		for (j = 0; j < i; j++)
			if (set->files[j].exists &&
			    strcmp(set->files[j].path, set->files[i].path) == 0)
				break;
		count += j == i;
	}
	return count;
}

int
tmplset_changed(const struct tmplset *set)
{
	for (unsigned i = 0; i < set->file_count; i++) {
		const struct tmplset_file *f = &set->files[i];
		struct stat st;
		int exists = stat(f->path, &st) == 0;

		if (exists != f->exists)
			return 1;
		if (exists && (st.st_dev != f->device ||
		    st.st_ino != f->inode || st.st_size != f->size ||
		    st.st_mtim.tv_sec != f->mtime.tv_sec ||
		    st.st_mtim.tv_nsec != f->mtime.tv_nsec))
			return 1;
	}
	return 0;
}
