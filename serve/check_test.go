package serve

import "testing"

func TestCheckListenAndVia(t *testing.T) {
	for s, ok := range map[string]bool{"": true, ":8080": true, "127.0.0.1:http": true, "8080": false, "h:nope": false} {
		if err := CheckListen(s); (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v", s, err)
		}
	}
	for s, ok := range map[string]bool{"ferry": true, "a b": false, "a,b": false} {
		if err := CheckVia(s); (err == nil) != ok {
			t.Errorf("CheckVia(%q) = %v", s, err)
		}
	}
}
