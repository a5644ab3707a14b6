//go:build !unix

package collector

// newArena returns n bytes for History's entries, on the heap where
// anonymous mappings are not at hand.
func newArena[T any](_ *T, n int) []byte { return make([]byte, n) }
