// Package httpguard hardens the appliance's net/http servers against
// request smuggling that net/http itself lets through.
//
// net/http reads a request carrying both Transfer-Encoding: chunked and
// Content-Length by the chunked framing (dropping Content-Length before the
// handler sees it) and then serves whatever follows on the connection as
// the next request. RFC 9112 §6.1 requires a server to close the
// connection after answering such a request, because an intermediary that
// framed it by Content-Length would disagree about where the next request
// starts. Since the handler cannot tell the two apart, Handler closes the
// connection after every request that had a transfer coding: honest
// chunked clients only reconnect, a smuggled request is never served.
package httpguard

import "net/http"

// Handler wraps h so that the connection is closed after answering any
// request that arrived with a transfer coding.
func Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}
