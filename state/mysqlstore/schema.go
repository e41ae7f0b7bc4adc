package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// Shards is the number of IMMessage_N and IMGroupMessage_N tables: a pair's
// messages live in IMMessage_<relateId % Shards>, a group's in
// IMGroupMessage_<groupId % Shards> (PROTOCOL.md §8.1).
const Shards = 8

// schemaVersion is the version of this package's own tables (tt_*), kept in
// tt_meta under "schema".
const schemaVersion = 1

// msgTable names the one-to-one message shard of a relation id. Table names
// come only from these two functions (never from input); values always go
// through placeholders.
func msgTable(relateID uint32) string { return "IMMessage_" + strconv.Itoa(int(relateID%Shards)) }

// groupMsgTable names the group message shard of a group id.
func groupMsgTable(groupID uint32) string {
	return "IMGroupMessage_" + strconv.Itoa(int(groupID%Shards))
}

const (
	userText  = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
	plainText = "ENGINE=InnoDB DEFAULT CHARSET=utf8"
)

// teamtalkTables is TeamTalk's schema (ttopen.sql, PROTOCOL.md §8.1), written
// anew: the same tables, columns, types, defaults and indexes, created only if
// missing. IMTransmitFile (§8.2) is included.
func teamtalkTables() []string {
	ddl := []string{
		`CREATE TABLE IF NOT EXISTS IMUser (
  id int(11) unsigned NOT NULL AUTO_INCREMENT,
  sex tinyint(1) unsigned NOT NULL DEFAULT 0,
  name varchar(32) NOT NULL DEFAULT '',
  domain varchar(32) NOT NULL DEFAULT '',
  nick varchar(32) NOT NULL DEFAULT '',
  password varchar(32) NOT NULL DEFAULT '',
  salt varchar(4) NOT NULL DEFAULT '',
  phone varchar(11) NOT NULL DEFAULT '',
  email varchar(64) NOT NULL DEFAULT '',
  avatar varchar(255) DEFAULT '',
  departId int(11) unsigned NOT NULL,
  status tinyint(2) unsigned DEFAULT 0,
  created int(11) unsigned NOT NULL,
  updated int(11) unsigned NOT NULL,
  push_shield_status tinyint(1) unsigned NOT NULL DEFAULT 0,
  sign_info varchar(128) NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  KEY idx_domain (domain),
  KEY idx_name (name),
  KEY idx_phone (phone)
) ` + userText,
		`CREATE TABLE IF NOT EXISTS IMDepart (
  id int(11) unsigned NOT NULL AUTO_INCREMENT,
  departName varchar(64) NOT NULL DEFAULT '',
  priority int(11) unsigned NOT NULL DEFAULT 0,
  parentId int(11) unsigned NOT NULL,
  status int(11) unsigned NOT NULL DEFAULT 0,
  created int(11) unsigned NOT NULL,
  updated int(11) unsigned NOT NULL,
  PRIMARY KEY (id),
  KEY idx_departName (departName),
  KEY idx_priority_status (priority, status)
) ` + userText,
		`CREATE TABLE IF NOT EXISTS IMGroup (
  id int(11) NOT NULL AUTO_INCREMENT,
  name varchar(256) NOT NULL DEFAULT '',
  avatar varchar(256) NOT NULL DEFAULT '',
  creator int(11) unsigned NOT NULL DEFAULT 0,
  type tinyint(3) unsigned NOT NULL DEFAULT 1,
  userCnt int(11) unsigned NOT NULL DEFAULT 0,
  status tinyint(3) unsigned NOT NULL DEFAULT 1,
  version int(11) unsigned NOT NULL DEFAULT 1,
  lastChated int(11) unsigned NOT NULL DEFAULT 0,
  updated int(11) unsigned NOT NULL DEFAULT 0,
  created int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY idx_name (name(191)),
  KEY idx_creator (creator)
) ` + userText,
		`CREATE TABLE IF NOT EXISTS IMGroupMember (
  id int(11) NOT NULL AUTO_INCREMENT,
  groupId int(11) unsigned NOT NULL,
  userId int(11) unsigned NOT NULL,
  status tinyint(4) unsigned NOT NULL DEFAULT 1,
  created int(11) unsigned NOT NULL DEFAULT 0,
  updated int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY idx_groupId_userId_status (groupId, userId, status),
  KEY idx_userId_status_updated (userId, status, updated),
  KEY idx_groupId_updated (groupId, updated)
) ` + plainText,
		`CREATE TABLE IF NOT EXISTS IMRelationShip (
  id int(11) NOT NULL AUTO_INCREMENT,
  smallId int(11) unsigned NOT NULL,
  bigId int(11) unsigned NOT NULL,
  status tinyint(1) unsigned DEFAULT 0,
  created int(11) unsigned NOT NULL DEFAULT 0,
  updated int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY idx_smallId_bigId_status_updated (smallId, bigId, status, updated)
) ` + plainText,
		`CREATE TABLE IF NOT EXISTS IMRecentSession (
  id int(11) NOT NULL AUTO_INCREMENT,
  userId int(11) unsigned NOT NULL,
  peerId int(11) unsigned NOT NULL,
  type tinyint(1) unsigned DEFAULT 0,
  status tinyint(1) unsigned DEFAULT 0,
  created int(11) unsigned NOT NULL DEFAULT 0,
  updated int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY idx_userId_peerId_status_updated (userId, peerId, status, updated),
  KEY idx_userId_peerId_type (userId, peerId, type)
) ` + plainText,
		`CREATE TABLE IF NOT EXISTS IMAudio (
  id int(11) NOT NULL AUTO_INCREMENT,
  fromId int(11) unsigned NOT NULL,
  toId int(11) unsigned NOT NULL,
  path varchar(255) DEFAULT '',
  size int(11) unsigned NOT NULL DEFAULT 0,
  duration int(11) unsigned NOT NULL DEFAULT 0,
  created int(11) unsigned NOT NULL,
  PRIMARY KEY (id),
  KEY idx_fromId_toId (fromId, toId)
) ` + userText,
		`CREATE TABLE IF NOT EXISTS IMDiscovery (
  id int(11) unsigned NOT NULL AUTO_INCREMENT,
  itemName varchar(64) NOT NULL DEFAULT '',
  itemUrl varchar(64) NOT NULL DEFAULT '',
  itemPriority int(11) unsigned NOT NULL,
  status int(11) unsigned NOT NULL DEFAULT 0,
  created int(11) unsigned NOT NULL,
  updated int(11) unsigned NOT NULL,
  PRIMARY KEY (id),
  KEY idx_itemName (itemName)
) ` + userText,
		`CREATE TABLE IF NOT EXISTS IMAdmin (
  id mediumint(6) unsigned NOT NULL AUTO_INCREMENT,
  uname varchar(40) NOT NULL,
  pwd char(32) NOT NULL,
  status tinyint(2) unsigned NOT NULL DEFAULT 0,
  created int(11) unsigned NOT NULL DEFAULT 0,
  updated int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (id)
) ` + plainText,
		transmitFileTable,
	}
	for i := range Shards {
		ddl = append(ddl, `CREATE TABLE IF NOT EXISTS `+msgTable(uint32(i))+` (
  id int(11) NOT NULL AUTO_INCREMENT,
  relateId int(11) unsigned NOT NULL,
  fromId int(11) unsigned NOT NULL,
  toId int(11) unsigned NOT NULL,
  msgId int(11) unsigned NOT NULL,
  content varchar(4096) DEFAULT '',
  type tinyint(2) unsigned NOT NULL DEFAULT 1,
  status tinyint(1) unsigned NOT NULL DEFAULT 0,
  updated int(11) unsigned NOT NULL,
  created int(11) unsigned NOT NULL,
  PRIMARY KEY (id),
  KEY idx_relateId_status_created (relateId, status, created),
  KEY idx_relateId_status_msgId_created (relateId, status, msgId, created),
  KEY idx_fromId_toId_created (fromId, toId, status)
) `+userText)
	}
	for i := range Shards {
		ddl = append(ddl, `CREATE TABLE IF NOT EXISTS `+groupMsgTable(uint32(i))+` (
  id int(11) NOT NULL AUTO_INCREMENT,
  groupId int(11) unsigned NOT NULL,
  userId int(11) unsigned NOT NULL,
  msgId int(11) unsigned NOT NULL,
  content varchar(4096) NOT NULL DEFAULT '',
  type tinyint(3) unsigned NOT NULL DEFAULT 2,
  status int(11) unsigned NOT NULL DEFAULT 0,
  updated int(11) unsigned NOT NULL DEFAULT 0,
  created int(11) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY idx_groupId_status_created (groupId, status, created),
  KEY idx_groupId_msgId_status_created (groupId, msgId, status, created)
) `+userText)
	}
	return ddl
}

