package store

import (
	"bufio"
	"fmt"
	"io"
	"mime"
	"os"
	"path"
	"strings"

	"gocloud.dev/blob"
)

// DefaultContentType is what a file origin's object gets when its name has
// no known extension, as nginx's default_type.
const DefaultContentType = "application/octet-stream"

// ContentTypes maps file names to media types, for objects read from a
// directory: a web server would have sent the type its mime.types table
// gives for the extension, and a migrated site must keep it (a browser
// refuses a style sheet sent as application/octet-stream).
//
// Lookups go to ferry's own table (at least nginx's mime.types, plus the
// types modern sites use), then to an operator's file when one was loaded
// (it wins), then to the standard library's mime package. The result for
// every extension in ferry's table does not depend on the host's
// /etc/mime.types.
type ContentTypes struct {
	override map[string]string // from LoadContentTypes; lower-case extension without dot
}

// DefaultContentTypes returns ferry's table without overrides.
func DefaultContentTypes() *ContentTypes { return &ContentTypes{} }

// LoadContentTypes returns ferry's table overridden by a mime.types file
// in Apache's format ("type ext ext ...", # comments) or nginx's
// ("types { type ext ext; }"). Errors name the file and line.
func LoadContentTypes(file string) (*ContentTypes, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("mime types: %w", err)
	}
	defer f.Close()
	m, err := parseMIMETypes(f, file)
	if err != nil {
		return nil, err
	}
	return &ContentTypes{override: m}, nil
}

