package rules

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestCheckLoop(t *testing.T) {
	host, _ := os.Hostname()
	tests := []struct {
		origin string
		self   []string
		loop   bool
	}{
		// serve's listen address.
		{"http://127.0.0.1:8080/", []string{":8080"}, true},
		{"http://localhost:8080/x/", []string{"0.0.0.0:8080"}, true},
		{"http://[::1]:8080/", []string{"[::]:8080"}, true},
		{"http://" + host + ":8080/", []string{":8080"}, true},
		{"http://127.0.0.1:8081/", []string{":8080"}, false},
		{"http://www.example.com:8080/", []string{":8080"}, false},
		{"http://10.0.0.5:8080/", []string{"10.0.0.5:8080"}, true},
		{"http://10.0.0.6:8080/", []string{"10.0.0.5:8080"}, false},
		{"http://127.0.0.1/", []string{":80"}, true},
		{"https://127.0.0.1/", []string{":80"}, false},
		// ferry's own URL.
		{"https://mirror.example.com/", []string{"https://Mirror.example.com:443"}, true},
		// The target bucket on an S3 endpoint.
		{"http://minio:9000/", []string{"s3://target?endpoint=http://minio:9000"}, true},
		{"http://minio:9000/target/", []string{"s3://target?endpoint=http://minio:9000"}, true},
		{"http://minio:9000/other/", []string{"s3://target?endpoint=http://minio:9000"}, false},
		{"http://target.minio:9000/", []string{"s3://target?endpoint=http://minio:9000"}, true},
		{"http://minio:9001/", []string{"s3://target?endpoint=http://minio:9000"}, false},
		{"https://target.s3.us-east-1.amazonaws.com/", []string{"s3://target?region=us-east-1"}, true},
		{"https://s3.amazonaws.com/target/", []string{"s3://target"}, true},
		{"https://other.s3.amazonaws.com/", []string{"s3://target"}, false},
		// Bucket origins.
		{"s3://target?endpoint=http://minio:9000", []string{"s3://target?endpoint=http://minio:9000/"}, true},
		{"s3://target/old/?endpoint=http://minio:9000", []string{"s3://target/new/?endpoint=http://minio:9000"}, false},
		{"s3://target/a/?endpoint=http://minio:9000", []string{"s3://target?endpoint=http://minio:9000"}, true},
		{"s3://target?endpoint=http://other:9000", []string{"s3://target?endpoint=http://minio:9000"}, false},
		{"file:///srv/data", []string{"file:///srv/data/"}, true},
		{"file:///srv/www", []string{"file:///srv/data"}, false},
		{"mem://", []string{"mem://"}, false},
		{"file://./data", []string{"./data"}, true},
		{"file:///srv/www", []string{"./data"}, false},
		{"http://h/", []string{"", "file:///x"}, false},
	}
	for _, tt := range tests {
		s := &Set{Rules: []Rule{{Origin: "http://unrelated/"}, {Origin: tt.origin}}}
		err := CheckLoop(s, tt.self)
		if tt.loop {
			var e *Error
			if !errors.As(err, &e) || e.Rule != 2 || !strings.Contains(e.Msg, "mirror loop") {
				t.Errorf("%s vs %v: err = %v, want a loop in rule 2", tt.origin, tt.self, err)
			}
		} else if err != nil {
			t.Errorf("%s vs %v: %v", tt.origin, tt.self, err)
		}
	}
	if err := CheckLoop(nil, []string{":8080"}); err != nil {
		t.Error(err)
	}
}
