package pgvalue

import (
	"bytes"
	"errors"
	"time"

	"github.com/cdcflow/cdcflow/capture"
)

// PostgreSQL prints dates and timestamps in DateStyle=ISO as
// "YYYY-MM-DD[ HH:MM:SS[.ffffff][±HH[:MM[:SS]]]][ BC]", with more than four year
// digits after 9999, and "infinity"/"-infinity". Values outside years 1-9999 do
// not fit Go's time.Time formatting, so capture hands them on as the text
// PostgreSQL printed.

var errDateTime = errors.New("invalid date/time syntax (DateStyle must be ISO)")

// dateParts is a parsed date: year, month, day, and whether the year has the
// four digits and no BC of years 1-9999.
type dateParts struct {
	year, month, day int
	inRange          bool
}

// parseDateParts parses "YYYY-MM-DD" at the start of s and returns the rest.
func parseDateParts(s []byte) (dateParts, []byte, error) {
	var d dateParts
	i := 0
	for i < len(s) && isDigit(s[i]) {
		if i < 9 { // years have at most 7 digits; do not overflow
			d.year = d.year*10 + int(s[i]-'0')
		}
		i++
	}
	if i < 4 || i > 9 || len(s) < i+6 || s[i] != '-' || s[i+3] != '-' {
		return d, nil, errDateTime
	}
	m, ok1 := twoDigits(s[i+1:])
	day, ok2 := twoDigits(s[i+4:])
	if !ok1 || !ok2 || m < 1 || m > 12 || day < 1 || day > 31 {
		return d, nil, errDateTime
	}
	d.month, d.day = m, day
	d.inRange = i == 4 && d.year >= 1
	if d.inRange && day > daysIn(time.Month(m), d.year) {
		return d, nil, errDateTime
	}
	return d, s[i+6:], nil
}

func twoDigits(s []byte) (int, bool) {
	if len(s) < 2 || !isDigit(s[0]) || !isDigit(s[1]) {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// cutBC removes a trailing " BC" and reports whether it was there.
func cutBC(s []byte) ([]byte, bool) {
	return bytes.CutSuffix(s, []byte(" BC"))
}

func isInfinity(s []byte) bool {
	return string(s) == "infinity" || string(s) == "-infinity"
}

// parseDate validates a date and returns it as PostgreSQL printed it:
// "2026-11-23", "4713-01-01 BC", "infinity".
func parseDate(s []byte) (string, error) {
	if isInfinity(s) {
		return string(s), nil
	}
	body, _ := cutBC(s)
	_, rest, err := parseDateParts(body)
	if err != nil {
		return "", err
	}
	if len(rest) != 0 {
		return "", errDateTime
	}
	return string(s), nil
}

// clock is a parsed time of day.
type clock struct {
	hour, min, sec, nsec int
}

// parseClock parses "HH:MM:SS[.f{1,6}]" at the start of s and returns the rest.
func parseClock(s []byte) (clock, []byte, error) {
	var c clock
	h, ok1 := twoDigits(s)
	if !ok1 || len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return c, nil, errDateTime
	}
	m, ok2 := twoDigits(s[3:])
	sec, ok3 := twoDigits(s[6:])
	if !ok2 || !ok3 || h > 24 || m > 59 || sec > 60 || h == 24 && (m != 0 || sec != 0) {
		return c, nil, errDateTime
	}
	c.hour, c.min, c.sec = h, m, sec
	rest := s[8:]
	if len(rest) > 0 && rest[0] == '.' {
		i := 1
		scale := 100_000_000
		for i < len(rest) && isDigit(rest[i]) {
			if i > 6 {
				return c, nil, errDateTime
			}
			c.nsec += int(rest[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return c, nil, errDateTime
		}
		if c.hour == 24 && c.nsec != 0 {
			return c, nil, errDateTime
		}
		rest = rest[i:]
	}
	return c, rest, nil
}

// parseOffset parses a UTC offset "±HH[:MM[:SS]]" that makes up all of s and
// returns it in seconds east of UTC.
func parseOffset(s []byte) (int, error) {
	if len(s) < 3 || s[0] != '+' && s[0] != '-' {
		return 0, errDateTime
	}
	h, ok := twoDigits(s[1:])
	if !ok || h > 15 {
		return 0, errDateTime
	}
	secs := h * 3600
	rest := s[3:]
	for unit := 60; len(rest) > 0; unit /= 60 {
		n, ok := twoDigits(rest[1:])
		if unit == 0 || rest[0] != ':' || !ok || n > 59 {
			return 0, errDateTime
		}
		secs += n * unit
		rest = rest[3:]
	}
	if s[0] == '-' {
		secs = -secs
	}
	return secs, nil
}

// parseTimestamp parses a timestamp without time zone into a capture.LocalTime,
// or returns the printed text for infinity and years outside 1-9999.
func parseTimestamp(s []byte) (any, error) {
	if isInfinity(s) {
		return string(s), nil
	}
	body, bc := cutBC(s)
	d, rest, err := parseDateParts(body)
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 || rest[0] != ' ' {
		return nil, errDateTime
	}
	c, rest, err := parseClock(rest[1:])
	if err != nil || len(rest) != 0 || c.hour == 24 || c.sec == 60 {
		return nil, errDateTime
	}
	if bc || !d.inRange {
		return string(s), nil
	}
	return capture.LocalTime{Time: time.Date(d.year, time.Month(d.month), d.day, c.hour, c.min, c.sec, c.nsec, time.UTC)}, nil
}

// parseTimestamptz parses a timestamp with time zone into a time.Time in UTC,
// or returns the printed text for infinity and years outside 1-9999.
func parseTimestamptz(s []byte) (any, error) {
	if isInfinity(s) {
		return string(s), nil
	}
	body, bc := cutBC(s)
	d, rest, err := parseDateParts(body)
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 || rest[0] != ' ' {
		return nil, errDateTime
	}
	c, rest, err := parseClock(rest[1:])
	if err != nil || c.hour == 24 || c.sec == 60 {
		return nil, errDateTime
	}
	off, err := parseOffset(rest)
	if err != nil {
		return nil, err
	}
	if bc || !d.inRange {
		return string(s), nil
	}
	t := time.Date(d.year, time.Month(d.month), d.day, c.hour, c.min, c.sec, c.nsec, time.UTC)
	return t.Add(-time.Duration(off) * time.Second), nil
}

// parseTime validates a time of day and returns it as printed, which is already
// ISO 8601: "15:04:05", "15:04:05.123456", "24:00:00".
func parseTime(s []byte) (string, error) {
	_, rest, err := parseClock(s)
	if err != nil {
		return "", err
	}
	if len(rest) != 0 {
		return "", errDateTime
	}
	return string(s), nil
}

// parseTimetz validates a time with time zone and returns it in ISO 8601 with
// the offset as ±HH:MM (±HH:MM:SS when it has seconds): "15:04:05.1+05:30".
func parseTimetz(s []byte) (string, error) {
	_, rest, err := parseClock(s)
	if err != nil {
		return "", err
	}
	if _, err := parseOffset(rest); err != nil {
		return "", err
	}
	if len(rest) == 3 { // "+HH": add the minutes
		return string(s) + ":00", nil
	}
	return string(s), nil
}
