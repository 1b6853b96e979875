// Package health asks the daemon's GET /api/health over a plain TCP
// connection. Init (waiting for the ready line) and the technician's
// self-test both use it, so it lives below both, in firmware/, importing
// only the standard library. It avoids net/http, which (with crypto/tls)
// would add about a megabyte to each program.
package health

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Check sends GET path to addr (host:port) and returns the HTTP status
// code of the answer.
func Check(addr, path string, timeout time.Duration) (int, error) {
	code, _, err := get(addr, path, timeout, false)
	return code, err
}

// MaxBody bounds the body Get reads.
const MaxBody = 64 << 10

// Get is Check that also returns the answer's body (at most MaxBody
// bytes; the HTTP/1.0 answer ends when the daemon closes).
func Get(addr, path string, timeout time.Duration) (int, []byte, error) {
	return get(addr, path, timeout, true)
}

func get(addr, path string, timeout time.Duration, body bool) (int, []byte, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr); err != nil {
		return 0, nil, err
	}
	br := bufio.NewReader(c)
	code, err := ParseStatus(br)
	if err != nil || !body {
		return code, nil, err
	}
	tp := textproto.NewReader(br)
	if _, err := tp.ReadMIMEHeader(); err != nil {
		return code, nil, fmt.Errorf("read headers: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(br, MaxBody))
	if err != nil {
		return code, b, fmt.Errorf("read body: %w", err)
	}
	return code, b, nil
}

// ParseStatus reads an HTTP status line ("HTTP/1.1 200 OK").
func ParseStatus(r *bufio.Reader) (int, error) {
	line, err := textproto.NewReader(r).ReadLine()
	if err != nil {
		return 0, fmt.Errorf("read status line: %w", err)
	}
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !strings.HasPrefix(proto, "HTTP/") {
		return 0, fmt.Errorf("not an HTTP answer: %q", line)
	}
	code, _, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(code)
	if err != nil || n < 100 || n > 999 {
		return 0, fmt.Errorf("bad status in %q", line)
	}
	return n, nil
}
