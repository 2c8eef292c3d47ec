package capture

import "testing"

func TestConfirmable(t *testing.T) {
	tests := []struct {
		name string
		msgs []Message
		want LSN
	}{
		{"empty", nil, 0},
		{"inside a transaction", []Message{&Begin{}, &Change{}, &Change{}}, 0},
		{"commit", []Message{&Begin{}, &Change{}, &Commit{EndLSN: 9}}, 9},
		{"commit then the next begin", []Message{&Commit{EndLSN: 9}, &Begin{}, &Change{}}, 9},
		{"last of two commits", []Message{&Commit{EndLSN: 9}, &Begin{}, &Commit{EndLSN: 20}}, 20},
		{"heartbeat after a commit", []Message{&Commit{EndLSN: 9}, &Marker{Kind: MarkerHeartbeat, LSN: 30}}, 30},
		{"commit after a heartbeat", []Message{&Marker{Kind: MarkerHeartbeat, LSN: 5}, &Commit{EndLSN: 9}}, 9},
		{"snapshot markers confirm nothing", []Message{&Marker{Kind: MarkerSnapshotBegin, LSN: 7}, &Marker{Kind: MarkerSnapshotEnd, LSN: 8}}, 0},
		{"connected confirms nothing", []Message{&Connected{StartLSN: 4}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Confirmable(tt.msgs); got != tt.want {
				t.Errorf("Confirmable = %v; want %v", got, tt.want)
			}
		})
	}
}
