package twophase

import (
	"context"
)

// Op names a Store operation, for fault injection.
type Op string

// The operations WithFaults reports.
const (
	OpCreate  Op = "create"
	OpWrite   Op = "write"
	OpFinish  Op = "finish"
	OpPublish Op = "publish"
	OpExists  Op = "exists"
	OpList    Op = "list"
	OpDelete  Op = "delete"
)

// Fault decides the fate of one Store operation on name. It is called
// before the operation (done=false): an error fails the operation without
// running it. If the operation ran and succeeded, it is called again
// (done=true): an error there is returned although the operation took
// effect, like a crash after the request reached the server. A Fault may
// also block, to simulate a stall, until ctx is done (for create and
// write, which take no context, ctx is context.Background()). It must be
// safe for concurrent use.
type Fault func(ctx context.Context, op Op, name string, done bool) error

// WithFaults wraps s so that f decides the fate of every operation. For
// tests, and for the end-to-end fault-injection tests of the runtime.
func WithFaults(s Store, f Fault) Store { return &faultStore{s: s, f: f} }

type faultStore struct {
	s Store
	f Fault
}

func (fs *faultStore) String() string { return fs.s.String() }
func (fs *faultStore) Close() error   { return fs.s.Close() }

func (fs *faultStore) around(ctx context.Context, op Op, name string, run func() error) error {
	if err := fs.f(ctx, op, name, false); err != nil {
		return err
	}
	if err := run(); err != nil {
		return err
	}
	return fs.f(ctx, op, name, true)
}

func (fs *faultStore) Create(name string) (Object, error) {
	var o Object
	err := fs.around(context.Background(), OpCreate, name, func() (err error) {
		o, err = fs.s.Create(name)
		return err
	})
	if err != nil {
		if o != nil {
			o.Abort()
		}
		return nil, err
	}
	return &faultObject{fs: fs, o: o, name: name}, nil
}

type faultObject struct {
	fs   *faultStore
	o    Object
	name string
}

func (o *faultObject) Write(p []byte) (n int, err error) {
	err = o.fs.around(context.Background(), OpWrite, o.name, func() (err error) {
		n, err = o.o.Write(p)
		return err
	})
	return n, err
}

func (o *faultObject) Finish(ctx context.Context) error {
	err := o.fs.around(ctx, OpFinish, o.name, func() error { return o.o.Finish(ctx) })
	o.o.Abort() // no-op after a successful Finish
	return err
}

func (o *faultObject) Abort() { o.o.Abort() }

func (fs *faultStore) Publish(ctx context.Context, dst, src string) error {
	return fs.around(ctx, OpPublish, src, func() error { return fs.s.Publish(ctx, dst, src) })
}

func (fs *faultStore) Exists(ctx context.Context, name string) (ok bool, err error) {
	err = fs.around(ctx, OpExists, name, func() (err error) {
		ok, err = fs.s.Exists(ctx, name)
		return err
	})
	return ok, err
}

func (fs *faultStore) List(ctx context.Context, prefix string) (names []string, err error) {
	err = fs.around(ctx, OpList, prefix, func() (err error) {
		names, err = fs.s.List(ctx, prefix)
		return err
	})
	return names, err
}

func (fs *faultStore) Delete(ctx context.Context, name string) error {
	return fs.around(ctx, OpDelete, name, func() error { return fs.s.Delete(ctx, name) })
}
