package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"teamtalk/state"
)

// SaveConcurrently is a save benchmark's timed part: savers goroutines save
// b.N one-to-one messages of content in all, saver w on its own pair
// (2w+1 to 2w+2) as distinct conversations do. The timer runs only while
// they do.
func SaveConcurrently(b *testing.B, s state.Store, savers int, content []byte) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for w := range savers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := uint32(2*w+1), uint32(2*w+2)
			for next.Add(1) <= int64(b.N) {
				if _, err := s.SaveMessage(context.Background(), state.NewMessage{From: from, To: to, Type: state.MsgSingleText, Content: content}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
}
