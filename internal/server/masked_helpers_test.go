package server_test

import "regexp"

var (
	visuallyHidden = regexp.MustCompile(`<span class="visually-hidden">[^<]*</span>`)
	ariaHidden     = regexp.MustCompile(`<span aria-hidden="true">[^<]*</span>`)
	anyTag         = regexp.MustCompile(`<[^>]+>`)
)

// seenText is a page as the eye reads it: without the words kept for screen readers (a masked
// number's "phone number ending in …") and without tags.
func seenText(body string) string {
	return anyTag.ReplaceAllString(visuallyHidden.ReplaceAllString(body, ""), "")
}

// spokenText is a page as a screen reader reads it: without what is hidden from it (a masked
// number's dots) and without tags.
func spokenText(body string) string {
	return anyTag.ReplaceAllString(ariaHidden.ReplaceAllString(body, ""), "")
}
