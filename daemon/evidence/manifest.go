package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ManifestVersion is the manifest layout this package writes and reads.
// Version 1 (before the box key was published) named a key nobody could
// trust and claimed the requested range instead of what the file holds.
const ManifestVersion = 2

// GapThreshold is the shortest hole in a recording the manifest reports:
// holes shorter than this (a late picture, the seam between two segment
// files) lie inside an interval; every longer one splits the intervals and
// is listed as a gap.
const GapThreshold = time.Second

// Interval is [From, To).
type Interval struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Duration is To - From.
func (i Interval) Duration() time.Duration { return i.To.Sub(i.From) }

// Intersect is the part of i inside o; it is empty (To not after From)
// when they do not overlap.
func (i Interval) Intersect(o Interval) Interval {
	if o.From.After(i.From) {
		i.From = o.From
	}
	if o.To.Before(i.To) {
		i.To = o.To
	}
	return i
}

// AuditHead is the audit log's chain head (last record's sequence number
// and hash) when the export was made: a log cut back below it afterwards
// is detectable from the manifest.
type AuditHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Manifest describes one exported clip. The box signs its exact JSON bytes
// (manifest.json) with the box key; manifest.sig holds the signature in
// base64. Times carry the box's local offset (TimeZone).
type Manifest struct {
	Version    int    `json:"version"`
	Camera     string `json:"camera"`
	CameraName string `json:"cameraName"`
	TimeZone   string `json:"timeZone"`
	// Requested is the range the officer asked for; Intervals is what the
	// file holds (from the first to past the last picture of each stretch
	// without a hole of GapThresholdSec or more); Gaps are the parts of
	// Requested the file does not hold.
	Requested       Interval   `json:"requested"`
	Intervals       []Interval `json:"intervals"`
	Gaps            []Interval `json:"gaps"`
	GapThresholdSec float64    `json:"gapThresholdSec"`
	ExportedBy      string     `json:"exportedBy"`
	Role            string     `json:"role"`
	Created         time.Time  `json:"created"`
	File            string     `json:"file"`
	Bytes           int64      `json:"bytes"`
	SHA256          string     `json:"sha256"`
	// PublicKey is the box key (base64 of its 32 bytes). Verify uses it
	// only when its fingerprint is the one the investigator trusts.
	PublicKey      string `json:"publicKey"`
	KeyFingerprint string `json:"keyFingerprint"`
	// AuditSeq is the export's own audit record; Audit the chain head
	// right after it.
	AuditSeq uint64    `json:"auditSeq"`
	Audit    AuditHead `json:"audit"`
	// ClockUnsynced lists the parts of the clip recorded while the box's
	// clock was not synchronised (restored from disk after a power cut,
	// set by an officer, or stepped while recording): their times may be
	// off. Absent when the clock was synchronised throughout (and in
	// manifests made before the box knew).
	ClockUnsynced []Interval `json:"clockUnsynced,omitempty"`
	// Tracks are the file's tracks: the video, and the sound when the
	// camera's sound was recorded.
	Tracks []Track `json:"tracks,omitempty"`
}

// Coverage is what an export holds: its intervals, and those of them
// recorded while the box's clock was not synchronised.
type Coverage struct {
	Intervals     []Interval
	ClockUnsynced []Interval
}

// Track is one track of an exported file.
type Track struct {
	Kind  string `json:"kind"`  // "video" or "audio"
	Codec string `json:"codec"` // MP4 sample entry: avc1, hvc1, mp4a (AAC), sowt (16-bit LPCM from G.711)
	// SampleRate is the audio's (Hz).
	SampleRate int `json:"sampleRate,omitempty"`
	Channels   int `json:"channels,omitempty"`
}

// DefaultZoneName is the box's time zone unless configured otherwise.
const DefaultZoneName = "Asia/Ho_Chi_Minh"

