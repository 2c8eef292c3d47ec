package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// apiError is an answer other than 200: its status and the JSON body
// {"error": {"code", "message", ...details}}.
type apiError struct {
	status  int
	code    string
	message string
	details map[string]any // more fields of the error object
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "bad_request", format, args...)
}

// classify turns an error of a read into the answer: Redis unreachable,
// loading, failing over or too slow is 503 (the client may retry); anything
// else is 500.
func classify(err error) *apiError {
	if ae, ok := errors.AsType[*apiError](err); ok {
		return ae
	}
	if unavailable(err) {
		return errorf(http.StatusServiceUnavailable, "unavailable", "the views' Redis is unavailable, retry: %v", err)
	}
	return errorf(http.StatusInternalServerError, "internal", "read the views: %v", err)
}

// unavailable reports whether err says Redis cannot answer now.
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"LOADING", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "connection pool timeout", "no generation has been swapped in"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away: nothing to do
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"code": e.code, "message": e.message}
	for k, v := range e.details {
		body[k] = v
	}
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, e.status, map[string]any{"error": body})
}
