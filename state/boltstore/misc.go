package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"teamtalk/state"
)

func errorsIsNotFound(err error) bool { return errors.Is(err, state.ErrNotFound) }

// SetDeviceToken implements state.Store.
func (s *Store) SetDeviceToken(ctx context.Context, userID uint32, ct state.ClientType, token string) error {
	if userID == 0 || len(token) > 1024 {
		return fmt.Errorf("boltstore: device token: %w: user %d, %d-byte token", state.ErrInvalid, userID, len(token))
	}
	err := s.update(ctx, func(w *wtx) error {
		uk := key(userID)
		// Forget the user's previous token.
		if old := w.get(bTokens, uk); len(old) > 1 {
			ot := []byte(string(old[1:]))
			if u32(w.get(bTokenOwners, ot)) == userID {
				if err := w.del(bTokenOwners, ot); err != nil {
					return err
				}
			}
			if err := w.del(bTokens, uk); err != nil {
				return err
			}
		}
		if token == "" {
			return nil
		}
		// A token belongs to one user: take it from its previous owner.
		if prev := u32(w.get(bTokenOwners, []byte(token))); prev != 0 && prev != userID {
			pk := key(prev)
			if pv := w.get(bTokens, pk); len(pv) > 1 && string(pv[1:]) == token {
				if err := w.del(bTokens, pk); err != nil {
					return err
				}
			}
		}
		if err := w.put(bTokens, uk, append([]byte{byte(ct)}, token...)); err != nil {
			return err
		}
		return w.put(bTokenOwners, []byte(token), putU32(userID))
	})
	if err != nil {
		return fmt.Errorf("boltstore: device token of %d: %w", userID, err)
	}
	return nil
}

// DeviceTokens implements state.Store.
func (s *Store) DeviceTokens(ctx context.Context, userIDs []uint32) ([]state.DeviceToken, error) {
	var out []state.DeviceToken
	err := s.view(ctx, func(r *rtx) error {
		for _, id := range userIDs {
			v := r.get(bTokens, key(id))
			if len(v) < 2 {
				continue
			}
			dt := state.DeviceToken{UserID: id, ClientType: state.ClientType(v[0]), Token: string(v[1:])}
			u, err := r.user(id)
			if err != nil && !errorsIsNotFound(err) {
				return err
			}
			dt.PushShield = u.PushShield
			out = append(out, dt)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: device tokens: %w", err)
	}
	return out, nil
}

// fileRecord is the stored form of an offline file.
type fileRecord struct {
	From    uint32 `json:"from"`
	To      uint32 `json:"to"`
	TaskID  string `json:"task_id"`
	Name    string `json:"name"`
	Size    uint32 `json:"size"`
	Created uint32 `json:"created"`
}

// AddOfflineFile implements state.Store.
func (s *Store) AddOfflineFile(ctx context.Context, f state.OfflineFile) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("boltstore: add offline file: %w", err)
	}
	if f.Created == 0 {
		f.Created = s.now()
	}
	err := s.update(ctx, func(w *wtx) error {
		n, err := w.nextID(bFiles)
		if err != nil {
			return err
		}
		k := binary.BigEndian.AppendUint64(key(f.To, f.Created), uint64(n))
		return w.putJSON(bFiles, k, fileRecord(f))
	})
	if err != nil {
		return fmt.Errorf("boltstore: add offline file: %w", err)
	}
	return nil
}

// OfflineFiles implements state.Store.
func (s *Store) OfflineFiles(ctx context.Context, userID uint32) ([]state.OfflineFile, error) {
	var out []state.OfflineFile
	err := s.view(ctx, func(r *rtx) error {
		return r.prefix(bFiles, key(userID), func(k, _ []byte) (bool, error) {
			var rec fileRecord
			if _, err := r.getJSON(bFiles, k, &rec); err != nil {
				return false, err
			}
			out = append(out, state.OfflineFile(rec))
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: offline files of %d: %w", userID, err)
	}
	return out, nil
}

// DeleteOfflineFile implements state.Store.
func (s *Store) DeleteOfflineFile(ctx context.Context, from, to uint32, taskID string) error {
	err := s.update(ctx, func(w *wtx) error {
		var del [][]byte
		if err := w.prefix(bFiles, key(to), func(k, _ []byte) (bool, error) {
			var rec fileRecord
			if _, err := w.getJSON(bFiles, k, &rec); err != nil {
				return false, err
			}
			if rec.From == from && rec.TaskID == taskID {
				del = append(del, append([]byte(nil), k...))
			}
			return true, nil
		}); err != nil {
			return err
		}
		if len(del) == 0 {
			return fmt.Errorf("offline file %q from %d: %w", taskID, from, state.ErrNotFound)
		}
		for _, k := range del {
			if err := w.del(bFiles, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete offline file: %w", err)
	}
	return nil
}

// Audio records are u32 from | u32 to | u32 duration | u32 size | u32 created
// | u16 path length | path | data.
const audioHeader = 22

// SaveAudio implements state.Store.
func (s *Store) SaveAudio(ctx context.Context, a state.Audio) (uint32, error) {
	if len(a.Path) > 0xffff || (len(a.Data) == 0 && a.Path == "") {
		return 0, fmt.Errorf("boltstore: save audio: %w: no data and no path", state.ErrInvalid)
	}
	if a.Size == 0 {
		a.Size = uint32(len(a.Data))
	}
	if a.Created == 0 {
		a.Created = s.now()
	}
	v := make([]byte, 0, audioHeader+len(a.Path)+len(a.Data))
	for _, n := range []uint32{a.From, a.To, a.Duration, a.Size, a.Created} {
		v = binary.BigEndian.AppendUint32(v, n)
	}
	v = binary.BigEndian.AppendUint16(v, uint16(len(a.Path)))
	v = append(append(v, a.Path...), a.Data...)
	var id uint32
	err := s.update(ctx, func(w *wtx) error {
		var err error
		if id, err = w.nextID(bAudio); err != nil {
			return err
		}
		return w.put(bAudio, key(id), v)
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: save audio: %w", err)
	}
	return id, nil
}

// Audio implements state.Store.
func (s *Store) Audio(ctx context.Context, id uint32) (state.Audio, error) {
	var a state.Audio
	err := s.view(ctx, func(r *rtx) error {
		v := r.get(bAudio, key(id))
		if v == nil {
			return fmt.Errorf("audio %d: %w", id, state.ErrNotFound)
		}
		if len(v) < audioHeader {
			return fmt.Errorf("audio %d: short record", id)
		}
		pl := int(binary.BigEndian.Uint16(v[20:]))
		if len(v) < audioHeader+pl {
			return fmt.Errorf("audio %d: short path", id)
		}
		a = state.Audio{
			ID: id, From: u32(v), To: u32(v[4:]), Duration: u32(v[8:]), Size: u32(v[12:]), Created: u32(v[16:]),
			Path: string(v[audioHeader : audioHeader+pl]),
			Data: append([]byte(nil), v[audioHeader+pl:]...),
		}
		return nil
	})
	if err != nil {
		return state.Audio{}, fmt.Errorf("boltstore: audio: %w", err)
	}
	return a, nil
}
