// Package positive fills in defaults: a setting of zero or below means
// "not set" (the convention of every daemon package's Config and Options).
package positive

// Number is what a setting may be: a count, a size, a duration, a rate.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 |
		~float32 | ~float64
}

// Or returns v when it is above zero, else def.
func Or[T Number](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
