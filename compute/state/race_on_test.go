//go:build race

package state

// raceEnabled skips allocation budgets: the race detector allocates.
const raceEnabled = true
