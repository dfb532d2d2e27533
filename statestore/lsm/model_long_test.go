//go:build long

package lsm

import (
	"fmt"
	"testing"
)

// TestModelSoak runs the model test for longer, with and without faults:
// go test -tags long -run TestModelSoak ./statestore/lsm
func TestModelSoak(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			p := 0.0
			if seed%2 == 1 {
				p = 0.02
			}
			runModel(t, 1000+seed, 20000, p, seed%4 == 2)
		})
	}
}
