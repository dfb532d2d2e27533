// Package control will hold Sluice's control plane: the etcd-backed
// coordinator that elects a leader, stores jobs, registers workers under
// leases, schedules subtasks, coordinates checkpoints, recovers from failures,
// rescales, autoscales, and serves the ConnectRPC JobService.
//
// Planned subpackages (see docs/design.md): cluster (etcd session, election,
// leases), coordinator (job lifecycle, checkpoints, rescaling), jobapi
// (ConnectRPC handlers) and controltest (embedded etcd and fake workers).
//
// Nothing is here yet: `sluice run` drives the runtime (package
// compute/runtime) directly in one process. Imports flow
// cmd -> control -> compute -> {statestore, connectors, formats}.
package control
