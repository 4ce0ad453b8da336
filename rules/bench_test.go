package rules

import (
	"net/http"
	"strings"
	"testing"
)

func BenchmarkMatch(b *testing.B) {
	s, err := Parse(strings.NewReader(`
- key_prefix: a/
  origin: http://a/
- key_prefix: b/
  key_suffix: .jpg
  origin: http://b/
- key_suffix: .png
  origin: http://c/
- key_prefix: d/
  origin: http://d/
- origin: http://e/
`))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s.Match("images/2024/some/deep/path/file.webp")
	}
}

func BenchmarkOriginRequest(b *testing.B) {
	r := &Rule{Origin: "http://www.example-domain.com/dir1/", Headers: Headers{
		Pass: []string{"Accept-Language"}, Remove: []string{"Cookie"}, Set: []HeaderValue{{"Host", "www.example.com"}},
	}}
	client := http.Header{"Accept-Language": {"en"}, "Cookie": {"a=b"}, "User-Agent": {"curl"}}
	for b.Loop() {
		if _, err := OriginRequest(r, "image/2024/some file+name.jpg", client, ""); err != nil {
			b.Fatal(err)
		}
	}
}
