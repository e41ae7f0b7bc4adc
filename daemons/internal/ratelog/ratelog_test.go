package ratelog

import (
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	var g Gate
	if !g.Allow(time.Hour) {
		t.Fatal("first call refused")
	}
	if g.Allow(time.Hour) {
		t.Fatal("second call within the interval allowed")
	}
	if !g.Allow(0) {
		t.Fatal("call after the interval refused")
	}
}
