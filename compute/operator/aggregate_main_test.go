package operator_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines. (It is the package's only TestMain;
// other test files of the package must not declare one.)
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