// Zone loads a time zone by name; Asia/Ho_Chi_Minh (UTC+7, no daylight
// saving) works without the zone database, which the box image lacks.
func Zone(name string) (*time.Location, error) {
	if name == "" {
		name = DefaultZoneName
	}
	loc, err := time.LoadLocation(name)
	if err == nil {
		return loc, nil
	}
	if name == DefaultZoneName {
		return time.FixedZone(DefaultZoneName, 7*3600), nil
	}
	return nil, fmt.Errorf("time zone %q: %w", name, err)
}

// Gaps lists the parts of requested that covered (sorted, not
// overlapping) leaves out, each at least threshold long.
func Gaps(requested Interval, covered []Interval, threshold time.Duration) []Interval {
	gaps := []Interval{}
	at := requested.From
	add := func(from, to time.Time) {
		if g := (Interval{from, to}).Intersect(requested); g.Duration() >= threshold && g.To.After(g.From) {
			gaps = append(gaps, g)
		}
	}
	for _, c := range covered {
		add(at, c.From)
		if c.To.After(at) {
			at = c.To
		}
	}
	add(at, requested.To)
	return gaps
}

// InZone returns m with every time in loc (the local offset in the JSON),
// rounded to the millisecond.
func (m Manifest) InZone(loc *time.Location) Manifest {
	conv := func(t time.Time) time.Time { return t.Round(time.Millisecond).In(loc) }
	convAll := func(in []Interval) []Interval {
		out := make([]Interval, len(in))
		for i, v := range in {
			out[i] = Interval{conv(v.From), conv(v.To)}
		}
		return out
	}
	m.TimeZone = loc.String()
	m.Requested = Interval{conv(m.Requested.From), conv(m.Requested.To)}
	m.Intervals, m.Gaps = convAll(m.Intervals), convAll(m.Gaps)
	if m.ClockUnsynced != nil {
		m.ClockUnsynced = convAll(m.ClockUnsynced)
	}
	m.Created = conv(m.Created)
	return m
}

// Sign fills in the key fields and the version, and returns the manifest's
// JSON bytes and their signature (base64, as manifest.sig holds it).
func Sign(key ed25519.PrivateKey, m Manifest) (Manifest, []byte, string, error) {
	pub := key.Public().(ed25519.PublicKey)
	m.Version = ManifestVersion
	m.GapThresholdSec = GapThreshold.Seconds()
	m.PublicKey = base64.StdEncoding.EncodeToString(pub)
	m.KeyFingerprint = Fingerprint(pub)
	if m.Intervals == nil {
		m.Intervals = []Interval{}
	}
	if m.Gaps == nil {
		m.Gaps = []Interval{}
	}
	if err := m.check(); err != nil {
		return m, nil, "", fmt.Errorf("sign manifest: %w", err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, nil, "", fmt.Errorf("sign manifest: %w", err)
	}
	b = append(b, '\n')
	return m, b, base64.StdEncoding.EncodeToString(ed25519.Sign(key, b)), nil
}

// MaxManifestBytes bounds what ParseManifest reads.
const MaxManifestBytes = 1 << 20

// ParseManifest reads and checks a manifest (outside input: from a file
// the investigator was handed). It does not check the signature.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if len(b) > MaxManifestBytes {
		return m, fmt.Errorf("manifest: %d bytes, more than %d", len(b), MaxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("manifest: not JSON: %w", err)
	}
	if dec.More() {
		return m, errors.New("manifest: data after the JSON object")
	}
	if m.Version != ManifestVersion {
		return m, fmt.Errorf("manifest: version %d, this tool reads version %d", m.Version, ManifestVersion)
	}
	if err := m.check(); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	return m, nil
}

