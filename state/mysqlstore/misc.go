package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"teamtalk/state"
)

// SetDeviceToken implements state.Store (tt_device_token: one row per user,
// a unique token).
func (s *Store) SetDeviceToken(ctx context.Context, userID uint32, ct state.ClientType, token string) error {
	if userID == 0 || len(token) > 1024 {
		return fmt.Errorf("mysqlstore: device token: %w: user %d, %d-byte token", state.ErrInvalid, userID, len(token))
	}
	err := s.txn(ctx, func(q *txq) error {
		if _, err := q.exec(`DELETE FROM tt_device_token WHERE userId = ?`, userID); err != nil {
			return err
		}
		if token == "" {
			return nil
		}
		// A token belongs to one user: take it from its previous owner.
		if _, err := q.exec(`DELETE FROM tt_device_token WHERE token = ?`, []byte(token)); err != nil {
			return err
		}
		_, err := q.exec(`INSERT INTO tt_device_token (userId, clientType, token) VALUES (?, ?, ?)`, userID, uint8(ct), []byte(token))
		return err
	})
	if err != nil {
		return fmt.Errorf("mysqlstore: device token of %d: %w", userID, err)
	}
	return nil
}

// DeviceTokens implements state.Store.
func (s *Store) DeviceTokens(ctx context.Context, userIDs []uint32) ([]state.DeviceToken, error) {
	if err := s.guard(); err != nil {
		return nil, err
	}
	found := make(map[uint32]state.DeviceToken, len(userIDs))
	const chunk = 500
	for lo := 0; lo < len(userIDs); lo += chunk {
		part := userIDs[lo:min(lo+chunk, len(userIDs))]
		rows, err := s.db.QueryContext(ctx, `SELECT t.userId, t.clientType, t.token, COALESCE(u.push_shield_status, 0)
FROM tt_device_token t LEFT JOIN IMUser u ON u.id = t.userId WHERE t.userId IN (`+placeholders(len(part))+`)`, u32Args(part)...)
		if err != nil {
			return nil, fmt.Errorf("mysqlstore: device tokens: %w", closedErr(err))
		}
		for rows.Next() {
			var (
				dt         state.DeviceToken
				ct, shield uint8
				tok        []byte
			)
			if err := rows.Scan(&dt.UserID, &ct, &tok, &shield); err != nil {
				rows.Close()
				return nil, fmt.Errorf("mysqlstore: device tokens: %w", err)
			}
			dt.ClientType, dt.Token, dt.PushShield = state.ClientType(ct), string(tok), shield != 0
			found[dt.UserID] = dt
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("mysqlstore: device tokens: %w", err)
		}
	}
	var out []state.DeviceToken
	for _, id := range userIDs {
		if dt, ok := found[id]; ok {
			out = append(out, dt)
			delete(found, id)
		}
	}
	return out, nil
}

// AddOfflineFile implements state.Store.
func (s *Store) AddOfflineFile(ctx context.Context, f state.OfflineFile) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("mysqlstore: add offline file: %w", err)
	}
	if f.Created == 0 {
		f.Created = s.now()
	}
	err := s.txn(ctx, func(q *txq) error {
		_, err := q.exec(`INSERT INTO IMTransmitFile (fromId, toId, fileName, size, taskId, status, created, updated)
VALUES (?, ?, ?, ?, ?, 0, ?, ?)`, f.From, f.To, f.Name, f.Size, f.TaskID, f.Created, f.Created)
		return err
	})
	if err != nil {
		return fmt.Errorf("mysqlstore: add offline file: %w", err)
	}
	return nil
}

// OfflineFiles implements state.Store.
func (s *Store) OfflineFiles(ctx context.Context, userID uint32) ([]state.OfflineFile, error) {
	if err := s.guard(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT fromId, toId, COALESCE(taskId, ''), COALESCE(fileName, ''), size, created
FROM IMTransmitFile WHERE toId = ? AND status = 0 ORDER BY created, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: offline files of %d: %w", userID, closedErr(err))
	}
	defer rows.Close()
	var out []state.OfflineFile
	for rows.Next() {
		var f state.OfflineFile
		if err := rows.Scan(&f.From, &f.To, &f.TaskID, &f.Name, &f.Size, &f.Created); err != nil {
			return nil, fmt.Errorf("mysqlstore: offline files of %d: %w", userID, err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysqlstore: offline files of %d: %w", userID, err)
	}
	return out, nil
}

// DeleteOfflineFile implements state.Store.
func (s *Store) DeleteOfflineFile(ctx context.Context, from, to uint32, taskID string) error {
	err := s.txn(ctx, func(q *txq) error {
		n, err := q.affected(`DELETE FROM IMTransmitFile WHERE fromId = ? AND toId = ? AND taskId = ?`, from, to, taskID)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("offline file %q from %d: %w", taskID, from, state.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mysqlstore: delete offline file: %w", err)
	}
	return nil
}

// maxAudio is the largest clip tt_audio_data (mediumblob) holds.
const maxAudio = 1<<24 - 1

// SaveAudio implements state.Store: the metadata goes to IMAudio (path =
// a.Path), the bytes, if any, to tt_audio_data.
func (s *Store) SaveAudio(ctx context.Context, a state.Audio) (uint32, error) {
	if len(a.Path) > 255 || (len(a.Data) == 0 && a.Path == "") || len(a.Data) > maxAudio {
		return 0, fmt.Errorf("mysqlstore: save audio: %w: no data and no path, or too long", state.ErrInvalid)
	}
	if a.Size == 0 {
		a.Size = uint32(len(a.Data))
	}
	if a.Created == 0 {
		a.Created = s.now()
	}
	var id uint32
	err := s.txn(ctx, func(q *txq) error {
		res, err := q.exec(`INSERT INTO IMAudio (fromId, toId, path, size, duration, created) VALUES (?, ?, ?, ?, ?, ?)`,
			a.From, a.To, a.Path, a.Size, a.Duration, a.Created)
		if err != nil {
			return err
		}
		n, err := res.LastInsertId()
		if err != nil {
			return err
		}
		id = uint32(n)
		if len(a.Data) == 0 {
			return nil
		}
		_, err = q.exec(`INSERT INTO tt_audio_data (audioId, data) VALUES (?, ?)`, id, a.Data)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mysqlstore: save audio: %w", err)
	}
	return id, nil
}

// Audio implements state.Store.
func (s *Store) Audio(ctx context.Context, id uint32) (state.Audio, error) {
	if err := s.guard(); err != nil {
		return state.Audio{}, err
	}
	a := state.Audio{ID: id}
	err := s.db.QueryRowContext(ctx, `SELECT a.fromId, a.toId, a.duration, a.size, COALESCE(a.path, ''), a.created, d.data
FROM IMAudio a LEFT JOIN tt_audio_data d ON d.audioId = a.id WHERE a.id = ?`, id).
		Scan(&a.From, &a.To, &a.Duration, &a.Size, &a.Path, &a.Created, &a.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return state.Audio{}, fmt.Errorf("mysqlstore: audio %d: %w", id, state.ErrNotFound)
	}
	if err != nil {
		return state.Audio{}, fmt.Errorf("mysqlstore: audio %d: %w", id, closedErr(err))
	}
	return a, nil
}
