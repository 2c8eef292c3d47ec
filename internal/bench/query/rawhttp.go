package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// rawConn is one keep-alive HTTP/1.1 connection of the load generator: it
// writes a GET and reads the answer with a minimal parser (status line,
// headers, a Content-Length body), as wrk does, so that the load
// generator's own CPU per request stays small beside the server's (the
// net/http client spends tens of microseconds per request in its
// connection goroutines). It refuses what it does not parse (a chunked or
// length-less body) rather than guess.
type rawConn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
	req  []byte
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{addr: addr, c: c, r: bufio.NewReaderSize(c, 16<<10), req: make([]byte, 0, 256)}, nil
}

func (rc *rawConn) Close() error { return rc.c.Close() }

// get requests path and returns the status code and the body's length.
func (rc *rawConn) get(path []byte) (int, int, error) {
	rc.req = append(rc.req[:0], "GET "...)
	rc.req = append(rc.req, path...)
	rc.req = append(rc.req, " HTTP/1.1\r\nHost: "...)
	rc.req = append(rc.req, rc.addr...)
	rc.req = append(rc.req, "\r\n\r\n"...)
	_ = rc.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := rc.c.Write(rc.req); err != nil {
		return 0, 0, err
	}
	line, err := rc.r.ReadSlice('\n')
	if err != nil {
		return 0, 0, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	length, closing := -1, false
	for {
		h, err := rc.r.ReadSlice('\n')
		if err != nil {
			return 0, 0, err
		}
		if len(h) <= 2 {
			break // the empty line
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, 0, fmt.Errorf("bad header line %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, 0, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, 0, fmt.Errorf("transfer encoding %q: not parsed by this load generator", value)
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			closing = true
		}
	}
	if length < 0 {
		return 0, 0, errors.New("an answer without Content-Length")
	}
	if _, err := rc.r.Discard(length); err != nil {
		return 0, 0, fmt.Errorf("read body: %w", err)
	}
	if closing {
		return status, length, io.EOF // the caller dials again
	}
	return status, length, nil
}
