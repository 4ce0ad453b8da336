package rules

import "testing"

// TestSuggest: the closest known name, a swap of two adjacent letters
// counting as one edit (the commonest typo).
func TestSuggest(t *testing.T) {
	commands := []string{"add", "clear", "edit", "export", "import", "list", "move", "remove", "test", "validate"}
	for name, want := range map[string]string{
		"lsit": "list", "lst": "list", "improt": "import", "tset": "test", "mvoe": "move", "remvoe": "remove",
		"eidt": "edit", "LIST": "list", "nothinglikeit": "",
	} {
		if got := Suggest(name, commands); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", name, got, want)
		}
	}
	keys := []string{"serve.listen", "serve.admin_listen", "serve.grace", "target", "origin"}
	for name, want := range map[string]string{"serve.lsiten": "serve.listen", "tagret": "target", "orgiin": "origin", "listen": "serve.listen"} {
		if got := Suggest(name, keys); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", name, got, want)
		}
	}
	for a, want := range map[[2]string]int{{"", ""}: 0, {"ab", "ba"}: 1, {"abc", "ca"}: 3, {"kitten", "sitting"}: 3, {"lsit", "edit"}: 2} {
		if got := editDistance(a[0], a[1]); got != want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", a[0], a[1], got, want)
		}
	}
}
