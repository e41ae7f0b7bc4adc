package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"teamtalk/state"
)

func openTest(t *testing.T, opt Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "im.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestCommitterBatchSemantics checks how one write's outcome affects the
// others sharing its transaction.
func TestCommitterBatchSemantics(t *testing.T) {
	errClean := errors.New("refused before writing")
	tests := []struct {
		name      string
		middle    func(w *wtx) error
		wantOther bool // the other writes of the batch are committed
	}{
		{"clean refusal keeps the others", func(w *wtx) error { return errClean }, true},
		{"failure after a write aborts the batch", func(w *wtx) error {
			if err := w.put(bMeta, []byte("x"), []byte("y")); err != nil {
				return err
			}
			return errClean
		}, false},
		{"panic aborts the batch and the committer survives", func(w *wtx) error {
			_ = w.put(bMeta, []byte("x"), []byte("y"))
			panic("boom")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, Options{NoSync: true})
			// Hold the committer so the three writes land in one batch.
			hold, release := make(chan struct{}), make(chan struct{})
			go s.update(context.Background(), func(w *wtx) error { close(hold); <-release; return nil })
			<-hold
			var wg sync.WaitGroup
			errs := make([]error, 3)
			fns := []func(w *wtx) error{
				func(w *wtx) error { return w.put(bMeta, []byte("a"), []byte("1")) },
				tt.middle,
				func(w *wtx) error { return w.put(bMeta, []byte("b"), []byte("2")) },
			}
			for i, fn := range fns {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = s.update(context.Background(), fn) }()
			}
			for len(s.queue) < 3 {
				// wait until all three are queued behind the held write
				runtimeGosched()
			}
			close(release)
			wg.Wait()
			if errs[1] == nil {
				t.Fatal("the failing write reported success")
			}
			if (errs[0] == nil) != tt.wantOther || (errs[2] == nil) != tt.wantOther {
				t.Fatalf("other writes: %v, %v; want committed=%v", errs[0], errs[2], tt.wantOther)
			}
			var a, b, x []byte
			_ = s.view(context.Background(), func(r *rtx) error {
				a, b, x = r.get(bMeta, []byte("a")), r.get(bMeta, []byte("b")), r.get(bMeta, []byte("x"))
				return nil
			})
			if (a != nil) != tt.wantOther || (b != nil) != tt.wantOther || x != nil {
				t.Fatalf("stored a=%q b=%q x=%q", a, b, x)
			}
			// The committer still works.
			if err := s.update(context.Background(), func(w *wtx) error { return w.put(bMeta, []byte("c"), []byte("3")) }); err != nil {
				t.Fatal(err)
			}
			if st := s.Stats(); st.MaxBatch < 3 {
				t.Fatalf("max batch %d, want the three writes together", st.MaxBatch)
			}
		})
	}
}

func TestCanceledWriteIsNotRun(t *testing.T) {
	s := openTest(t, Options{NoSync: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := s.update(ctx, func(w *wtx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("canceled write: err %v, ran %v", err, ran)
	}
}

func TestCloseDrainsQueuedWrites(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "im.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.SaveMessage(context.Background(), state.NewMessage{From: 1, To: 2, Type: state.MsgSingleText, Content: []byte{byte(i)}})
			errs <- err
		}()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	saved := 0
	for err := range errs {
		switch {
		case err == nil:
			saved++
		case !errors.Is(err, state.ErrClosed):
			t.Fatalf("write during close: %v", err)
		}
	}
	s2, err := Open(s.Path(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if id, _ := s2.LatestMsgID(context.Background(), 1, state.SessionSingle, 2); int(id) != saved {
		t.Fatalf("%d writes succeeded, %d stored", saved, id)
	}
}

func runtimeGosched() { runtime.Gosched() }