// transmitFileTable is IMTransmitFile, which ttopen.sql lacks (PROTOCOL.md
// §8.2); Open creates it on existing databases too.
const transmitFileTable = `CREATE TABLE IF NOT EXISTS IMTransmitFile (
  id int(11) NOT NULL AUTO_INCREMENT,
  fromId int(11) unsigned NOT NULL,
  toId int(11) unsigned NOT NULL,
  fileName varchar(4096) DEFAULT '',
  taskId varchar(128) DEFAULT '',
  size int(11) unsigned NOT NULL DEFAULT 0,
  status tinyint(1) unsigned NOT NULL DEFAULT 0,
  updated int(11) unsigned NOT NULL,
  created int(11) unsigned NOT NULL,
  PRIMARY KEY (id),
  KEY idx_fromId_toId_created (fromId, toId, status),
  KEY idx_toId_status (toId, status)
) ` + userText

// ownTables returns this package's tables: what the reference kept in Redis
// (PROTOCOL.md §8.3, §8.4), made durable, and IMTransmitFile.
func ownTables() []string {
	return []string{
		// Schema version of the tt_* tables.
		`CREATE TABLE IF NOT EXISTS tt_meta (
  name varchar(64) NOT NULL,
  value varchar(255) NOT NULL DEFAULT '',
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
		// msg_id_<relateId>: the last message id of a pair.
		`CREATE TABLE IF NOT EXISTS tt_msg_counter (
  relateId int(11) unsigned NOT NULL,
  lastMsgId int(11) unsigned NOT NULL,
  PRIMARY KEY (relateId)
) ENGINE=InnoDB`,
		// group_msg_id_<gid> (and <gid>_im_group_msg): the last message id of a group.
		`CREATE TABLE IF NOT EXISTS tt_group_counter (
  groupId int(11) unsigned NOT NULL,
  lastMsgId int(11) unsigned NOT NULL,
  PRIMARY KEY (groupId)
) ENGINE=InnoDB`,
		// unread_<uid>: unread one-to-one messages of userId from peerId.
		`CREATE TABLE IF NOT EXISTS tt_unread (
  userId int(11) unsigned NOT NULL,
  peerId int(11) unsigned NOT NULL,
  cnt int(11) unsigned NOT NULL,
  PRIMARY KEY (userId, peerId)
) ENGINE=InnoDB`,
		// <uid>_<gid>_im_user_group: the group message id userId has read up to.
		// A missing row means nothing unread (a member from before this store).
		`CREATE TABLE IF NOT EXISTS tt_group_read (
  userId int(11) unsigned NOT NULL,
  groupId int(11) unsigned NOT NULL,
  msgId int(11) unsigned NOT NULL,
  PRIMARY KEY (userId, groupId)
) ENGINE=InnoDB`,
		// device_<uid> and device_<token>: a token belongs to one user.
		`CREATE TABLE IF NOT EXISTS tt_device_token (
  userId int(11) unsigned NOT NULL,
  clientType tinyint(3) unsigned NOT NULL,
  token varbinary(1024) NOT NULL,
  PRIMARY KEY (userId),
  UNIQUE KEY uniq_token (token)
) ENGINE=InnoDB`,
		// group_set_<gid>: a member's push shield for the group.
		`CREATE TABLE IF NOT EXISTS tt_group_shield (
  groupId int(11) unsigned NOT NULL,
  userId int(11) unsigned NOT NULL,
  shield tinyint(1) unsigned NOT NULL DEFAULT 0,
  PRIMARY KEY (groupId, userId)
) ENGINE=InnoDB`,
		// Audio bytes (IMAudio holds only their msfs URL).
		`CREATE TABLE IF NOT EXISTS tt_audio_data (
  audioId int(11) NOT NULL,
  data mediumblob NOT NULL,
  PRIMARY KEY (audioId)
) ENGINE=InnoDB`,
		transmitFileTable,
	}
}

// InitSchema creates TeamTalk's whole schema (the tables of ttopen.sql plus
// IMTransmitFile) and this package's own tables in the store's database,
// skipping tables that exist. It is what `teamtalkd -init-db` and `ttctl db
// init` run on an empty database; it never drops or alters anything, and
// inserts no seed rows (no admin panel account).
func (s *Store) InitSchema(ctx context.Context) error {
	if err := s.guard(); err != nil {
		return err
	}
	return initSchema(ctx, s.db)
}

func initSchema(ctx context.Context, db *sql.DB) error {
	for _, q := range teamtalkTables() {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mysqlstore: init schema: %w", err)
		}
	}
	return ensureOwnTables(ctx, db)
}

// ensureOwnTables creates the tt_* tables and IMTransmitFile if missing and
// checks the schema version.
func ensureOwnTables(ctx context.Context, db *sql.DB) error {
	for _, q := range ownTables() {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mysqlstore: create own tables: %w", err)
		}
	}
	var v string
	err := db.QueryRowContext(ctx, `SELECT value FROM tt_meta WHERE name = 'schema'`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = db.ExecContext(ctx, `INSERT IGNORE INTO tt_meta (name, value) VALUES ('schema', ?)`, strconv.Itoa(schemaVersion))
		if err != nil {
			return fmt.Errorf("mysqlstore: write schema version: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("mysqlstore: read schema version: %w", err)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n > schemaVersion {
		return fmt.Errorf("mysqlstore: tt_meta schema version %q is newer than this program's %d", v, schemaVersion)
	}
	return nil
}

// teamtalkTablesPresent reports whether the database holds TeamTalk's core
// tables.
func teamtalkTablesPresent(ctx context.Context, db *sql.DB) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('IMUser', 'IMGroup', 'IMGroupMember', 'IMRelationShip', 'IMRecentSession', 'IMMessage_0', 'IMGroupMessage_0')`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("mysqlstore: look for TeamTalk's tables: %w", err)
	}
	return n == 7, nil
}
