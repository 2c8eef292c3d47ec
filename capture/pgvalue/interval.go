package pgvalue

import (
	"errors"
)

var errInterval = errors.New("invalid interval syntax (IntervalStyle must be postgres)")

// parseInterval converts an interval printed in IntervalStyle=postgres, e.g.
// "1 year 2 mons 3 days 04:05:06.5" or "-1 days +02:00:00", into an ISO 8601
// duration exactly as PostgreSQL's own IntervalStyle=iso_8601 prints it:
// "P1Y2M3DT4H5M6.5S", "P-1DT2H", "PT0S" for zero. Each part keeps its own sign,
// as in PostgreSQL. "infinity" and "-infinity" (PostgreSQL 17) stay as printed.
//
// It works on the digits as text, so no value PostgreSQL can print overflows.
func parseInterval(s []byte) (string, error) {
	if isInfinity(s) {
		return string(s), nil
	}
	if len(s) == 0 {
		return "", errInterval
	}
	var (
		out     = make([]byte, 0, len(s)+4)
		units   = [...]string{"year", "mon", "day"}
		letters = [...]byte{'Y', 'M', 'D'}
		next    = 0 // index of the next unit allowed
		rest    = s
	)
	out = append(out, 'P')
	for len(rest) > 0 {
		tok, after := cutSpace(rest)
		if isClockToken(tok) {
			if len(after) != 0 {
				return "", errInterval
			}
			var err error
			if out, err = appendISOClock(out, tok); err != nil {
				return "", err
			}
			rest = nil
			break
		}
		neg, digits, ok := signedDigits(tok)
		if !ok || len(after) == 0 {
			return "", errInterval
		}
		unit, after2 := cutSpace(after)
		matched := false
		for next < len(units) {
			u := units[next]
			next++
			if string(unit) == u || string(unit) == u+"s" {
				if !isZero(digits) {
					if neg {
						out = append(out, '-')
					}
					out = append(out, trimZeros(digits)...)
					out = append(out, letters[next-1])
				}
				matched = true
				break
			}
		}
		if !matched {
			return "", errInterval
		}
		rest = after2
	}
	if len(out) == 1 {
		return "PT0S", nil
	}
	return string(out), nil
}

// appendISOClock appends the time part "[+-]H+:MM:SS[.f]" as "T…H…M…S",
// leaving out zero parts; the sign applies to each of them.
func appendISOClock(out, tok []byte) ([]byte, error) {
	neg := false
	if tok[0] == '-' || tok[0] == '+' {
		neg = tok[0] == '-'
		tok = tok[1:]
	}
	h := 0
	for h < len(tok) && isDigit(tok[h]) {
		h++
	}
	// isClockToken checked the shape "digits:MM:SS[.digits]".
	hours, mins, secs := tok[:h], tok[h+1:h+3], tok[h+4:h+6]
	frac := tok[h+6:]
	if len(frac) > 0 {
		frac = frac[1:]
		for len(frac) > 0 && frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
	}
	if mins[0] > '5' || secs[0] > '5' {
		return nil, errInterval
	}
	if isZero(hours) && isZero(mins) && isZero(secs) && len(frac) == 0 {
		return out, nil
	}
	out = append(out, 'T')
	for _, p := range [...]struct {
		digits []byte
		letter byte
	}{{hours, 'H'}, {mins, 'M'}} {
		if !isZero(p.digits) {
			if neg {
				out = append(out, '-')
			}
			out = append(out, trimZeros(p.digits)...)
			out = append(out, p.letter)
		}
	}
	if !isZero(secs) || len(frac) > 0 {
		if neg {
			out = append(out, '-')
		}
		out = append(out, trimZeros(secs)...)
		if len(frac) > 0 {
			out = append(out, '.')
			out = append(out, frac...)
		}
		out = append(out, 'S')
	}
	return out, nil
}

// isClockToken reports whether tok is "[+-]digits:DD:DD[.digits]".
func isClockToken(tok []byte) bool {
	if len(tok) > 0 && (tok[0] == '-' || tok[0] == '+') {
		tok = tok[1:]
	}
	h := 0
	for h < len(tok) && isDigit(tok[h]) {
		h++
	}
	if h == 0 || len(tok) < h+6 || tok[h] != ':' || tok[h+3] != ':' ||
		!isDigit(tok[h+1]) || !isDigit(tok[h+2]) || !isDigit(tok[h+4]) || !isDigit(tok[h+5]) {
		return false
	}
	frac := tok[h+6:]
	if len(frac) == 0 {
		return true
	}
	if frac[0] != '.' || len(frac) == 1 {
		return false
	}
	for _, c := range frac[1:] {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// cutSpace splits s at its first space.
func cutSpace(s []byte) (tok, rest []byte) {
	for i, c := range s {
		if c == ' ' {
			return s[:i], s[i+1:]
		}
	}
	return s, nil
}

// signedDigits splits "[+-]digits".
func signedDigits(tok []byte) (neg bool, digits []byte, ok bool) {
	if len(tok) > 0 && (tok[0] == '-' || tok[0] == '+') {
		neg = tok[0] == '-'
		tok = tok[1:]
	}
	if len(tok) == 0 {
		return false, nil, false
	}
	for _, c := range tok {
		if !isDigit(c) {
			return false, nil, false
		}
	}
	return neg, tok, true
}

func isZero(digits []byte) bool {
	for _, c := range digits {
		if c != '0' {
			return false
		}
	}
	return true
}

// trimZeros removes leading zeros, keeping at least one digit.
func trimZeros(digits []byte) []byte {
	for len(digits) > 1 && digits[0] == '0' {
		digits = digits[1:]
	}
	return digits
}
