package diag

import "strconv"

// Plural writes a count and its noun, the noun plural unless the count is one: "1 error", "0 errors",
// "2 clusters". Every noun vmo-cue counts takes an s ("VM", "cluster", "error", "warning", "object").
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// OfPlural writes "k of n nouns", the noun agreeing with n: "1 of 1 cluster", "0 of 2 clusters".
func OfPlural(k, n int, noun string) string {
	return strconv.Itoa(k) + " of " + Plural(n, noun)
}
