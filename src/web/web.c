/*
 * web.c - herald-web's HTTP service (see web.h).
 *
 * Every answer that concerns a token is decided in the same order: the
 * token (404, the same bytes whatever is wrong with it), then the
 * method (405), then the body (413, 400), then the database (404 for a
 * mailing or recipient that no longer exists, 503 when it cannot be
 * reached). Pages carry no script and no outside resource, and a
 * Content-Security-Policy that allows neither; nothing is cached and no
 * Referer leaves the page (its URL holds the token).
 */
#include "web.h"
#include "click_redirect.h"
#include "conversion_post.h"
#include "db.h"
#include "listen_address.h"
#include "log.h"
#include "keyring.h"
#include "token.h"
#include "unsubscribe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

/* A form value we look at is short; a longer one is simply wrong. */
#define WEB_FIELD_MAX 16

struct web {
	const struct herald_config *cfg;
	struct ev_loop *loop;
	struct MHD_Daemon *mhd;
	ev_io io;		/* MHD's epoll descriptor */
	ev_timer timer;		/* MHD's next connection timeout */
	struct keyring *keys;		/* token keys, read again as they rotate */
	MYSQL *db;		/* NULL after a failure: reconnect */
	struct click_redirect *clicks;	/* GET /c/TOKEN */
};

enum web_method { WEB_GET, WEB_POST };

/* One request's state, from its head to its completion. */
struct web_request {
	enum web_method method;
	uint64_t mailing_id, recipient_id;
	char token[128];
	size_t body_length;
	struct MHD_PostProcessor *form;
	char one_click[WEB_FIELD_MAX + 1];	/* List-Unsubscribe value */
	char from[WEB_FIELD_MAX + 1];		/* "page" from our button */
	int field_too_long;
	int conversion;			/* POST /v: body kept in body */
	struct buf body;
};

static const char web_not_found_body[] = "not found\n";

static const char web_page_style[] =
    "body{font-family:sans-serif;max-width:34em;margin:4em auto;"
    "padding:0 1em;color:#222;line-height:1.5}"
    "button{font-size:1.1em;padding:.5em 1.5em;cursor:pointer}";

