package kafka

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestIsFenced(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "producer fenced", err: fmt.Errorf("commit: %w", kerr.ProducerFenced), want: true},
		{name: "invalid producer epoch", err: fmt.Errorf("end transaction: %w", kerr.InvalidProducerEpoch), want: true},
		{name: "commit unknown around a fence", err: &CommitUnknownError{Err: kerr.ProducerFenced}, want: true},
		{name: "another broker error", err: kerr.NotLeaderForPartition, want: false},
		{name: "not a kafka error", err: errors.New("boom"), want: false},
		{name: "nil", err: nil, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsFenced(tt.err); got != tt.want {
				t.Errorf("IsFenced(%v) = %v; want %v", tt.err, got, tt.want)
			}
		})
	}
}
