package tail

import (
	"regexp"
	"slices"

	"github.com/zmqlog/zmqlog/topic"
)

// Filter decides which entries are shown. The zero Filter keeps all.
type Filter struct {
	// Apps, if set, keeps only entries whose topic names one of them.
	Apps []string
	// Grep, if set, keeps only entries whose text matches; Exclude drops
	// entries whose text matches. Both see the whole entry as received,
	// so they match the message or any field.
	Grep, Exclude *regexp.Regexp
}

// Keep reports whether an entry received under topicName is shown.
func (f *Filter) Keep(topicName string, entry []byte) bool {
	if len(f.Apps) > 0 && !slices.Contains(f.Apps, topic.App(topicName)) {
		return false
	}
	if f.Grep != nil && !f.Grep.Match(entry) {
		return false
	}
	if f.Exclude != nil && f.Exclude.Match(entry) {
		return false
	}
	return true
}