/* Queues an answer; the body is copied. */
static enum MHD_Result
web_respond(struct MHD_Connection *conn, unsigned status,
    const char *content_type, const char *body, size_t length)
{
	struct MHD_Response *response;
	enum MHD_Result result;

	response = MHD_create_response_from_buffer(length, (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
		return MHD_NO;
	MHD_add_response_header(response, "Content-Type", content_type);
	MHD_add_response_header(response, "Cache-Control", "no-store");
	MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(response, "X-Content-Type-Options",
	    "nosniff");
	MHD_add_response_header(response, "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; "
	    "form-action 'self'; frame-ancestors 'none'");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(response, "Allow", "GET, HEAD, POST");
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(response, "Retry-After", "60");
	result = MHD_queue_response(conn, status, response);
	MHD_destroy_response(response);
	return result;
}

static enum MHD_Result
web_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	return web_respond(conn, status, "text/plain; charset=utf-8", text,
	    strlen(text));
}

static enum MHD_Result
web_not_found(struct MHD_Connection *conn)
{
	return web_text(conn, MHD_HTTP_NOT_FOUND, web_not_found_body);
}

/* Appends text with HTML's special characters escaped. */
static void
web_html_escape(struct buf *out, const char *text)
{
	for (; *text; text++) {
		switch (*text) {
		case '&': buf_append_str(out, "&amp;"); break;
		case '<': buf_append_str(out, "&lt;"); break;
		case '>': buf_append_str(out, "&gt;"); break;
		case '"': buf_append_str(out, "&quot;"); break;
		case '\'': buf_append_str(out, "&#39;"); break;
		default: buf_append_char(out, *text);
		}
	}
}

/* Answers an HTML page: a title and the body's inner HTML. */
static enum MHD_Result
web_page(struct MHD_Connection *conn, const char *title, const char *inner)
{
	struct buf page = BUF_INIT;
	enum MHD_Result result;

	buf_printf(&page, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">\n"
	    "<meta name=\"robots\" content=\"noindex\">\n<title>%s</title>\n"
	    "<style>%s</style>\n</head>\n<body>\n<h1>%s</h1>\n%s</body>\n"
	    "</html>\n", title, web_page_style, title, inner);
	result = web_respond(conn, MHD_HTTP_OK, "text/html; charset=utf-8",
	    buf_str(&page), page.len);
	buf_free(&page);
	return result;
}

/*
 * The token check, in one place: 0 and the ids when text is an
 * unsubscribe token herald signed, else -1.
 */
static MYSQL *web_click_db(void *arg);

static int
web_check_token(struct web *web, const char *text, uint64_t *mailing,
    uint64_t *recipient)
{
	struct buf why = BUF_INIT;
	int rc = keyring_verify(web->keys, web_click_db, web,
	    TOKEN_UNSUBSCRIBE, text, mailing, recipient, &why);

	if (rc != 0)
		msg_debug("refused token: %s", buf_str(&why));
	buf_free(&why);
	return rc;
}

/*
 * Finds the request's token (/u/TOKEN, or ?t=TOKEN on /u and
 * /unsubscribe) and checks it: 0 when it is good, -1 for a 404.
 */
static int
web_route(struct web *web, struct MHD_Connection *conn,
    const char *url, struct web_request *r)
{
	const char *token = NULL;

	if (strncmp(url, "/u/", 3) == 0)
		token = url + 3;
	else if (strcmp(url, "/u") == 0 || strcmp(url, "/unsubscribe") == 0)
		token = MHD_lookup_connection_value(conn,
		    MHD_GET_ARGUMENT_KIND, "t");
	if (token == NULL || strlen(token) >= sizeof(r->token) ||
	    strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_.") != strlen(token))
		return -1;
	strcpy(r->token, token);
	return web_check_token(web, r->token, &r->mailing_id,
	    &r->recipient_id);
}

/*
 * The client's address: the peer's, or behind the local nginx (a
 * loopback peer) the X-Real-IP it sets, when that is an IP address.
 */
static void
web_remote_address(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = info ? info->client_addr : NULL;
	const char *real = MHD_lookup_connection_value(conn,
	    MHD_HEADER_KIND, "X-Real-IP");
	unsigned char ip[sizeof(struct in6_addr)];
	int loopback = 0;

	out[0] = '\0';
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, out, size);
		loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, out, size);
		loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	if (loopback && real && strlen(real) < size &&
	    (inet_pton(AF_INET, real, ip) == 1 ||
	    inet_pton(AF_INET6, real, ip) == 1))
		strcpy(out, real);
}

/* The database connection, opened again after a failure; NULL when the
 * server cannot be reached (logged). */
static MYSQL *
web_db(struct web *web)
{
	struct buf err = BUF_INIT;

	if (web->db == NULL) {
		web->db = db_connect(web->cfg, DB_SELECT_DATABASE | DB_AS_WEB,
		    &err);
		if (web->db == NULL)
			msg_error("%s", buf_str(&err));
	}
	buf_free(&err);
	return web->db;
}

/* Logs a database failure, drops the connection, answers 503. */
static enum MHD_Result
web_db_failed(struct web *web, struct MHD_Connection *conn,
    const struct web_request *r, const struct buf *err)
{
	msg_error("mailing %" PRIu64 ", recipient %" PRIu64 ": %s",
	    r->mailing_id, r->recipient_id, err->len ? buf_str(err) :
	    "no database connection (see the message before)");
	if (web->db)
		mysql_close(web->db);
	web->db = NULL;
	return web_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
	    "temporarily unavailable: try again later\n");
}

static MYSQL *
web_click_db(void *arg)
{
	return web_db(arg);
}

/* Answers 302 to location (checked by its maker: no CR or LF). */
static enum MHD_Result
web_redirect(struct MHD_Connection *conn, const char *location)
{
	static const char body[] = "moved\n";
	struct MHD_Response *response;
	enum MHD_Result result;

	response = MHD_create_response_from_buffer(sizeof(body) - 1,
	    (void *)body, MHD_RESPMEM_PERSISTENT);
	if (response == NULL)
		return MHD_NO;
	MHD_add_response_header(response, "Location", location);
	MHD_add_response_header(response, "Content-Type",
	    "text/plain; charset=utf-8");
	MHD_add_response_header(response, "Cache-Control", "no-store");
	/* The click URL holds the token: the target must not see it. */
	MHD_add_response_header(response, "Referrer-Policy", "no-referrer");
	result = MHD_queue_response(conn, MHD_HTTP_FOUND, response);
	MHD_destroy_response(response);
	return result;
}

