/*
 * render.c - the template benchmark (DESIGN.md section 11): messages
 * rendered per second on one core for a realistic template, beside a
 * ceiling measured in the same run (memcpy of the same bytes), and the
 * ratio; then the same messages assembled into complete MIME (quoted-
 * printable, RFC 2047 subject), for reference.
 *
 *	tests/bench/render [-n MESSAGES]
 *	make bench-render BENCH_ARGS='-n 200000'
 *
 * The template: about 5 KB of HTML and text, a dozen fields, a list
 * section, a non-ASCII subject. Each message gets its own recipient
 * values (names and amounts vary), as a worker renders them. Timing
 * decides nothing here; build without sanitizers for figures worth
 * quoting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "message.h"
#include "template.h"

static const char subject_source[] =
    "{{first_name}}, la primavera está aquí – will you help again?";

static const char text_source[] =
    "Dear {{first_name}}{{^first_name}}friend{{/first_name}},\n\n"
    "Thank you for the {{donated_total}} you have given since you joined "
    "us. Your last gift, {{last_donation_amount}} on {{last_donation_at}}, "
    "planted trees in {{city}}, {{state}}.\n\n"
    "This spring we plan to plant ten thousand more, and every gift made "
    "before the end of the month is matched by our partners.\n\n"
    "{{#projects}}- {{name}}: {{trees}} trees\n{{/projects}}\n"
    "With thanks,\nThe Herald Demo Trees team\n\n"
    "--\nYou receive this because you gave to Herald Demo Trees.\n"
    "Unsubscribe: {{unsubscribe_url}}\n"
    "Our address: 1 Example Road, Springfield, {{country}}\n";

static const char html_head[] =
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Spring "
    "appeal</title><style>body{font-family:Georgia,serif;color:#222;"
    "max-width:640px;margin:auto}h1{color:#2a6b2a}td{padding:4px 8px}"
    ".foot{font-size:12px;color:#777}</style></head><body>";

static char html_source[8192];

static void
build_html(void)
{
	char *p = html_source;

	p += sprintf(p, "%s<h1>Dear {{first_name}}{{^first_name}}friend"
	    "{{/first_name}},</h1>", html_head);
	for (int i = 0; i < 16; i++)
		p += sprintf(p, "<p>Paragraph %d of our spring letter: thank you "
		    "for the <b>{{donated_total}}</b> you have given; in "
		    "{{city}} alone your gifts have planted trees along the "
		    "river and in the schoolyards, and this year we will do "
		    "more, with you.</p>", i + 1);
	p += sprintf(p, "<table>{{#projects}}<tr><td>{{name}}</td><td>"
	    "{{trees}}</td></tr>{{/projects}}</table><p>Your last gift: "
	    "{{last_donation_amount}} on {{last_donation_at}}.</p>"
	    "<p class=\"foot\"><a href=\"{{unsubscribe_url}}\">Unsubscribe"
	    "</a> &middot; {{zip}} {{state}} {{country}} &middot; "
	    "{{email}}</p></body></html>");
}

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#define FIELDS 12

int
main(int argc, char **argv)
{
	static const char *const keys[FIELDS] = { "first_name", "last_name",
	    "email", "city", "state", "zip", "country", "donated_total",
	    "last_donation_amount", "last_donation_at", "unsubscribe_url",
	    "projects" };
	static const char *const project_keys[] = { "name", "trees" };
	struct tvalue values[FIELDS], project_values[3][2], projects[3];
	struct tvalue data = { .type = TV_MAP, .count = FIELDS, .keys = keys,
	    .items = values };
	struct template *subject, *text, *html;
	struct buf err = BUF_INIT, out = BUF_INIT, copy = BUF_INIT,
	    message = BUF_INIT, scratch = BUF_INIT;
	char names[64][32], amounts[64][16], url[128];
	long messages = 200000;
	size_t bytes = 0;
	double t0, render_s, copy_s, mime_s;
	struct utsname u;
	int opt;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n') {
			fprintf(stderr, "usage: render [-n MESSAGES]\n");
			return 2;
		}
		messages = atol(optarg);
	}
	build_html();
	subject = template_compile("subject", subject_source, NULL, NULL, &err);
	text = template_compile("text", text_source, NULL, NULL, &err);
	html = template_compile("html", html_source, NULL, NULL, &err);
	if (!subject || !text || !html) {
		fprintf(stderr, "render: %s\n", buf_str(&err));
		return 1;
	}
	for (int i = 0; i < 64; i++) {
		snprintf(names[i], sizeof(names[i]), "Zoë-%d", i);
		snprintf(amounts[i], sizeof(amounts[i]), "%d.%02d", 50 + i * 7,
		    i);
	}
	for (int i = 0; i < 3; i++) {
		static const char *const pn[] = { "River <walk>", "Schools",
		    "Old orchard" };
		static const char *const pt[] = { "1200", "850", "430" };

		project_values[i][0] = (struct tvalue){ .type = TV_STRING,
		    .string = pn[i], .length = strlen(pn[i]) };
		project_values[i][1] = (struct tvalue){ .type = TV_STRING,
		    .string = pt[i], .length = strlen(pt[i]) };
		projects[i] = (struct tvalue){ .type = TV_MAP, .count = 2,
		    .keys = project_keys, .items = project_values[i] };
	}
#define S(i, s) values[i] = (struct tvalue){ .type = TV_STRING, \
	.string = (s), .length = strlen(s) }
	S(1, "García");
	S(2, "zoe@example.net");
	S(3, "Springfield");
	S(4, "OH");
	S(5, "43004");
	S(6, "US");
	S(9, "2026-03-14");
	snprintf(url, sizeof(url), "https://example.org/unsubscribe?t=k1.42."
	    "1234567.bcbg2XmvxAcG2cyMvpcnUg");
	S(10, url);
	values[11] = (struct tvalue){ .type = TV_LIST, .count = 3,
	    .items = projects };

	/* Rendering: subject (header), text, HTML for each message. */
	t0 = now();
	for (long m = 0; m < messages; m++) {
		S(0, names[m & 63]);
		S(7, amounts[m & 63]);
		S(8, amounts[(m + 7) & 63]);
		buf_reset(&out);
		template_render(subject, &data, ESCAPE_HEADER, &out);
		template_render(text, &data, ESCAPE_TEXT, &out);
		template_render(html, &data, ESCAPE_HTML, &out);
		bytes += out.len;
	}
	render_s = now() - t0;

	/* The ceiling: copying the same bytes, message by message. */
	{
		size_t per = bytes / (size_t)messages;
		char *source = malloc(per);

		memset(source, 'x', per);
		t0 = now();
		for (long m = 0; m < messages; m++) {
			buf_reset(&copy);
			buf_append(&copy, source, per);
			source[m % per] = copy.data[(m + 1) % per];
		}
		copy_s = now() - t0;
		free(source);
	}

	/* For reference: whole MIME messages (render + encode). */
	t0 = now();
	for (long m = 0; m < messages / 4; m++) {
		struct message_fields f = { .from_name = "Herald Demo",
		    .from_address = "news@example.org", .to_name = names[m & 63],
		    .to_address = "zoe@example.net", .reply_to = "",
		    .date = 1790000000, .message_id = "herald.42.1@example.org",
		    .unsubscribe_url = url, .unsubscribe_mailto =
		    "mailto:unsubscribe@example.org", .feedback_id =
		    "42:0:herald:demo", .extra_headers = "",
		    .extra_headers_length = 0 };
		struct buf s = BUF_INIT, t = BUF_INIT, h = BUF_INIT;

		S(0, names[m & 63]);
		template_render(subject, &data, ESCAPE_HEADER, &s);
		template_render(text, &data, ESCAPE_TEXT, &t);
		template_render(html, &data, ESCAPE_HTML, &h);
		f.subject = s.data;
		f.subject_length = s.len;
		f.text = t.data;
		f.text_length = t.len;
		f.html = h.data;
		f.html_length = h.len;
		buf_reset(&message);
		message_build(&f, &message, &scratch);
		buf_free(&s);
		buf_free(&t);
		buf_free(&h);
	}
	mime_s = now() - t0;

	uname(&u);
	printf("machine: %s %s, %ld cores online\n", u.nodename, u.machine,
	    sysconf(_SC_NPROCESSORS_ONLN));
	printf("template: %zu bytes rendered per message, %d fields, a list "
	    "section, non-ASCII subject\n", bytes / (size_t)messages, FIELDS);
	printf("render (subject+text+html): %.0f messages/s on one core\n",
	    (double)messages / render_s);
	printf("memcpy ceiling (same bytes): %.0f messages/s\n",
	    (double)messages / copy_s);
	printf("ratio render/memcpy: %.3f\n", copy_s / render_s);
	printf("complete MIME message (render + quoted-printable + headers): "
	    "%.0f messages/s\n", (double)(messages / 4) / mime_s);
	/* Rendering alone is the reference the assembly's cost (the
	 * encoders, the headers) is read against. */
	printf("ratio complete MIME/render alone: %.3f\n",
	    (double)(messages / 4) / mime_s / ((double)messages / render_s));
	printf("command: tests/bench/render -n %ld\n", messages);
	template_free(subject);
	template_free(text);
	template_free(html);
	buf_free(&err);
	buf_free(&out);
	buf_free(&copy);
	buf_free(&message);
	buf_free(&scratch);
	return 0;
}
