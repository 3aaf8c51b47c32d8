// Package demo serves the live-shopping demo pages: a mobile-first viewer
// page, a creator console and the reusable JavaScript client they share
// (static/liveclient.js). Everything is embedded in the binary; the pages
// fetch nothing from other origins.
//
// The server mounts the handler at "/demo/":
//
//	mux.Handle("/demo/", http.StripPrefix("/demo/", demo.Handler()))
package demo

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var files embed.FS

// contentTypes maps the extensions of the embedded files to their media
// types, so the answer does not depend on the host's MIME tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	".md":   "text/markdown; charset=utf-8",
}

// contentSecurityPolicy is sent with the HTML pages: scripts, styles and
// connections stay on this origin; product images may live elsewhere.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"

type file struct {
	data  []byte
	ctype string
	etag  string
}

// Handler serves the demo files. Paths are relative to the mount point: ""
// and "index.html" are the viewer page, "creator.html" the creator console.
// Answers carry Cache-Control: no-cache and a strong ETag, so a browser
// revalidates every time and gets 304 while the binary is unchanged.
func Handler() http.Handler {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic("demo: " + err.Error())
	}
	byPath := map[string]file{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			ctype = http.DetectContentType(data)
		}
		sum := sha256.Sum256(data)
		byPath[p] = file{data: data, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("demo: " + err.Error())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := strings.TrimPrefix(r.URL.Path, "/")
		if p == "" || strings.HasSuffix(p, "/") {
			p += "index.html"
		}
		if p != path.Clean(p) {
			http.NotFound(w, r)
			return
		}
		f, ok := byPath[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.ctype)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if strings.HasPrefix(f.ctype, "text/html") {
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("Referrer-Policy", "no-referrer")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
	})
}