/*
 * GET /c/TOKEN: a redirect to the link's target, the click queued
 * (click_redirect.h). HEAD answers the same and records nothing.
 */
static enum MHD_Result
web_click(struct web *web, struct MHD_Connection *conn, const char *token,
    const char *method)
{
	struct buf url = BUF_INIT, err = BUF_INIT;
	int get = strcmp(method, "GET") == 0;
	enum click_outcome outcome;
	enum MHD_Result result;

	outcome = click_redirect_find(web->clicks, token, get, web_click_db,
	    web, &url, &err);
	if (outcome == CLICK_NOT_FOUND) {
		result = web_not_found(conn);
	} else if (outcome == CLICK_UNAVAILABLE) {
		msg_error("click: %s", err.len ? buf_str(&err) : "no database "
		    "connection (see the message before)");
		if (web->db)
			mysql_close(web->db);
		web->db = NULL;
		result = web_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "temporarily unavailable: try again later\n");
	} else if (!get && strcmp(method, "HEAD") != 0) {
		result = web_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method not allowed: use GET\n");
	} else {
		result = web_redirect(conn, buf_str(&url));
	}
	buf_free(&url);
	buf_free(&err);
	return result;
}

/* POST /v's head: the method, that conversions are on, the size. */
static enum MHD_Result
web_conversion_begin(struct web *web, struct MHD_Connection *conn,
    const char *method, struct web_request *r)
{
	const char *length = MHD_lookup_connection_value(conn,
	    MHD_HEADER_KIND, "Content-Length");

	if (web->cfg->conversion_secret[0] == '\0')
		return web_not_found(conn);
	if (strcmp(method, "POST") != 0)
		return web_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method not allowed: use POST\n");
	if (length && strtoull(length, NULL, 10) > WEB_BODY_MAX)
		return web_text(conn, MHD_HTTP_CONTENT_TOO_LARGE,
		    "request body too large\n");
	r->conversion = 1;
	return MHD_YES;
}

/* POST /v's body, whole: checks its signature, records it. */
static enum MHD_Result
web_conversion(struct web *web, struct MHD_Connection *conn,
    struct web_request *r)
{
	struct conversion_post post;
	struct conversion_result result = { .why = BUF_INIT };
	struct buf why = BUF_INIT, err = BUF_INIT, answer = BUF_INIT;
	enum conversion_post_check check;
	enum MHD_Result rc;
	const struct token_keys *keys;
	MYSQL *db;

	check = conversion_post_read(web->cfg->conversion_secret,
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "X-Herald-Signature"), r->body.len ? r->body.data : "",
	    r->body.len, &post, &why);
	if (check != CONVERSION_POST_OK) {
		msg_warn("POST /v refused: %s", buf_str(&why));
		buf_printf(&answer, "refused: %s\n", buf_str(&why));
		rc = web_text(conn, check == CONVERSION_POST_UNSIGNED ?
		    MHD_HTTP_UNAUTHORIZED : MHD_HTTP_BAD_REQUEST,
		    buf_str(&answer));
		goto out;
	}
	db = web_db(web);
	keys = db ? keyring_keys(web->keys, db, &err) : NULL;
	if (keys == NULL || conversion_record(db, keys,
	    web->cfg->attribution_window, &post.c, CONVERSION_POST, &result,
	    &err) != 0) {
		msg_error("POST /v: %s", err.len ? buf_str(&err) : "no "
		    "database connection (see the message before)");
		if (web->db)
			mysql_close(web->db);
		web->db = NULL;
		rc = web_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "temporarily unavailable: try again later\n");
	} else if (result.outcome == CONVERSION_REFUSED) {
		msg_warn("POST /v refused: %s", buf_str(&result.why));
		buf_printf(&answer, "refused: %s\n", buf_str(&result.why));
		rc = web_text(conn, MHD_HTTP_BAD_REQUEST, buf_str(&answer));
	} else {
		if (result.outcome == CONVERSION_RECORDED)
			msg_info("conversion %s of recipient %" PRIu64
			    " attributed to mailing %" PRIu64 " (%s; 0: "
			    "none)", post.c.id, result.recipient_id,
			    result.mailing_id, result.attribution);
		buf_printf(&answer, "%s\n", result.outcome ==
		    CONVERSION_RECORDED ? "recorded" : "already recorded");
		rc = web_text(conn, MHD_HTTP_OK, buf_str(&answer));
	}
	conversion_post_free(&post);
