// Package boltstore is the embedded IM store: a state.Store on one bbolt
// file (im.db under the data directory).
//
// Writes go through one committer goroutine that drains a queue of write
// functions into a single read-write transaction and answers every waiter
// only after Commit (with fsync) returned, so many messages share one fsync
// (group commit). Each write function runs exactly once. Message ids are
// allocated inside that transaction, so an id is handed out only for a
// durable message and never again, even across crashes. Reads use View
// transactions directly and never wait for the committer. SaveMessageAsync
// (state.MessageQueuer) queues a message without waiting: its callback runs
// after the Commit on the answerer, a second goroutine that answers each
// batch in commit order while the committer builds the next transaction, so
// one caller can keep a conversation's messages in flight, in order, and
// they share commits.
//
// The bucket tree (all integers big-endian, so keys sort numerically; "u32"
// is 4 bytes):
//
//	meta
//	  "schema"                                  -> u32 schema version
//	users            (sequence = last user id)
//	  u32 user id                               -> JSON userRecord
//	user_names
//	  login name                                -> u32 user id
//	departs          (sequence = last depart id)
//	  u32 depart id                             -> JSON departRecord
//	relations
//	  u32 small id | u32 big id                 -> u32 last msg id | u32 created | u64 last log entry
//	messages         (one-to-one messages stored before schema 2)
//	  u32 small | u32 big | u32 msg id          -> message record
//	msglog           (schema 2; sequence = last entry)
//	  u64 entry                                 -> u32 msg id | u64 pair's previous entry | message record
//	msgidx           (every 64th message id of a pair)
//	  u32 small | u32 big | u32 msg id          -> u64 entry
//	unread
//	  u32 user | u32 peer                       -> u32 unread count
//	sessions
//	  u32 user | u8 session type | u32 peer     -> u8 status | u32 created | u32 updated
//	groups           (sequence = last group id)
//	  u32 group id                              -> JSON groupRecord (incl. last msg id)
//	group_members
//	  u32 group | u32 user                      -> u32 joined | u8 shield
//	user_groups
//	  u32 user | u32 group                      -> u32 read marker (a group msg id)
//	group_messages
//	  u32 group | u32 msg id                    -> message record
//	tokens
//	  u32 user                                  -> u8 client type | token
//	token_owners
//	  token                                     -> u32 user
//	files            (sequence = file row id)
//	  u32 receiver | u32 created | u64 row id   -> JSON fileRecord
//	audio            (sequence = last audio id)
//	  u32 audio id                              -> audio record (meta + bytes)
//
// A message record is u32 from | u8 type | u32 created | content.
// One-to-one messages are appended to msglog, each entry linked to its
// pair's previous one, so a commit writes the log's last pages instead of a
// page per conversation (msglog.go); reads walk a pair's chain from
// relations or from msgidx and go on in messages for older ones. The schema
// version in meta is raised by an ordered list of migrations (schema.go);
// Open runs the missing ones in one transaction and refuses a file written by
// a newer version.
package boltstore
