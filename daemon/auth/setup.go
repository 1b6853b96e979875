package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"sync"

	"github.com/matthan/matthan/firmware/atomicfile"
)

// SetupCode is the one-time code that lets the first visitor create the
// technician account. There is no default password: until the code is used,
// only the person who can read the console (or the flash report) can set up
// the box.
type SetupCode struct {
	path string
	mu   sync.Mutex
	code string
}

const setupAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" // no 0/O, 1/I

// NewSetupCode makes a fresh code when setup is needed, writes it to path
// (for the technician's flash report) and prints it to console. When setup
// is not needed it removes a stale file and returns a used-up code.
func NewSetupCode(path string, needed bool, console io.Writer) (*SetupCode, error) {
	if !needed {
		os.Remove(path)
		return &SetupCode{path: path}, nil
	}
	var sb strings.Builder
	for i := 0; i < 12; i++ {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(setupAlphabet))))
		if err != nil {
			return nil, fmt.Errorf("setup code: %w", err)
		}
		sb.WriteByte(setupAlphabet[n.Int64()])
	}
	c := &SetupCode{path: path, code: sb.String()}
	if err := atomicfile.Write(path, []byte(c.code+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("setup code: %w", err)
	}
	if console != nil {
		fmt.Fprintf(console, "\n*** Mã cài đặt lần đầu / first-boot setup code: %s ***\n\n", c.code)
	}
	return c, nil
}

// Active reports whether the code can still be used.
func (c *SetupCode) Active() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code != ""
}

// Check compares a typed code (case, spaces and dashes ignored).
func (c *SetupCode) Check(typed string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.code == "" {
		return false
	}
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == ' ' {
				return -1
			}
			if r >= 'a' && r <= 'z' {
				return r - 'a' + 'A'
			}
			return r
		}, s)
	}
	return subtle.ConstantTimeCompare([]byte(norm(typed)), []byte(norm(c.code))) == 1
}

// Use spends the code: it cannot be used again, and its file is removed.
func (c *SetupCode) Use() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.code = ""
	os.Remove(c.path)
}
