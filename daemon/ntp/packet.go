// Package ntp is the box's one implementation of the NTP wire format
// (RFC 5905, and its simple subset SNTP, RFC 4330): the 48-byte packet,
// a client that asks several servers and keeps the best answer
// (client.go), and a server that gives the box's clock to the cameras
// (server.go). It knows nothing of the box's clock discipline
// (daemon/timesync) nor of which interface it serves: callers hand it a
// net.PacketConn.
package ntp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// PacketSize is the length of an NTP header without extension fields or
// a MAC. Longer packets decode (the rest is ignored); shorter ones do not.
const PacketSize = 48

// Leap indicator values (the packet's top two bits).
const (
	LeapNone  = 0
	LeapAdd   = 1 // last minute of the day has 61 s
	LeapDel   = 2 // last minute of the day has 59 s
	LeapAlarm = 3 // clock not synchronised
)

// Modes.
const (
	ModeClient    = 3
	ModeServer    = 4
	ModeBroadcast = 5
)

// StratumUnsynced is the stratum of a server whose clock is not
// synchronised (RFC 5905 §7.3: 16).
const StratumUnsynced = 16

// MaxStratum is the highest stratum a usable server may have.
const MaxStratum = 15

// Timestamp is an NTP 64-bit timestamp: seconds since 1900-01-01 UTC in
// the upper 32 bits (modulo 2^32: eras), fraction in the lower 32.
type Timestamp uint64

// ntpEpochOffset is 1900-01-01 to 1970-01-01 in seconds.
const ntpEpochOffset = 2208988800

// NewTimestamp converts t to an NTP timestamp (the era is dropped).
// Times before 1900 give 0.
func NewTimestamp(t time.Time) Timestamp {
	if t.IsZero() {
		return 0
	}
	sec := t.Unix() + ntpEpochOffset
	if sec < 0 {
		return 0
	}
	frac := (uint64(t.Nanosecond()) << 32) / 1e9
	return Timestamp(uint64(sec)<<32 | frac)
}

// Time converts an NTP timestamp to a time. The era is chosen as RFC 4330
// §3 says: a timestamp whose top bit is set is in 1968–2036, one whose top
// bit is clear in 2036–2104. Zero (meaning "no time") gives the zero time.
func (ts Timestamp) Time() time.Time {
	if ts == 0 {
		return time.Time{}
	}
	sec := int64(ts >> 32)
	if sec&0x80000000 == 0 {
		sec += 1 << 32 // era 1: after 2036-02-07
	}
	nsec := (int64(ts&0xffffffff)*1e9 + 1<<31) >> 32
	return time.Unix(sec-ntpEpochOffset, nsec).UTC()
}

// Short is an NTP 32-bit short format: 16.16 fixed-point seconds.
type Short uint32

// NewShort converts a non-negative duration to 16.16 seconds, saturating.
func NewShort(d time.Duration) Short {
	if d <= 0 {
		return 0
	}
	v := (uint64(d) << 16) / uint64(time.Second)
	if v > 0xffffffff {
		return 0xffffffff
	}
	return Short(v)
}

// Duration converts 16.16 seconds to a duration.
func (s Short) Duration() time.Duration {
	return time.Duration((uint64(s) * uint64(time.Second)) >> 16)
}

// Packet is an NTP header.
type Packet struct {
	Leap      uint8 // 0–3
	Version   uint8 // 1–4 (3 and 4 in practice)
	Mode      uint8 // 0–7
	Stratum   uint8
	Poll      int8
	Precision int8
	// RootDelay and RootDispersion: round trip and error to the primary
	// reference, as the server reports them.
	RootDelay      Short
	RootDispersion Short
	// RefID: the server's reference (its upstream's IPv4 address, or four
	// ASCII letters at stratum 1; the kiss code at stratum 0).
	RefID     [4]byte
	Reference Timestamp // when the server's clock was last set
	Origin    Timestamp // the request's transmit timestamp, echoed
	Receive   Timestamp // when the request arrived at the server
	Transmit  Timestamp // when the reply left the server
}

// ErrShort is returned for packets shorter than PacketSize.
var ErrShort = errors.New("ntp: packet shorter than 48 bytes")

