package boltstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"teamtalk/state"
)

// BenchmarkGroupPushReads measures the reads of a group message's push
// round for a 500-member group: the group with its members (the shield
// step) and the device tokens of every member (one in five has one).
//
//	go test -run '^$' -bench GroupPushReads ./state/boltstore
func BenchmarkGroupPushReads(b *testing.B) {
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "im.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	d, err := s.CreateDepart(ctx, state.NewDepart{Name: "dev"})
	if err != nil {
		b.Fatal(err)
	}
	nus := make([]state.NewUser, 500)
	for i := range nus {
		nus[i] = state.NewUser{Name: fmt.Sprintf("u%d", i), Password: "pw", DepartID: d.ID}
	}
	us, err := s.ImportUsers(ctx, nus)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]uint32, len(us))
	for i, u := range us {
		ids[i] = u.ID
		if i%5 == 0 {
			if err := s.SetDeviceToken(ctx, u.ID, state.ClientAndroid, fmt.Sprintf("android:t%d", i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	g, err := s.CreateGroup(ctx, state.NewGroup{Name: "g", Creator: ids[0], Type: state.GroupNormal, Members: ids})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("group", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Group(ctx, g.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tokens", func(b *testing.B) {
		for b.Loop() {
			ts, err := s.DeviceTokens(ctx, ids)
			if err != nil || len(ts) != 100 {
				b.Fatalf("%d tokens, %v", len(ts), err)
			}
		}
	})
}
