package operator

// SetPointDeleteChunks sets the most chunks a join deletes one by one
// (pointDeleteChunks) and returns a function that restores it: with 0 every
// cleared window is one range deletion.
func SetPointDeleteChunks(n uint32) (restore func()) {
	old := pointDeleteChunks
	pointDeleteChunks = n
	return func() { pointDeleteChunks = old }
}
