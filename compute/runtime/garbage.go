package runtime

import (
	"context"
	"fmt"

	"github.com/sluicedata/sluice/compute/checkpoint"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// UnreachableState lists the state objects in a job's folder that no
// retained checkpoint reaches: tables and state manifests that neither the
// metadata of a retained checkpoint, nor a pinned savepoint, names. After a
// job has ended, the list must be empty (design invariant 5 kept the other
// way round: nothing unreachable is left behind).
func UnreachableState(ctx context.Context, jobFolder objstore.Storage) ([]string, error) {
	cs := checkpoint.NewStore(jobFolder, "job folder")
	ids, err := cs.List(ctx)
	if err != nil {
		return nil, err
	}
	pins, err := jobFolder.List(ctx, manifest.PinPrefix)
	if err != nil {
		return nil, err
	}
	pinned := map[uint64]bool{}
	for _, p := range pins {
		if id, ok := manifest.ParsePinName(p); ok {
			pinned[id] = true
		}
	}
	reachable := map[string]bool{}
	addManifest := func(name string) error {
		reachable[name] = true
		raw, err := jobFolder.ReadAll(ctx, name)
		if err != nil {
			return err
		}
		cp, err := manifest.DecodeCheckpoint(name, raw)
		if err != nil {
			return err
		}
		for _, level := range cp.Levels {
			for _, f := range level {
				reachable[f.Object] = true
			}
		}
		return nil
	}
	for _, id := range ids {
		md, err := cs.Read(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, h := range md.States {
			if err := addManifest(string(h.Handle.Data)); err != nil {
				return nil, fmt.Errorf("checkpoint %d: %w", id, err)
			}
		}
	}
	manifests, err := jobFolder.List(ctx, manifest.ManifestPrefix)
	if err != nil {
		return nil, err
	}
	for _, m := range manifests {
		if _, id, ok := manifest.ParseManifestName(m); ok && pinned[id] {
			if err := addManifest(m); err != nil {
				return nil, err
			}
		}
	}
	tables, err := jobFolder.List(ctx, manifest.SSTPrefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range append(manifests, tables...) {
		if !reachable[n] {
			out = append(out, n)
		}
	}
	return out, nil
}