out:
	buf_free(&result.why);
	buf_free(&why);
	buf_free(&err);
	buf_free(&answer);
	return rc;
}

/* GET: the confirmation page; changes nothing. */
static enum MHD_Result
web_confirm_page(struct web *web, struct MHD_Connection *conn,
    const struct web_request *r)
{
	struct unsubscribe_target target = { 0 };
	struct buf err = BUF_INIT, inner = BUF_INIT;
	MYSQL *db = web_db(web);
	enum MHD_Result result;

	if (db == NULL || unsubscribe_lookup(db, r->mailing_id,
	    r->recipient_id, &target, &err) != 0) {
		result = web_db_failed(web, conn, r, &err);
		goto out;
	}
	if (!target.found) {
		result = web_not_found(conn);
		goto out;
	}
	buf_append_str(&inner, "<p>");
	web_html_escape(&inner, buf_str(&target.email));
	if (target.unsubscribed) {
		buf_append_str(&inner, " is unsubscribed: it gets no more of "
		    "these mailings.</p>\n");
		result = web_page(conn, "Unsubscribed", buf_str(&inner));
		goto out;
	}
	/* No action: the form posts back to the page's own URL, whichever
	 * route or prefix in front of herald-web served it. */
	buf_append_str(&inner, ": stop receiving these mailings?</p>\n"
	    "<form method=\"post\">\n<input type=\"hidden\" "
	    "name=\"List-Unsubscribe\" value=\"One-Click\">\n<input "
	    "type=\"hidden\" name=\"from\" value=\"page\">\n<button "
	    "type=\"submit\">Unsubscribe</button>\n</form>\n");
	result = web_page(conn, "Unsubscribe", buf_str(&inner));
out:
	buf_free(&target.email);
	buf_free(&inner);
	buf_free(&err);
	return result;
}

/* POST: records the unsubscribe (again: changes nothing). */
static enum MHD_Result
web_unsubscribe(struct web *web, struct MHD_Connection *conn,
    struct web_request *r)
{
	struct unsubscribe_target target = { 0 };
	struct buf err = BUF_INIT, inner = BUF_INIT;
	enum suppression_channel channel = strcmp(r->from, "page") == 0 ?
	    SUPPRESSION_PAGE : SUPPRESSION_ONE_CLICK;
	enum unsubscribe_outcome outcome;
	char remote[INET6_ADDRSTRLEN] = "";
	enum MHD_Result result;
	MYSQL *db;

	if (r->field_too_long || strcmp(r->one_click, "One-Click") != 0) {
		result = web_text(conn, MHD_HTTP_BAD_REQUEST, "bad request: "
		    "the body must be List-Unsubscribe=One-Click\n");
		goto out;
	}
	web_remote_address(conn, remote, sizeof(remote));
	db = web_db(web);
	if (db == NULL || unsubscribe_record(db, r->mailing_id,
	    r->recipient_id, channel, remote[0] ? remote : NULL, &outcome,
	    &target, &err) != 0) {
		result = web_db_failed(web, conn, r, &err);
		goto out;
	}
	if (outcome == UNSUBSCRIBE_UNKNOWN) {
		result = web_not_found(conn);
		goto out;
	}
	if (outcome == UNSUBSCRIBE_DONE)
		msg_info("unsubscribed recipient %" PRIu64 " (mailing %"
		    PRIu64 ", %s, from %s)", r->recipient_id, r->mailing_id,
		    suppression_channel_name(channel), remote[0] ? remote :
		    "an unknown address");
	if (channel == SUPPRESSION_ONE_CLICK) {
		result = web_text(conn, MHD_HTTP_OK, "unsubscribed\n");
		goto out;
	}
	buf_append_str(&inner, "<p>Done: ");
	web_html_escape(&inner, buf_str(&target.email));
	buf_append_str(&inner, " is unsubscribed and gets no more of these "
	    "mailings.</p>\n");
	result = web_page(conn, "Unsubscribed", buf_str(&inner));
out:
	buf_free(&target.email);
	buf_free(&inner);
	buf_free(&err);
	return result;
}

