// Package mirror is the only code that moves an object into the target:
// scan and finalize copy with it (Copy), serve fills its misses with it
// (Get, Head), and `ferry rules test --fetch` probes an origin with it
// (Probe). Every path matches the key to its rule, sends the same origin
// request, checks the body and commits create-only in the same code; a
// fill only adds a spool file that every waiting reader follows.
//
// # Where things happen
//
//	mirror.go    API: Options, Request, Mirror, Get/Head/Copy/Shutdown, Stream
//	errors.go    ErrNotFound, ErrNoRule, ErrProxyOnly, RedirectError,
//	             PassError, FailedError and its Reason (with Temporary),
//	             fill Outcomes, the Observer
//	fetch.go     the origin side: rule matching, HTTP (own transport, manual
//	             redirects, idle timeout on body reads, classification) and
//	             bucket origins (store.Bucket.OpenObject)
//	failover.go  a rule's origins in order under failover_on; pass_status answers
//	dial.go      the SSRF guard: which addresses a redirect may reach
//	commit.go    the checked body (size limit, length, MD5) and the
//	             create-only commit (direct PUT or bucket writer, lost races)
//	registry.go  coalescing: one fill per target key, started on a detached context
//	fill.go      the fill: spool, readers that follow it, the commit fed from it
//	ranged.go    a reader far ahead of its fill: a ranged origin request of its own
//	proxy.go     store: false: the request's own origin answer, nothing stored
//	probe.go     Probe: the fill's request as a HEAD, for rules test --fetch
//	journal.go   one JSON line per fill outcome; FailedKeys for finalize
//
// # A copy
//
// Copy opens the origin (through the first rule whose conditions hold, or
// Request.Origin, a listable bucket), wraps its body in the checks, and
// commits: an object of known size up to store.DirectPutMax (or the memory
// the caller reserved, below the multipart size) is read whole from pooled
// memory and stored with one direct PUT into an S3 target; anything else
// streams through the bucket writer, big objects as parallel multipart
// uploads. No spool file, no goroutine of its own.
//
// # A fill
//
// Get looks the key up in the registry; the first caller starts a fill, later
// callers join it (Stream.Coalesced). The fill runs on
// context.WithoutCancel(caller) bounded by FillTimeout and cancelled only by
// Shutdown/Close, so a client that goes away never fails the fill for others,
// and a fill whose readers all left still completes and stores.
//
// The origin request comes from rules.OriginRequestAt for the rule of the
// request's set that matches (rules.Set.MatchRequest, with the client's
// headers); none is ErrNoRule, and so is a HEAD under a rule without
// mirror_head. A rule's origins are tried in order: an attempt that fails
// as failover_on names (network, timeout, chosen statuses) moves on to the
// next origin, always before any byte of a body was read, so the fill (and
// every coalesced reader) only ever sees the answer it goes on with. The
// journal and Observer.OriginAnswered say which origin that was. An answer
// whose status is in pass_status (and that fails over no further) is a
// *PassError carrying the status and body, never stored. A rule with
// store: false makes Get skip the registry: the Stream reads that request's
// own origin answer (Stream.Proxied), and Copy does not fetch (ErrProxyOnly).
// HTTP origins use a
// dedicated http.Transport: no proxy from the environment, no transparent
// decompression (stored bytes are the origin's bytes, Content-Encoding
// kept), connect and response-header timeouts, many idle connections per
// host. Body reads have an idle timeout (reset by every read that returns
// bytes), never a total one, so slow but steady transfers succeed.
//
// Redirects are followed by hand, at most 10 hops. Hops to the configured
// origin (same scheme, host and port) use the trusted transport; hops
// anywhere else (another port of the same host included) use a
// second transport whose dialer checks the resolved address in
// net.Dialer.Control (so DNS rebinding cannot bypass it) and refuses
// loopback, private, link-local, CGNAT, unspecified, multicast, reserved and
// IPv4-embedding IPv6 addresses unless Options.AllowPrivateRedirects.
// Authorization, Proxy-Authorization and Cookie are not sent to other hosts.
// With follow_redirects false a 3xx becomes *RedirectError.
//
// Classification: 200 fills; 404 is ErrNotFound; everything else (other
// statuses, network errors, timeouts, integrity failures, the target write)
// is *FailedError with a Reason, whose Temporary says whether a retry may
// help (scan retries on it).
//
// The body is read once into a spool file in SpoolDir (unlinked right after
// creation, so no temp file survives even a crash) and follows two paths:
//   - readers (Stream.NewReader(off, n)) pread the spool as bytes arrive,
//     woken by a broadcast channel on progress; each needs no buffer of its
//     own, so memory is O(buffer) per fill whatever the number of readers
//     (BenchmarkFanout100x64MiB). A reader may start late or read a range.
//     A read that reaches the end of the object holds its last byte back
//     until the whole body passed the integrity checks, so no reader can
//     finish cleanly on a body that turns out to be bad; when the origin sent
//     an MD5 every range waits for it. Ranges that end earlier finish as soon
//     as their bytes arrived (no later failure can make them wrong), so a
//     video player's first range does not wait for the whole object. On
//     failure every reader still reading gets the error. A range that
//     starts more than RangeAhead bytes beyond the fill's bytes, of an
//     origin that accepts ranges (HTTP with Accept-Ranges: bytes, or a
//     rule's bucket), is read from a ranged request to the origin that
//     answered the fill instead (only a 206 of exactly that range of the
//     same object is used; else the reader follows the spool).
//   - the commit (the one Copy uses: create-only, the content headers, the
//     origin's ETag, Last-Modified and Expires as user metadata, see
//     store.Meta) reads the spool like a reader, on its own goroutine, so a
//     slow target does not slow readers down; a small object goes into an S3
//     target with one direct PUT once its last byte is verified.
//
// Integrity before commit: byte count equals Content-Length, MD5 equals
// Content-MD5 when sent (or the bucket's MD5), and MaxObjectSize holds with
// and without Content-Length. On any failure the writer's context is
// cancelled before Close, which makes gocloud abort the write (fileblob
// drops its temp file, S3 aborts the multipart upload): nothing partial is
// ever visible. A create-only write that finds the key already stored
// (store.IsExists) is success with Result.Stored false: whoever wrote first
// wins. Some S3 servers (MinIO) answer such a conditional PUT with 412 before
// reading the body and reset the connection, which the client reports as a
// network error; a failed commit whose key then exists in the target is
// therefore treated the same way. A target that fails after the verified
// bytes reached the readers fails the fill (reason "store", journaled) but
// not those readers. Fill events reach Options.Observer (serve's metrics).
//
// The registry entry is removed when the fill is over (after the commit), so
// the next Get starts afresh; serve finds the stored object first.
//
// Journal: JSON lines appended with one write each on an O_APPEND file;
// FailedKeys reads any number of them, skips torn lines, and keeps the
// latest outcome per key.
package mirror
