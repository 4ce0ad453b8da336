package store

import (
	"net/http"
	"testing"

	"gocloud.dev/blob"
)

// TestGCSGenerationETag: the JSON API's etag rebuilt from an XML answer's
// generation and metageneration is the one GCS gave these real objects
// (etag, generation and metageneration as their JSON resources list them),
// and an object without an MD5 (a composite one) gets the same ETag from
// a GET's headers as from its attributes.
func TestGCSGenerationETag(t *testing.T) {
	for _, c := range []struct {
		gen, metagen int64
		etag         string
	}{
		{1720889888465538, 1, "CILF/7O+pIcDEAE="},
		{1727428109770038, 1, "CLa67pbj4ogDEAE="},
	} {
		if got := gcsGenerationETag(c.gen, c.metagen); got != `"`+c.etag+`"` {
			t.Errorf("generation %d/%d: %s, want %q", c.gen, c.metagen, got, c.etag)
		}
	}
	h := http.Header{}
	h.Set("X-Goog-Generation", "1720889888465538")
	h.Set("X-Goog-Metageneration", "1")
	h.Add("X-Goog-Hash", "crc32c=8s2ltw==")
	h.Set("ETag", `"-CILF/7O+pIcDEAE="`) // the XML API's, not the JSON API's
	head := gcsAttributesMeta(&blob.Attributes{ETag: `"CILF/7O+pIcDEAE="`, Size: 3})
	if get := gcsHeaderMeta(h, 3); get.ETag != head.ETag || get.MD5 != nil {
		t.Errorf("composite object: GET ETag %s (MD5 %x), HEAD %s", get.ETag, get.MD5, head.ETag)
	}
	// With an MD5 (on its own header line, as GCS sends it) the ETag is it.
	h.Add("X-Goog-Hash", "md5=O/P7e3k8qxRQaomHhn0H9Q==")
	if get := gcsHeaderMeta(h, 3); get.ETag != `"3bf3fb7b793cab14506a8987867d07f5"` {
		t.Errorf("object with an MD5: ETag %s", get.ETag)
	}
}

// TestGCSHeaderUnsure: user metadata read from headers is taken as stored
// only when every value is plain printable ASCII.
func TestGCSHeaderUnsure(t *testing.T) {
	for v, want := range map[string]bool{
		"":                   false,
		"blue, a b=c; d/e":   false,
		`"5f3e-1000"`:        false,
		"Grüße":              true,
		"a%20b":              true,
		"=?UTF-8?Q?Gr=C3=BC": true,
		"tab\there":          true,
	} {
		if got := gcsHeaderUnsure(map[string]string{"x": "plain", "k": v}); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}
