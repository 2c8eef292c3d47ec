package services

import (
	"context"
	"testing"
	"time"
)

func contextWithDeadline(t *testing.T, d time.Time) (context.Context, context.CancelFunc) {
	return context.WithDeadline(t.Context(), d)
}
