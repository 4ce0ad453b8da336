package serve

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"syscall"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
)

// apiError is an error with its S3 error code and HTTP status.
type apiError struct {
	Status  int
	Code    string
	Message string
	Err     error // the cause, for logs; never sent to the client
}

func (e *apiError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *apiError) Unwrap() error { return e.Err }

// Request errors decided before any IO.
var (
	errMethod       = &apiError{http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource; use GET or HEAD.", nil}
	errAbsoluteForm = &apiError{http.StatusBadRequest, "InvalidRequest", "Absolute-form and authority-form request targets are not accepted.", nil}
	errLoop         = &apiError{http.StatusLoopDetected, "LoopDetected", "The request carries this server's own Via token: the origin points back at ferry serve.", nil}
	errKeyTooLong   = &apiError{http.StatusBadRequest, "KeyTooLongError", "Your key is too long (more than 1024 bytes).", nil}
	errKeyUTF8      = &apiError{http.StatusBadRequest, "InvalidArgument", "The key is not valid UTF-8.", nil}
	errKeyControl   = &apiError{http.StatusBadRequest, "InvalidArgument", "The key contains control characters.", nil}
	errKeyDots      = &apiError{http.StatusBadRequest, "InvalidArgument", "The key contains a \".\" or \"..\" path segment.", nil}
	errNoKey        = &apiError{http.StatusNotImplemented, "NotImplemented", "Listing buckets is not supported: list one bucket (GET /bucket/).", nil}
	errNoSuchBucket = &apiError{http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist.", nil}
	errNoSuchKey    = &apiError{http.StatusNotFound, "NoSuchKey", "The specified key does not exist.", nil}
	errPrecondition = &apiError{http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the preconditions you specified did not hold.", nil}
	errRange        = &apiError{http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable.", nil}
	// The partNumber errors, in AWS S3's words.
	errPartNumberArg = &apiError{http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.", nil}
	errRangeAndPart  = &apiError{http.StatusBadRequest, "InvalidRequest", "Cannot specify both Range header and partNumber query parameter", nil}
	errNoSuchPart    = &apiError{http.StatusRequestedRangeNotSatisfiable, "InvalidPartNumber", "The requested partnumber is not satisfiable.", nil}
)

// argumentError is a request error that names the argument at fault and
// its value, as S3's InvalidArgument does (<ArgumentName>, <ArgumentValue>).
type argumentError struct {
	*apiError
	name, value string
}

func (e *argumentError) Unwrap() error { return e.apiError }

// classify is the one place that decides the HTTP status and S3 error code
// of a failure.
func classify(err error) *apiError {
	var ae *apiError
	var fe *mirror.FailedError
	switch {
	case errors.As(err, &ae):
		return ae
	case store.IsInvalidPart(err):
		return &apiError{errNoSuchPart.Status, errNoSuchPart.Code, errNoSuchPart.Message, err}
	case errors.Is(err, store.ErrKeyTooLong):
		return errKeyTooLong
	case errors.Is(err, store.ErrKeyUTF8):
		return errKeyUTF8
	case errors.Is(err, store.ErrKeyControl):
		return errKeyControl
	case errors.Is(err, store.ErrKeyDots):
		return errKeyDots
	case errors.Is(err, mirror.ErrNotFound), store.IsNotFound(err):
		return &apiError{http.StatusNotFound, "NoSuchKey", errNoSuchKey.Message, err}
	case errors.Is(err, syscall.ENAMETOOLONG):
		// A file target cannot hold a path segment over its file system's
		// limit (usually 255 bytes): no such object can exist there.
		return &apiError{http.StatusBadRequest, "KeyTooLongError", "A path segment of the key is longer than the target's file system allows (usually 255 bytes).", err}
	case errors.Is(err, rules.ErrKeyRefused):
		return &apiError{http.StatusBadRequest, "InvalidArgument", "The key cannot be mapped onto the origin of its back-to-origin rule.", err}
	case errors.As(err, &fe):
		return &apiError{http.StatusFailedDependency, "MirrorFailed", "The object is not in the target and fetching it from the origin failed (" + string(fe.Reason) + ").", err}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{http.StatusServiceUnavailable, "SlowDown", "The request timed out; please retry.", err}
	case store.IsSlowDown(err):
		// The target throttles: pass it on for the client to back off and retry.
		return &apiError{http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.", err}
	case store.IsInvalid(err):
		// The target refuses the request (MinIO refuses some keys): pass on
		// its code, as a client of the target would see it.
		return targetRefused(err)
	case errors.Is(err, context.Canceled):
		// The client went away: nobody reads the answer, 499 is for the log.
		return &apiError{499, "RequestCanceled", "The request was cancelled.", err}
	default:
		return &apiError{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.", err}
	}
}

type xmlError struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Key       string   `xml:"Key,omitempty"`
	BucketN   string   `xml:"BucketName,omitempty"`
	Condition string   `xml:"Condition,omitempty"`
	ArgName   string   `xml:"ArgumentName,omitempty"`
	ArgValue  string   `xml:"ArgumentValue,omitempty"`
	RequestID string   `xml:"RequestId"`
}

// writeError answers with the S3 XML error for err (no body for HEAD).
func writeError(w http.ResponseWriter, r *http.Request, rc *reqCtx, err error) {
	ae := classify(err)
	rc.err = err
	h := w.Header()
	if ae.Status == http.StatusMethodNotAllowed {
		h.Set("Allow", "GET, HEAD")
	}
	if ae.Status == http.StatusRequestedRangeNotSatisfiable && rc.size >= 0 {
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", rc.size))
	}
	body := xmlError{Code: ae.Code, Message: ae.Message, RequestID: rc.id}
	if ae.Code == "NoSuchBucket" {
		body.BucketN = rc.bucket
	} else if ae.Status != http.StatusMethodNotAllowed && ae.Code != "NotImplemented" {
		body.Key = rc.key
	}
	if ae.Status == http.StatusPreconditionFailed {
		body.Condition = rc.failedCond
	}
	var arg *argumentError
	if errors.As(err, &arg) {
		body.ArgName, body.ArgValue = arg.name, arg.value
	}
	out, mErr := xml.Marshal(body)
	if mErr != nil {
		out = nil
	}
	out = append([]byte(xml.Header), out...)
	h.Set("Content-Type", "application/xml")
	if r.Method == http.MethodHead {
		w.WriteHeader(ae.Status)
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(out)))
	w.WriteHeader(ae.Status)
	_, _ = w.Write(out)
}

func targetRefused(err error) *apiError {
	code, msg := store.ErrorCode(err), store.ErrorMessage(err)
	if code == "" {
		code = "InvalidArgument"
	}
	if msg == "" {
		msg = "The target refused the request."
	}
	return &apiError{http.StatusBadRequest, code, msg, err}
}
