package store

import (
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestContentTypesByName(t *testing.T) {
	// The host's table must not change ferry's answers: poison the standard
	// library's for one extension ferry knows.
	if err := mime.AddExtensionType(".woff2", "application/x-host-says-so"); err != nil {
		t.Fatal(err)
	}
	ct := DefaultContentTypes()
	for name, want := range map[string]string{
		"index.html":         "text/html",
		"dir/INDEX.HTM":      "text/html",
		"style.css":          "text/css",
		"app.js":             "application/javascript",
		"app.mjs":            "application/javascript",
		"data.json":          "application/json",
		"logo.svg":           "image/svg+xml",
		"font.woff2":         "font/woff2",
		"photo.webp":         "image/webp",
		"clip.mp4":           "video/mp4",
		"a/b.c/README":       DefaultContentType, // no extension (the dot is in a directory name)
		"Makefile":           DefaultContentType,
		"archive.tar.gz":     "application/gzip",
		"trailing.":          DefaultContentType,
		"unknown.zzzferryzz": DefaultContentType,
	} {
		if got := ct.ByName(name); got != want {
			t.Errorf("ByName(%q) = %q, want %q", name, got, want)
		}
	}
}

// Every extension of nginx's mime.types (1.22) has a type in ferry's own
// table, so a site keeps what nginx sent whatever the host has installed.
func TestContentTypesCoverNginx(t *testing.T) {
	nginx := `html htm shtml css xml gif jpeg jpg js atom rss mml txt jad wml htc avif png svg svgz tif tiff
	wbmp webp ico jng bmp woff woff2 jar war ear json hqx doc pdf ps eps ai rtf m3u8 kml kmz xls eot ppt odg odp
	ods odt pptx xlsx docx wmlc wasm 7z cco jardiff jnlp run pl pm prc pdb rar rpm sea swf sit tcl tk der pem crt
	xpi xhtml xspf zip bin exe dll deb dmg iso img msi msp msm mid midi kar mp3 ogg m4a ra 3gpp 3gp ts mp4 mpeg
	mpg mov webm flv m4v mng asx asf wmv avi`
	for _, ext := range strings.Fields(nginx) {
		if _, ok := builtinTypes[ext]; !ok {
			t.Errorf("extension %q of nginx's mime.types is missing from ferry's table", ext)
		}
	}
}

func TestLoadContentTypes(t *testing.T) {
	dir := t.TempDir()
	apache := filepath.Join(dir, "mime.types")
	if err := os.WriteFile(apache, []byte("# site overrides\ntext/html; charset=utf-8\thtml htm\napplication/x-custom  cst .CST2\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// "text/html; charset=utf-8" is not one token: Apache's format splits it.
	if _, err := LoadContentTypes(apache); err == nil || !strings.Contains(err.Error(), "mime.types:2") {
		t.Fatalf("err = %v, want one naming mime.types:2", err)
	}
	if err := os.WriteFile(apache, []byte("# site overrides\ntext/x-site-html\thtml htm\napplication/x-custom  cst .CST2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ct, err := LoadContentTypes(apache)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a.html": "text/x-site-html", "b.cst": "application/x-custom", "c.cst2": "application/x-custom", "d.css": "text/css"} {
		if got := ct.ByName(name); got != want {
			t.Errorf("ByName(%q) = %q, want %q", name, got, want)
		}
	}
	nginx := filepath.Join(dir, "nginx.types")
	if err := os.WriteFile(nginx, []byte("types {\n    text/css    css;\n    image/x-site  png jpg;\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ct, err = LoadContentTypes(nginx)
	if err != nil {
		t.Fatal(err)
	}
	if got := ct.ByName("x.jpg"); got != "image/x-site" {
		t.Errorf("nginx format: ByName(x.jpg) = %q", got)
	}
	if _, err := LoadContentTypes(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing file: err = %v", err)
	}
	bad := filepath.Join(dir, "bad.types")
	if err := os.WriteFile(bad, []byte("text/plain txt\nnotatype foo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadContentTypes(bad); err == nil || !strings.Contains(err.Error(), "bad.types:2") || !strings.Contains(err.Error(), "notatype") {
		t.Fatalf("bad line: err = %v", err)
	}
}