// Decode parses the first 48 bytes of b. Any 48 bytes decode: checking
// that the fields make sense is the reader's work (see Validate).
func Decode(b []byte) (Packet, error) {
	if len(b) < PacketSize {
		return Packet{}, fmt.Errorf("%w (%d bytes)", ErrShort, len(b))
	}
	p := Packet{
		Leap:           b[0] >> 6,
		Version:        (b[0] >> 3) & 7,
		Mode:           b[0] & 7,
		Stratum:        b[1],
		Poll:           int8(b[2]),
		Precision:      int8(b[3]),
		RootDelay:      Short(binary.BigEndian.Uint32(b[4:])),
		RootDispersion: Short(binary.BigEndian.Uint32(b[8:])),
		Reference:      Timestamp(binary.BigEndian.Uint64(b[16:])),
		Origin:         Timestamp(binary.BigEndian.Uint64(b[24:])),
		Receive:        Timestamp(binary.BigEndian.Uint64(b[32:])),
		Transmit:       Timestamp(binary.BigEndian.Uint64(b[40:])),
	}
	copy(p.RefID[:], b[12:16])
	return p, nil
}

// Append appends the packet's 48 bytes to b. Fields out of range are
// masked to their bit widths.
func (p *Packet) Append(b []byte) []byte {
	var buf [PacketSize]byte
	buf[0] = (p.Leap&3)<<6 | (p.Version&7)<<3 | p.Mode&7
	buf[1] = p.Stratum
	buf[2] = byte(p.Poll)
	buf[3] = byte(p.Precision)
	binary.BigEndian.PutUint32(buf[4:], uint32(p.RootDelay))
	binary.BigEndian.PutUint32(buf[8:], uint32(p.RootDispersion))
	copy(buf[12:16], p.RefID[:])
	binary.BigEndian.PutUint64(buf[16:], uint64(p.Reference))
	binary.BigEndian.PutUint64(buf[24:], uint64(p.Origin))
	binary.BigEndian.PutUint64(buf[32:], uint64(p.Receive))
	binary.BigEndian.PutUint64(buf[40:], uint64(p.Transmit))
	return append(b, buf[:]...)
}

// KissCode is the four-letter kiss-o'-death code of a stratum-0 reply
// ("RATE", "DENY", "RSTR", ...), or "" when the packet is not one.
func (p *Packet) KissCode() string {
	if p.Stratum != 0 {
		return ""
	}
	for _, c := range p.RefID {
		if c < 0x20 || c > 0x7e {
			return "?"
		}
	}
	return string(p.RefID[:])
}

// MaxRootDistance is the largest root distance (root delay / 2 + root
// dispersion) of a reply the client accepts: beyond it the server itself
// does not know the time well enough to set a box's clock by it (the
// value RFC 5905 calls MAXDIST is 1.5 s; we are stricter).
const MaxRootDistance = time.Second

// Reply errors: Validate wraps one of these.
var (
	ErrNotServer = errors.New("ntp: not a server reply")
	ErrKiss      = errors.New("ntp: kiss-o'-death")
	ErrUnsynced  = errors.New("ntp: server not synchronised")
	ErrBogus     = errors.New("ntp: reply does not answer our request")
	ErrDistance  = errors.New("ntp: server's root distance too large")
)

// Validate checks that p is a usable server reply to a request whose
// transmit timestamp was origin.
func (p *Packet) Validate(origin Timestamp) error {
	switch {
	case p.Mode != ModeServer:
		return fmt.Errorf("%w (mode %d)", ErrNotServer, p.Mode)
	case p.Version < 1 || p.Version > 4:
		return fmt.Errorf("%w (version %d)", ErrNotServer, p.Version)
	case p.Origin != origin:
		return ErrBogus
	case p.Stratum == 0:
		return fmt.Errorf("%w %q", ErrKiss, p.KissCode())
	case p.Leap == LeapAlarm || p.Stratum > MaxStratum:
		return fmt.Errorf("%w (leap %d, stratum %d)", ErrUnsynced, p.Leap, p.Stratum)
	case p.Transmit == 0 || p.Receive == 0:
		return fmt.Errorf("%w (no timestamps)", ErrUnsynced)
	case p.Reference == 0:
		return fmt.Errorf("%w (never set)", ErrUnsynced)
	}
	if d := p.RootDelay.Duration()/2 + p.RootDispersion.Duration(); d > MaxRootDistance {
		return fmt.Errorf("%w (%v)", ErrDistance, d)
	}
	return nil
}