/* Keeps the form fields we look at; a longer value marks the form bad. */
static enum MHD_Result
web_form_field(void *arg, enum MHD_ValueKind kind, const char *key,
    const char *filename, const char *content_type,
    const char *transfer_encoding, const char *data, uint64_t offset,
    size_t size)
{
	struct web_request *r = arg;
	char *field = NULL;

	(void)kind, (void)filename, (void)content_type;
	(void)transfer_encoding;
	if (strcmp(key, "List-Unsubscribe") == 0)
		field = r->one_click;
	else if (strcmp(key, "from") == 0)
		field = r->from;
	if (field == NULL)
		return MHD_YES;
	if (offset + size > WEB_FIELD_MAX || offset != strlen(field)) {
		r->field_too_long = 1;
		return MHD_YES;
	}
	memcpy(field + offset, data, size);
	field[offset + size] = '\0';
	return MHD_YES;
}

/* The request's head: route, method and declared size. */
static enum MHD_Result
web_begin(struct web *web, struct MHD_Connection *conn, const char *url,
    const char *method, struct web_request *r)
{
	const char *length;

	if (web_route(web, conn, url, r) != 0)
		return web_not_found(conn);
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
		r->method = WEB_GET;
		return MHD_YES;
	}
	if (strcmp(method, "POST") != 0)
		return web_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method not allowed: use GET or POST\n");
	r->method = WEB_POST;
	length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Content-Length");
	if (length && strtoull(length, NULL, 10) > WEB_BODY_MAX)
		return web_text(conn, MHD_HTTP_CONTENT_TOO_LARGE,
		    "request body too large\n");
	/* NULL for a body that is neither form encoding: then no field is
	 * found and the POST is refused as a bad request. */
	r->form = MHD_create_post_processor(conn, 1024, web_form_field, r);
	return MHD_YES;
}

static enum MHD_Result
web_handle(void *arg, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **state)
{
	struct web *web = arg;
	struct web_request *r = *state;

	(void)version;
	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		*state = r;
		if (strncmp(url, "/c/", 3) == 0)
			return web_click(web, conn, url + 3, method);
		if (strcmp(url, "/v") == 0)
			return web_conversion_begin(web, conn, method, r);
		return web_begin(web, conn, url, method, r);
	}
	if (*upload_size != 0) {
		/* A chunked body declares no length: count it here. MHD
		 * takes no answer in the middle of a body, so one that
		 * grows past the limit gets its connection closed. */
		if (r->body_length + *upload_size > WEB_BODY_MAX) {
			msg_debug("closing a connection whose body passed %d "
			    "bytes", WEB_BODY_MAX);
			return MHD_NO;
		}
		r->body_length += *upload_size;
		if (r->conversion)
			buf_append(&r->body, upload_data, *upload_size);
		if (r->form)
			MHD_post_process(r->form, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->conversion)
		return web_conversion(web, conn, r);
	if (r->method == WEB_GET)
		return web_confirm_page(web, conn, r);
	/* Destroying the form processor hands over a last field that
	 * no '&' or boundary ended. */
	if (r->form)
		MHD_destroy_post_processor(r->form);
	r->form = NULL;
	return web_unsubscribe(web, conn, r);
}

static void
web_completed(void *arg, struct MHD_Connection *conn, void **state,
    enum MHD_RequestTerminationCode code)
{
	struct web_request *r = *state;

