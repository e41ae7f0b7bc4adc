// Package mysqlstore is the MySQL backend of state.Store, on TeamTalk's own
// schema (PROTOCOL.md §8.1), so an existing TeamTalk database works
// unchanged: users made by TeamTalk's PHP admin log in (md5 + salt), and
// their departments, groups, sessions and history show. It talks to any
// MySQL-compatible server (MySQL, MariaDB, Galera, TiDB) through
// github.com/go-sql-driver/mysql; every value goes through a placeholder.
//
// Tables used, with TeamTalk's exact names and columns: IMUser, IMDepart,
// IMGroup, IMGroupMember (status 0 = member, join time = updated),
// IMRelationShip (a pair's relateId), IMMessage_0..7 (shard relateId % 8),
// IMGroupMessage_0..7 (shard groupId % 8), IMRecentSession, IMAudio and
// IMTransmitFile (§8.2; created at Open if missing). InitSchema creates the
// whole TeamTalk schema on an empty database.
//
// What the reference kept in Redis (§8.3) lives in tables of our own,
// created idempotently at Open (§8.4):
//
//	tt_meta           name -> value ("schema" = version of the tt_* tables)
//	tt_msg_counter    relateId -> last message id of the pair
//	tt_group_counter  groupId -> last message id of the group
//	tt_unread         (userId, peerId) -> unread one-to-one messages
//	tt_group_read     (userId, groupId) -> group message id read up to
//	tt_device_token   userId -> (client type, token), token unique
//	tt_group_shield   (groupId, userId) -> push shield
//	tt_audio_data     audioId -> the clip's bytes
//
// A counter row that does not exist yet is seeded, under lock, from the
// highest msgId already stored for the conversation, so ids continue an
// existing database's and are never reused. A member without a read
// marker (from before this store) has nothing unread in that group.
//
// Messages are written by committers (Options.Committers goroutines, one
// queue each; a conversation always maps to the same one): a committer
// drains its queue into one transaction and answers every waiter after
// COMMIT returned, so many messages share one commit. One-to-one messages,
// validated before they are queued, are written in bulk with a fixed
// number of statements per batch (bulk.go): one UPDATE of every counter
// of the batch (lastMsgId + n, a range of ids per conversation), one
// multi-row INSERT per message shard, one upsert of the unread counters,
// one UPDATE and one INSERT of the recent sessions. Group messages (which
// can be refused: not a member) run each behind a savepoint, allocating
// their id with UPDATE ... LAST_INSERT_ID(lastMsgId + 1); so does a batch
// whose bulk write failed for a reason that is not transient (a counter
// row missing or exhausted), message by message, refusing only the
// message at fault. SaveMessage waits for the commit; SaveMessageAsync
// (state.MessageQueuer) lets one caller keep many saves in flight. The
// committers have a pool of their own, whose connections are READ
// COMMITTED from the start and take several statements per round trip, so
// a batch of one-to-one messages costs four round trips (BEGIN, ids,
// writes, COMMIT) whatever its size (more only past 768 KiB of text).
// Other writes run in their own short transactions.
//
// Batches and most writes run at READ COMMITTED (no gap locks, so
// committers do not deadlock on each other's index gaps; the server's
// binlog_format must then be ROW or MIXED, the defaults). A pair's first
// message creates its IMRelationShip row and seeded counter beforehand in a
// small REPEATABLE READ transaction, as user creation does, so two hosts
// cannot insert the same pair or name twice. A
// transaction that fails on a deadlock (1213), a lock wait timeout (1205)
// or a connection lost before COMMIT is run again, with backoff; a
// connection lost during COMMIT is reported, never retried (the outcome is
// unknown).
//
// Content is stored in the varchar(4096) utf8mb4 columns of TeamTalk's
// schema: message content must be UTF-8 of at most 4096 characters (clients
// send base64 text), or SaveMessage refuses it with state.ErrInvalid.
package mysqlstore
