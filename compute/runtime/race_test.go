//go:build race

package runtime_test

// raceEnabled scales tests down under the race detector, which slows the
// engine by an order of magnitude.
const raceEnabled = true
