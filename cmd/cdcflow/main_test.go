package main

import (
	"testing"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

// TestMain lets the package's integration tests share the harness's servers
// (testenv.Postgres and friends need it).
func TestMain(m *testing.M) { testenv.Main(m) }
