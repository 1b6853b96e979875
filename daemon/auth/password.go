package auth

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// MinPasswordLen is the shortest password accepted (in characters).
const MinPasswordLen = 10

// MaxPasswordBytes is the longest password accepted. Longer ones are
// refused before any hashing: a login with a longer password cannot be
// right.
const MaxPasswordBytes = 256

// commonPasswords is the 10,000 most common passwords, most common first,
// lower case (gen-common-passwords.sh makes it from a Debian package).
//
//go:embed common-passwords.txt
var commonPasswords string

var (
	commonOnce sync.Once
	commonSet  map[string]struct{}
)

// CommonPassword reports whether pw (compared in lower case) is one of the
// 10,000 most common passwords.
func CommonPassword(pw string) bool {
	commonOnce.Do(func() {
		commonSet = make(map[string]struct{}, 10000)
		for _, w := range strings.Split(commonPasswords, "\n") {
			if w != "" {
				commonSet[w] = struct{}{}
			}
		}
	})
	_, ok := commonSet[strings.ToLower(pw)]
	return ok
}

// CheckPasswordPolicy refuses passwords that are easy to guess: shorter than
// MinPasswordLen characters, longer than MaxPasswordBytes, one character
// repeated, or among the 10,000 most common passwords. Setup, account
// creation, resets and own changes all use it.
func CheckPasswordPolicy(pw string) error {
	if !utf8.ValidString(pw) {
		return fmt.Errorf("%w: not valid UTF-8", ErrWeakPassword)
	}
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return fmt.Errorf("%w: at least %d characters", ErrWeakPassword, MinPasswordLen)
	}
	if len(pw) > MaxPasswordBytes {
		return fmt.Errorf("%w: at most %d bytes", ErrWeakPassword, MaxPasswordBytes)
	}
	first, _ := utf8.DecodeRuneInString(pw)
	if strings.Trim(pw, string(first)) == "" {
		return fmt.Errorf("%w: one character repeated", ErrWeakPassword)
	}
	if CommonPassword(pw) {
		return fmt.Errorf("%w: one of the most common passwords", ErrWeakPassword)
	}
	return nil
}
