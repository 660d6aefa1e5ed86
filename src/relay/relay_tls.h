/*
 * relay_tls.h - the TLS client context of one relay (STARTTLS through
 * libESMTP).
 *
 *	ctx = relay_tls_context_new(host, verify, ca_file, error, size, &err);
 *	... smtp_starttls_set_ctx(session, ctx) for every run ...
 *	relay_tls_context_free(ctx);
 *
 * With verify set, the handshake fails unless the server's certificate
 * chains to ca_file (or the system's CA store when ca_file is NULL or
 * empty) and names host: a DNS name in its subjectAltName (or CN), or,
 * when host is an IP address, that address. Whenever verification
 * fails, the reason ("certificate verify failed: hostname mismatch,
 * subject CN=...") is written to error (size bytes, NUL-terminated), which
 * must stay valid as long as the context; the caller clears it before
 * each run. Without verify any certificate is taken (opportunistic
 * encryption, RFC 7435: it protects against a passive eavesdropper only).
 *
 * TLS 1.2 is the lowest version offered.
 *
 * Errors: relay_tls_context_new() returns NULL with the reason in err
 * (a CA file that cannot be read or holds no certificate, no memory).
 */
#ifndef HERALD_RELAY_TLS_H
#define HERALD_RELAY_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "buf.h"

SSL_CTX *relay_tls_context_new(const char *host, int verify,
    const char *ca_file, char *error, size_t size, struct buf *err);

/* Frees the context (NULL is allowed). */
void relay_tls_context_free(SSL_CTX *ctx);

#endif
