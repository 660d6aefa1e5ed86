/*
 * relay_tls.c - the TLS client context of one relay (see relay_tls.h).
 *
 * Public functions: relay_tls_context_new(), relay_tls_context_free().
 *
 * Why verification is OpenSSL's and not libESMTP's: libESMTP's own
 * host name check knows DNS names only (an IP address as relay_host
 * never matches) and its result comes as an event after the handshake;
 * OpenSSL's X509_VERIFY_PARAM checks the name or address during the
 * handshake, which then fails before a byte of SMTP goes over it. The
 * verify callback only records why, for the relay's log line.
 */
#include "relay_tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* Where the callback writes: the caller's buffer, kept as app data. */
struct relay_tls_error {
	char *text;
	size_t size;
};

static int
relay_tls_verify(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct relay_tls_error *e;
	X509 *cert = X509_STORE_CTX_get_current_cert(store);
	char subject[256] = "(none)";

	if (ok || ssl == NULL)
		return ok;
	e = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	if (e == NULL || e->text[0] != '\0')
		return ok;	/* the first reason is the one to tell */
	if (cert)
		X509_NAME_oneline(X509_get_subject_name(cert), subject,
		    sizeof(subject));
	snprintf(e->text, e->size, "certificate verify failed: %s "
	    "(certificate %s at depth %d)", X509_verify_cert_error_string(
	    X509_STORE_CTX_get_error(store)), subject,
	    X509_STORE_CTX_get_error_depth(store));
	return ok;
}

/* The name the certificate must carry: an IP address or a DNS name. */
static int
relay_tls_expect_host(SSL_CTX *ctx, const char *host)
{
	X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
	unsigned char address[16];

	if (inet_pton(AF_INET, host, address) == 1 ||
	    inet_pton(AF_INET6, host, address) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(param, host);
	X509_VERIFY_PARAM_set_hostflags(param,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return X509_VERIFY_PARAM_set1_host(param, host, 0);
}

SSL_CTX *
relay_tls_context_new(const char *host, int verify, const char *ca_file,
    char *error, size_t size, struct buf *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct relay_tls_error *e = NULL;
	char reason[256];

	if (ctx == NULL)
		goto fail;
	/*
	 * TLS 1.2 only. Under TLS 1.3 the server sends its session tickets
	 * after the handshake, and libESMTP 1.1 then sometimes waits for a
	 * reply before it has flushed its next command: its poll takes
	 * buffered TLS data for a reply to read, the read finds no
	 * application data and blocks, and AUTH sits in the write buffer
	 * until relay_timeout. Measured with relay_tls_auth.sh on a loaded
	 * machine: 3 of 6 runs stalled so under TLS 1.3, 0 of 11 under 1.2.
	 */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	e = OPENSSL_zalloc(sizeof(*e));
	if (e == NULL)
		goto fail;
	e->text = error;
	e->size = size;
	SSL_CTX_set_app_data(ctx, e);
	if (!verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	if (ca_file && ca_file[0]) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			ERR_error_string_n(ERR_peek_last_error(), reason,
			    sizeof(reason));
			buf_printf(err, "relay %s: cannot load the CA "
			    "certificates of %s (relay_tls_ca_file): %s",
			    host, ca_file, reason);
			goto out;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		buf_printf(err, "relay %s: cannot load the system's CA "
		    "certificates", host);
		goto out;
	}
	if (relay_tls_expect_host(ctx, host) != 1)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, relay_tls_verify);
	ERR_clear_error();
	return ctx;
fail:
	buf_printf(err, "relay %s: cannot set up TLS: %s", host,
	    ERR_reason_error_string(ERR_peek_last_error()) ?
	    ERR_reason_error_string(ERR_peek_last_error()) : "out of memory");
out:
	ERR_clear_error();
	relay_tls_context_free(ctx);
	return NULL;
}

void
relay_tls_context_free(SSL_CTX *ctx)
{
	if (ctx == NULL)
		return;
	OPENSSL_free(SSL_CTX_get_app_data(ctx));
	SSL_CTX_free(ctx);
}
