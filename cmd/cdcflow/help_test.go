package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCommandHelp: every command explains itself: "cdcflow help NAME" and
// "cdcflow NAME -h" print its summary, an example and its flags, with no
// sentinel default, and exit 0.
func TestCommandHelp(t *testing.T) {
	for name, c := range commands {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{{"help", name}, {name, "-h"}, {name, "--help"}} {
				var out, errOut bytes.Buffer
				if code := run(t.Context(), args, &out, &errOut); code != 0 {
					t.Fatalf("cdcflow %s: exit %d; want 0\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
				}
				text := out.String() + errOut.String()
				for _, want := range []string{"usage: cdcflow " + name, upperFirst(c.summary), "example:\n  cdcflow " + name} {
					if !strings.Contains(text, want) {
						t.Errorf("cdcflow %s prints no %q:\n%s", strings.Join(args, " "), want, text)
					}
				}
				if strings.Contains(text, "-1ns") {
					t.Errorf("cdcflow %s shows a sentinel default:\n%s", strings.Join(args, " "), text)
				}
			}
		})
	}
}
