// Package tessera holds the files the binary carries with it: page templates, static assets and
// SQL migrations. Embedding them means `tessera` runs from any directory with nothing beside it.
package tessera

import (
	"embed"
	"io/fs"
)

//go:embed templates static migrations
var files embed.FS

// Templates returns the HTML page templates.
func Templates() fs.FS { return sub("templates") }

// Static returns the CSS, JavaScript and images served under /static/.
func Static() fs.FS { return sub("static") }

// Migrations returns the versioned SQL migrations, one folder per dialect.
func Migrations() fs.FS { return sub("migrations") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the directory is embedded at build time; its absence is a build defect
	}
	return f
}
