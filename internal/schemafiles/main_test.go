package schemafiles

import (
	"testing"

	"github.com/cdcflow/cdcflow/internal/testenv"
)

func TestMain(m *testing.M) { testenv.MainVerifyNoLeaks(m) }