	(void)arg, (void)conn, (void)code;
	if (r == NULL)
		return;
	if (r->form)
		MHD_destroy_post_processor(r->form);
	buf_free(&r->body);
	free(r);
	*state = NULL;
}

/* libmicrohttpd's own complaints, in herald's log. */
static void
web_mhd_log(void *arg, const char *fmt, va_list ap)
{
	struct buf text = BUF_INIT;

	(void)arg;
	buf_vprintf(&text, fmt, ap);
	while (text.len > 0 && text.data[text.len - 1] == '\n')
		text.data[--text.len] = '\0';
	msg_warn("libmicrohttpd: %s", buf_str(&text));
	buf_free(&text);
}

/* Runs MHD, then sets the timer to its next deadline. */
static void
web_run(struct web *web)
{
	MHD_UNSIGNED_LONG_LONG ms;

	MHD_run(web->mhd);
	ev_timer_stop(web->loop, &web->timer);
	if (MHD_get_timeout(web->mhd, &ms) == MHD_YES) {
		ev_timer_set(&web->timer, (double)ms / 1000.0, 0.0);
		ev_timer_start(web->loop, &web->timer);
	}
}

static void
web_io_ready(struct ev_loop *loop, ev_io *io, int events)
{
	(void)loop, (void)events;
	web_run(io->data);
}

static void
web_timer_due(struct ev_loop *loop, ev_timer *timer, int events)
{
	(void)loop, (void)events;
	web_run(timer->data);
}

struct web *
web_start(const struct herald_config *cfg, struct ev_loop *loop,
    struct buf *err)
{
	struct web *web = xcalloc(1, sizeof(*web));
	struct sockaddr_storage addr = { 0 };
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	web->cfg = cfg;
	web->loop = loop;
	if (listen_address_parse("web_listen", cfg->web_listen, &addr,
	    err) != 0)
		goto fail;
	if (cfg->conversion_secret[0] && strlen(cfg->conversion_secret) < 32) {
		buf_printf(err, "conversion_secret: at least 32 characters, "
		    "for an HMAC key no one can guess");
		goto fail;
	}
	/* Refuse to start against a database that is not there, or holds
	 * no key: an operator sees it at once rather than at the first
	 * unsubscribe. */
	web->db = db_connect(cfg, DB_SELECT_DATABASE | DB_AS_WEB, err);
	if (web->db == NULL)
		goto fail;
	web->keys = keyring_new(cfg);
	if (keyring_keys(web->keys, web->db, err) == NULL)
		goto fail;
	web->clicks = click_redirect_start(cfg, web->keys, err);
	if (web->clicks == NULL)
		goto fail;
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The logger first, so that no message of MHD's escapes it. */
	web->mhd = MHD_start_daemon(flags, 0, NULL, NULL, web_handle, web,
	    MHD_OPTION_EXTERNAL_LOGGER, web_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->web_connection_limit,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->web_timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_MEMORY_LIMIT,
	    MHD_OPTION_NOTIFY_COMPLETED, web_completed, web,
	    MHD_OPTION_END);
	if (web->mhd == NULL) {
		buf_printf(err, "cannot listen on %s (web_listen): %s",
		    cfg->web_listen, errno ? strerror(errno) :
		    "libmicrohttpd refused to start");
		goto fail;
	}
	info = MHD_get_daemon_info(web->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL) {
		buf_append_str(err, "libmicrohttpd gave no epoll descriptor");
		goto fail;
	}
	ev_io_init(&web->io, web_io_ready, info->epoll_fd, EV_READ);
	web->io.data = web;
	ev_io_start(loop, &web->io);
	ev_init(&web->timer, web_timer_due);
	web->timer.data = web;
	web_run(web);
	return web;
fail:
	web_stop(web);
	return NULL;
}

void
web_stop(struct web *web)
{
	if (web == NULL)
		return;
	if (web->mhd) {
		ev_io_stop(web->loop, &web->io);
		ev_timer_stop(web->loop, &web->timer);
		MHD_stop_daemon(web->mhd);
	}
	/* After MHD: no request can queue a click any more. */
	click_redirect_stop(web->clicks);
	if (web->db)
		mysql_close(web->db);
	keyring_free(web->keys);
	free(web);
}
