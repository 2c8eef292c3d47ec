package kafkatx

import (
	"errors"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestWatchCountsFailures(t *testing.T) {
	boom := errors.New("connection reset")
	tests := []struct {
		name string
		hook func(w *Watch, err error)
	}{
		{"connect", func(w *Watch, err error) { w.OnBrokerConnect(kgo.BrokerMetadata{}, 0, nil, err) }},
		{"write", func(w *Watch, err error) { w.OnBrokerWrite(kgo.BrokerMetadata{}, 0, 0, 0, 0, err) }},
		{"read", func(w *Watch, err error) { w.OnBrokerRead(kgo.BrokerMetadata{}, 0, 0, 0, 0, err) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w Watch
			tt.hook(&w, nil)
			if n := w.Failures(); n != 0 {
				t.Fatalf("Failures() after a success = %d; want 0", n)
			}
			tt.hook(&w, boom)
			tt.hook(&w, boom)
			if n := w.Failures(); n != 2 {
				t.Errorf("Failures() after two failures = %d; want 2", n)
			}
		})
	}
}

// TestWatchConcurrent: kgo calls the hooks from every broker's goroutines.
func TestWatchConcurrent(t *testing.T) {
	var w Watch
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				w.OnBrokerRead(kgo.BrokerMetadata{}, 0, 0, 0, 0, errors.New("eof"))
			}
		})
	}
	wg.Wait()
	if n := w.Failures(); n != 800 {
		t.Errorf("Failures() = %d; want 800", n)
	}
}
