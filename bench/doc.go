// Package bench is Sluice's benchmark harness. Each benchmark is a config
// struct and a Run function with no globals (compare pebble's bench package),
// driven by `sluice bench ...` and `make bench`. Nothing imports bench.
//
// Figures are throughput in events per CPU-second (user+system time of the
// whole process, so garbage collection and every goroutine count), wall-clock
// events per second, and peak resident memory. Each case runs once to warm up
// and then Runs times; the median run is reported. Machines here are shared
// and noisy, so compare cases measured in the same invocation as ratios.
//
// Benchmarks: RunNexmark (queries on the in-memory backend), RunStatestore
// (the LSM against Pebble, remote reads, checkpoint cost, recovery,
// rescale), and the checkpoint benchmark (q5/q7/q8 on the LSM backend with
// periodic checkpoints against the in-memory backend, checkpoint duration
// and size, time from a failure to the first output after recovery).
//
//	rep, err := bench.RunNexmark(ctx, bench.NexmarkConfig{Queries: []string{"q1"}, Events: 10_000_000}, os.Stdout)
package bench