func parseMIMETypes(r io.Reader, name string) (map[string]string, error) {
	m := map[string]string{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		// nginx's format: a "types {" block, entries ending in ";".
		s = strings.TrimSpace(strings.NewReplacer("{", " ", "}", " ").Replace(s))
		s = strings.TrimSuffix(s, ";")
		f := strings.Fields(s)
		if len(f) > 0 && f[0] == "types" {
			f = f[1:]
		}
		if len(f) == 0 {
			continue
		}
		t := f[0]
		if mt, params, err := mime.ParseMediaType(t); err != nil || len(params) > 0 || !strings.Contains(mt, "/") || strings.Contains(t, ";") {
			return nil, fmt.Errorf("mime types %s:%d: %q is not a media type (want: type/subtype ext ...)", name, line, t)
		}
		for _, ext := range f[1:] {
			ext = strings.TrimPrefix(ext, ".")
			if ext == "" || strings.ContainsAny(ext, `/;="\`) {
				return nil, fmt.Errorf("mime types %s:%d: %q is not a file extension", name, line, ext)
			}
			m[strings.ToLower(ext)] = t
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mime types %s: %w", name, err)
	}
	return m, nil
}

// ByName returns the media type for the object name (its last extension),
// or DefaultContentType when none is known.
func (c *ContentTypes) ByName(name string) string {
	ext := path.Ext(path.Base(name))
	if ext == "" || ext == "." {
		return DefaultContentType
	}
	e := strings.ToLower(ext[1:])
	if c != nil {
		if t, ok := c.override[e]; ok {
			return t
		}
	}
	if t, ok := builtinTypes[e]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return DefaultContentType
}

// builtinTypes is ferry's table: everything in nginx's mime.types (with its
// types; text types carry no charset, as nginx sends them), plus types that
// sites use today and nginx's table lacks.
var builtinTypes = map[string]string{
	// text
	"html": "text/html", "htm": "text/html", "shtml": "text/html",
	"css": "text/css", "xml": "text/xml", "txt": "text/plain",
	"mml": "text/mathml", "jad": "text/vnd.sun.j2me.app-descriptor", "wml": "text/vnd.wap.wml",
	"htc": "text/x-component", "csv": "text/csv", "md": "text/markdown", "markdown": "text/markdown",
	"ics": "text/calendar", "vtt": "text/vtt", "srt": "application/x-subrip",
	"js": "application/javascript", "mjs": "application/javascript", "cjs": "application/javascript",
	"atom": "application/atom+xml", "rss": "application/rss+xml",
	"json": "application/json", "map": "application/json", "jsonld": "application/ld+json",
	"webmanifest": "application/manifest+json", "geojson": "application/geo+json",
	"yaml": "application/yaml", "yml": "application/yaml", "toml": "application/toml",
	"xhtml": "application/xhtml+xml", "xspf": "application/xspf+xml", "xsl": "application/xslt+xml",
	"xslt": "application/xslt+xml", "rdf": "application/rdf+xml", "gpx": "application/gpx+xml",
	// images
	"gif": "image/gif", "jpeg": "image/jpeg", "jpg": "image/jpeg", "jpe": "image/jpeg", "jfif": "image/jpeg",
	"pjpeg": "image/jpeg", "pjp": "image/jpeg",
	"avif": "image/avif", "png": "image/png", "apng": "image/apng", "svg": "image/svg+xml", "svgz": "image/svg+xml",
	"tif": "image/tiff", "tiff": "image/tiff", "wbmp": "image/vnd.wap.wbmp", "webp": "image/webp",
	"ico": "image/x-icon", "cur": "image/x-icon", "jng": "image/x-jng", "bmp": "image/x-ms-bmp",
	"heic": "image/heic", "heif": "image/heif", "jxl": "image/jxl", "psd": "image/vnd.adobe.photoshop",
	// fonts
	"woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf", "ttc": "font/collection",
	"eot": "application/vnd.ms-fontobject",
	// documents and archives
	"jar": "application/java-archive", "war": "application/java-archive", "ear": "application/java-archive",
	"hqx": "application/mac-binhex40", "doc": "application/msword", "pdf": "application/pdf",
	"ps": "application/postscript", "eps": "application/postscript", "ai": "application/postscript",
	"rtf": "application/rtf", "m3u8": "application/vnd.apple.mpegurl",
	"kml": "application/vnd.google-earth.kml+xml", "kmz": "application/vnd.google-earth.kmz",
	"xls": "application/vnd.ms-excel", "ppt": "application/vnd.ms-powerpoint",
	"odg": "application/vnd.oasis.opendocument.graphics", "odp": "application/vnd.oasis.opendocument.presentation",
	"ods": "application/vnd.oasis.opendocument.spreadsheet", "odt": "application/vnd.oasis.opendocument.text",
	"pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	"epub": "application/epub+zip", "wmlc": "application/vnd.wap.wmlc", "wasm": "application/wasm",
	"7z": "application/x-7z-compressed", "cco": "application/x-cocoa", "jardiff": "application/x-java-archive-diff",
	"jnlp": "application/x-java-jnlp-file", "run": "application/x-makeself",
	"pl": "application/x-perl", "pm": "application/x-perl", "prc": "application/x-pilot", "pdb": "application/x-pilot",
	"rar": "application/x-rar-compressed", "rpm": "application/x-redhat-package-manager",
	"sea": "application/x-sea", "swf": "application/x-shockwave-flash", "sit": "application/x-stuffit",
	"tcl": "application/x-tcl", "tk": "application/x-tcl",
	"der": "application/x-x509-ca-cert", "pem": "application/x-x509-ca-cert", "crt": "application/x-x509-ca-cert",
	"xpi": "application/x-xpinstall", "zip": "application/zip",
	"gz": "application/gzip", "tgz": "application/gzip", "bz2": "application/x-bzip2", "xz": "application/x-xz",
	"zst": "application/zstd", "tar": "application/x-tar", "br": "application/octet-stream",
	"bin": "application/octet-stream", "exe": "application/octet-stream", "dll": "application/octet-stream",
	"deb": "application/octet-stream", "dmg": "application/octet-stream", "iso": "application/octet-stream",
	"img": "application/octet-stream", "msi": "application/octet-stream", "msp": "application/octet-stream",
	"msm": "application/octet-stream", "apk": "application/vnd.android.package-archive",
	"mpd": "application/dash+xml", "pkpass": "application/vnd.apple.pkpass", "gltf": "model/gltf+json",
	"glb": "model/gltf-binary",
	// audio
	"mid": "audio/midi", "midi": "audio/midi", "kar": "audio/midi", "mp3": "audio/mpeg", "ogg": "audio/ogg",
	"oga": "audio/ogg", "opus": "audio/ogg", "m4a": "audio/x-m4a", "ra": "audio/x-realaudio",
	"wav": "audio/wav", "flac": "audio/flac", "aac": "audio/aac", "weba": "audio/webm",
	// video
	"3gpp": "video/3gpp", "3gp": "video/3gpp", "ts": "video/mp2t", "m2ts": "video/mp2t", "mp4": "video/mp4",
	"m4s": "video/iso.segment", "mpeg": "video/mpeg", "mpg": "video/mpeg", "mov": "video/quicktime",
	"webm": "video/webm", "flv": "video/x-flv", "m4v": "video/x-m4v", "mng": "video/x-mng",
	"asx": "video/x-ms-asf", "asf": "video/x-ms-asf", "wmv": "video/x-ms-wmv", "avi": "video/x-msvideo",
	"ogv": "video/ogg", "mkv": "video/x-matroska",
}

// ForAttributes returns the content type to store for key read from an
// origin with attributes a: for a plain file of a directory origin (one
// without fileblob's sidecar, so nothing recorded a type for it) the type
// by name, else the type the origin recorded.
func (c *ContentTypes) ForAttributes(key string, a *blob.Attributes) string {
	var fi os.FileInfo
	if a.As(&fi) && untyped(a.MD5, a.ContentType) {
		return c.ByName(key)
	}
	return a.ContentType
}

// untyped reports whether a local file's attributes record no type: fileblob
// answers DefaultContentType and no MD5 for a file without a sidecar, and a
// sidecar it wrote always records the MD5.
func untyped(md5 []byte, contentType string) bool {
	return len(md5) == 0 && (contentType == "" || contentType == DefaultContentType)
}