func (m Manifest) check() error {
	if len(m.SHA256) != 64 || strings.ToLower(m.SHA256) != m.SHA256 {
		return fmt.Errorf("sha256 %q is not 64 lower-case hex digits", m.SHA256)
	}
	if _, err := hex.DecodeString(m.SHA256); err != nil {
		return fmt.Errorf("sha256 %q is not hex", m.SHA256)
	}
	if m.Bytes <= 0 {
		return fmt.Errorf("clip size %d", m.Bytes)
	}
	if m.File == "" || strings.ContainsAny(m.File, `/\`) {
		return fmt.Errorf("file name %q", m.File)
	}
	if len(m.Intervals) == 0 {
		return errors.New("no intervals: the clip holds no video")
	}
	if !m.Requested.From.Before(m.Requested.To) {
		return errors.New("requested range is empty")
	}
	for _, list := range []struct {
		name string
		v    []Interval
	}{{"interval", m.Intervals}, {"gap", m.Gaps}, {"unsynchronised-clock interval", m.ClockUnsynced}} {
		for i, v := range list.v {
			if !v.From.Before(v.To) {
				return fmt.Errorf("%s %d is empty or reversed", list.name, i+1)
			}
			if i > 0 && v.From.Before(list.v[i-1].To) {
				return fmt.Errorf("%s %d overlaps the one before", list.name, i+1)
			}
		}
	}
	raw, err := base64.StdEncoding.DecodeString(m.PublicKey)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return errors.New("publicKey is not a base64 ed25519 key")
	}
	return nil
}

// ParseSignature reads manifest.sig: one base64 ed25519 signature.
func ParseSignature(b []byte) ([]byte, error) {
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, errors.New("signature: not a base64 ed25519 signature")
	}
	return sig, nil
}

// Errors of Verify, each a different finding.
var (
	ErrUntrustedKey = errors.New("the manifest was not signed with the trusted box key")
	ErrBadSignature = errors.New("the signature does not match the manifest")
	ErrClipSize     = errors.New("the clip's size differs from the manifest")
	ErrClipHash     = errors.New("the clip's SHA-256 differs from the manifest")
)

// Report is what Verify checked.
type Report struct {
	Manifest    Manifest
	KeyTrusted  bool // the manifest's key has the trusted fingerprint
	SignatureOK bool // the signature over the manifest's bytes holds
	ClipBytes   int64
	ClipSHA256  string
	SizeOK      bool
	HashOK      bool
}

// OK says every check passed.
func (r Report) OK() bool { return r.KeyTrusted && r.SignatureOK && r.SizeOK && r.HashOK }

// Verify checks an export: the manifest parses, it was signed by the
// trusted box key (and by no other), and the clip has the manifest's size
// and SHA-256. Once the manifest and signature parse (else Report.Manifest
// is zero), it reads the whole clip even after a failed check, so the
// report always has the clip's own hash. The error joins every finding.
func Verify(manifestJSON, sigText []byte, clip io.Reader, trust Trust) (Report, error) {
	var rep Report
	sig, err := ParseSignature(sigText)
	if err != nil {
		return rep, err
	}
	m, err := ParseManifest(manifestJSON)
	if err != nil {
		return rep, err
	}
	rep.Manifest = m
	pub, _ := base64.StdEncoding.DecodeString(m.PublicKey) // checked by ParseManifest
	var errs []error
	rep.KeyTrusted = trust.Trusts(pub)
	if rep.KeyTrusted {
		rep.SignatureOK = ed25519.Verify(pub, manifestJSON, sig)
		if !rep.SignatureOK {
			errs = append(errs, ErrBadSignature)
		}
	} else {
		errs = append(errs, fmt.Errorf("%w (manifest key %s, trusted %s)", ErrUntrustedKey, Fingerprint(pub), trust.Fingerprint()))
	}
	h := sha256.New()
	n, err := io.Copy(h, clip)
	if err != nil {
		return rep, fmt.Errorf("read clip: %w", err)
	}
	rep.ClipBytes, rep.ClipSHA256 = n, hex.EncodeToString(h.Sum(nil))
	rep.SizeOK = n == m.Bytes
	rep.HashOK = rep.ClipSHA256 == m.SHA256
	if !rep.SizeOK {
		errs = append(errs, fmt.Errorf("%w (%d bytes, manifest %d)", ErrClipSize, n, m.Bytes))
	}
	if !rep.HashOK {
		errs = append(errs, ErrClipHash)
	}
	return rep, errors.Join(errs...)
}
