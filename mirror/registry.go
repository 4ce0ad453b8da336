package mirror

import "context"

// join returns the fill in flight for req.Key, or starts one. The returned
// fill holds a reference for the caller (release it, or hand it to a
// Stream). coalesced reports that another request started the fill.
func (m *Mirror) join(ctx context.Context, req Request, rt route) (f *fill, coalesced bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false, ErrShutdown
	}
	if f := m.fills[req.Key]; f != nil {
		f.acquire() // under m.mu: the fill drops its own reference only after leaving the map
		return f, true, nil
	}
	f = newFill(m, req, rt)
	f.acquire()
	m.fills[req.Key] = f
	m.wg.Add(1)

	// Detached from the caller: a disconnecting client never cancels the fill
	// for others. Shutdown cancels it through m.base.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.FillTimeout)
	stop := context.AfterFunc(m.base, cancel)
	go func() {
		defer m.wg.Done()
		defer cancel()
		defer stop()
		f.run(fctx)
	}()
	return f, false, nil
}

// leave removes f from the registry: later requests for the key start anew
// (serve finds the stored object in the target first).
func (m *Mirror) leave(f *fill) {
	m.mu.Lock()
	if m.fills[f.req.Key] == f {
		delete(m.fills, f.req.Key)
	}
	m.mu.Unlock()
}

// InFlight returns the number of fills running now.
func (m *Mirror) InFlight() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.fills)
}
