package store

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"syscall"
)

// replayLost is the transport of every S3 client: a request that a
// kept-alive connection lost before any answer (the server closed the idle
// connection as the request went out: EOF, reset or broken pipe) is sent
// again once, on a new connection. Go's transport does this itself only for
// GET and HEAD; S3's writes are POSTs and PUTs, and with the SDK's retryer
// switched off (one retry layer: scan's --retries) the race failed a fill.
// A request that failed on a new connection, got any answer, or has a body
// that cannot be read again (no GetBody: the SDK's streamed uploads) is not
// sent again here.
type replayLost struct {
	tr *http.Transport
}

func (rl replayLost) RoundTrip(req *http.Request) (*http.Response, error) {
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	resp, err := rl.tr.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err == nil || !reused || !lostConn(err) || req.Context().Err() != nil {
		return resp, err
	}
	again := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return nil, err
		}
		body, gerr := req.GetBody()
		if gerr != nil {
			return nil, err
		}
		again.Body = body
	}
	// The server closed one idle connection: those idle as long are gone too.
	rl.tr.CloseIdleConnections()
	return rl.tr.RoundTrip(again)
}

// lostConn reports whether err is a connection the server closed under a
// request.
func lostConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
