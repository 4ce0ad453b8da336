package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/store"
	"gocloud.dev/blob"
)

// check looks the key up in the target; absent keys go on to be copied.
func (r *run) check(ctx context.Context, it item, out chan<- item) error {
	r.t.note(evCheck, 0)
	var attrs *blob.Attributes
	err := r.retry(ctx, slog.String("key", it.key), func() error {
		var err error
		attrs, err = r.o.Target.Attributes(ctx, it.key)
		return err
	})
	switch {
	case err == nil && it.extra:
		r.record(it, outcome{kind: outPresent})
	case err == nil && r.o.Checksum && !r.o.DryRun && r.o.Origin != nil:
		it.act = actVerify
		return send(ctx, out, it)
	case err == nil:
		o := r.present(it, attrs.Size)
		if r.o.Checksum && !r.o.DryRun && len(it.md5) > 0 && len(attrs.MD5) > 0 {
			o.compared, o.differs = true, !bytes.Equal(it.md5, attrs.MD5)
		}
		r.record(it, o)
	case store.IsNotFound(err):
		it.act = actCopy
		return send(ctx, out, it)
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return r.keyFailed(it, &sideError{side: reasonTarget, err: err})
	}
	return nil
}

// present is the outcome of a key found in the target with targetSize.
func (r *run) present(it item, targetSize int64) outcome {
	return outcome{kind: outPresent, bytes: targetSize, sizeDiffers: r.o.CompareSize && it.size >= 0 && it.size != targetSize}
}

// transfer copies (or verifies) one key; reserved bytes of the in-flight
// budget are held for it.
func (r *run) transfer(ctx context.Context, it item, reserved int64) error {
	if it.act == actVerify {
		return r.verify(ctx, it)
	}
	if r.o.DryRun {
		r.record(it, outcome{kind: outMissing, bytes: max(it.size, 0)})
		return nil
	}
	var res mirror.Result
	err := r.retry(ctx, slog.String("key", it.key), func() error {
		var err error
		res, err = r.copy(ctx, it, reserved)
		return err
	})
	switch {
	case err == nil && res.Stored:
		r.record(it, outcome{kind: outCopied, bytes: res.Bytes, sizeDiffers: r.o.CompareSize && it.size >= 0 && it.size != res.Bytes})
	case err == nil: // created meanwhile by someone else: create-only lost
		r.record(it, outcome{kind: outLostRace, bytes: max(it.size, 0)})
	case errors.Is(err, mirror.ErrNotFound):
		r.record(it, outcome{kind: outVanished})
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return r.keyFailed(it, err)
	}
	return nil
}

// copy copies one key from the origin bucket or through the rules.
func (r *run) copy(ctx context.Context, it item, reserved int64) (mirror.Result, error) {
	if r.rps != nil {
		if err := r.rps.Wait(ctx); err != nil {
			return mirror.Result{}, err
		}
	}
	req := mirror.Request{Key: it.key, MD5: it.md5, Reserved: reserved}
	if r.o.Origin != nil {
		req.Origin = r.o.Origin
	} else {
		req.Rules = r.o.Rules
	}
	return r.copier.Copy(ctx, req)
}

// verify compares the content of a key present on both sides.
func (r *run) verify(ctx context.Context, it item) error {
	var same bool
	err := r.retry(ctx, slog.String("key", it.key), func() error {
		var err error
		same, err = sameContent(ctx, r.o.Origin, r.o.Target, it.key)
		return err
	})
	var se *sideError
	switch {
	case err == nil:
		r.record(it, outcome{kind: outPresent, bytes: max(it.size, 0), compared: true, differs: !same})
	case store.IsNotFound(err) && errors.As(err, &se) && se.side == mirror.ReasonOrigin:
		r.record(it, outcome{kind: outVanished})
	case store.IsNotFound(err):
		// Listed in the target, gone now: count it as missing.
		r.record(it, outcome{kind: outMissing, bytes: max(it.size, 0)})
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return r.keyFailed(it, err)
	}
	return nil
}

// keyFailed records a per-key failure, or returns err when it is fatal.
func (r *run) keyFailed(it item, err error) error {
	if fatal(err) {
		var fe *FatalError
		if errors.As(err, &fe) {
			return err
		}
		return &FatalError{Op: fmt.Sprintf("key %q", it.key), Err: err}
	}
	ke := KeyError{Key: it.key, Reason: string(reason(err)), Error: keyErrorText(err)}
	if it.size > 0 {
		ke.Size = it.size
	}
	if merr := r.man.add(ke); merr != nil {
		return &FatalError{Op: "write failure manifest", Err: merr}
	}
	// A target or origin that fails everything is down: stop rather than
	// write a manifest of every key.
	if n := r.record(it, outcome{kind: outFailed, failure: &ke}); n >= 1000 {
		return &FatalError{Op: "copy", Err: fmt.Errorf("%d keys in a row failed, last: %v", n, err)}
	}
	return nil
}
