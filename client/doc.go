// Package client is a TeamTalk client: it resolves a msg server through the
// login server's HTTP endpoint, connects, logs in, keeps the connection alive
// with heartbeats, sends and receives messages and makes the directory,
// session, history and group calls a TeamTalk client makes (PROTOCOL.md §4).
//
// It is used by the tests of the services, by the load generator (ttbench,
// up to 100,000 clients per process) and by cmd/ttchat, so it is built to be
// small per connection: one reader goroutine per Client, no goroutine per
// request, frames encoded straight into a per-client write buffer that
// concurrent writers share (one writer flushes what the others appended),
// and pooled request slots.
//
// Requests are matched to replies by the 16-bit seq of the PDU header and the
// expected reply command (PROTOCOL.md §1.6). Everything else the server sends
// (incoming messages, notifies, kicks, heartbeat echoes) is unsolicited and is
// delivered as a typed Event, on Events() or to Options.Handler.
//
// Text message content is encrypted the way every TeamTalk client does it
// (AES-256-ECB with the shared key, the length in the last 4 bytes, base64;
// PROTOCOL.md §7.1): see Cipher.
package client
