// Package fmp4 writes and reads fragmented MP4 (ISO BMFF) for one H.264 or
// H.265 video track: an init segment (ftyp+moov) built from a media.Stream's
// parameter sets, and fragments (moof+mdat) of AVCC length-prefixed samples.
//
// It knows nothing about files: the recorder writes its output to segment
// files, the live view sends it over a WebSocket, export re-muxes it. The
// writer reuses its buffers, so a fragment costs no allocation once warm; it
// is handed out as a header and the sample bytes, for one vectored write
// (writev) without a second copy of the fragment.
//
// It is also the tree's one MP4 box reader: ScanSegment and ParseMoof for
// the daemon's segments, ReadMovie (with ParseAVCConfig and SplitSample)
// for whole MP4 files, progressive or fragmented, such as mbdump reads.
package fmp4

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/matthan/matthan/daemon/media"
)

// Timescale is the track timescale of everything this package writes: 90 kHz,
// the RTP video clock.
const Timescale = 90000

// Sample flags as written in trun.
const (
	flagsKey    = 0x02000000 // sample_depends_on=2 (depends on nothing)
	flagsNonKey = 0x01010000 // sample_depends_on=1, sample_is_non_sync_sample=1
)

// ErrUnsupported is returned for codecs this package cannot mux.
var ErrUnsupported = errors.New("fmp4: unsupported codec")

// boxWriter appends ISO BMFF boxes to a byte slice, patching sizes on close.
type boxWriter struct {
	b     []byte
	stack [16]int
	depth int
}

func (w *boxWriter) open(typ string) {
	w.stack[w.depth] = len(w.b)
	w.depth++
	w.b = append(w.b, 0, 0, 0, 0, typ[0], typ[1], typ[2], typ[3])
}

func (w *boxWriter) openFull(typ string, version byte, flags uint32) {
	w.open(typ)
	w.u32(uint32(version)<<24 | flags&0xffffff)
}

func (w *boxWriter) close() {
	w.depth--
	start := w.stack[w.depth]
	binary.BigEndian.PutUint32(w.b[start:], uint32(len(w.b)-start))
}

func (w *boxWriter) u8(v byte)    { w.b = append(w.b, v) }
func (w *boxWriter) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *boxWriter) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *boxWriter) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *boxWriter) zeros(n int) {
	for range n {
		w.b = append(w.b, 0)
	}
}
func (w *boxWriter) bytes(p []byte) { w.b = append(w.b, p...) }

var unityMatrix = [9]uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000}

func (w *boxWriter) matrix() {
	for _, v := range unityMatrix {
		w.u32(v)
	}
}

// InitSegment returns the ftyp and moov boxes for s: one video track with
// timescale Timescale, an avcC (H.264) or hvcC (H.265) built from s's
// parameter sets, and width and height taken from the SPS (s.Width and
// s.Height are used only when the SPS does not parse).
func InitSegment(s media.Stream) ([]byte, error) {
	return AppendInitSegment(nil, s)
}

// AppendInitSegment appends the init segment for s to dst.
func AppendInitSegment(dst []byte, s media.Stream) ([]byte, error) {
	info, err := ParseParams(s)
	if err != nil {
		return dst, err
	}
	w := boxWriter{b: dst}

	w.open("ftyp")
	w.bytes([]byte("iso5"))
	w.u32(512)
	w.bytes([]byte("iso5iso6mp41"))
	if s.Codec == media.H264 {
		w.bytes([]byte("avc1"))
	} else {
		w.bytes([]byte("hvc1"))
	}
	w.close()

	w.open("moov")
	w.openFull("mvhd", 0, 0)
	w.u32(0) // creation
	w.u32(0) // modification
	w.u32(1000)
	w.u32(0) // duration: unknown, fragments carry the timing
	w.u32(0x00010000)
	w.u16(0x0100)
	w.zeros(10)
	w.matrix()
	w.zeros(24)
	if s.Audio != nil {
		w.u32(3) // next track ID
	} else {
		w.u32(2)
	}
	w.close()

	w.open("trak")
	w.openFull("tkhd", 0, 3)
	w.u32(0)
	w.u32(0)
	w.u32(1) // track ID
	w.u32(0)
	w.u32(0) // duration
	w.zeros(8)
	w.u16(0) // layer
	w.u16(0) // alternate group
	w.u16(0) // volume
	w.u16(0)
	w.matrix()
	w.u32(uint32(info.Width) << 16)
	w.u32(uint32(info.Height) << 16)
	w.close()

	w.open("mdia")
	w.openFull("mdhd", 0, 0)
	w.u32(0)
	w.u32(0)
	w.u32(Timescale)
	w.u32(0)
	w.u16(0x55c4) // "und"
	w.u16(0)
	w.close()
	w.openFull("hdlr", 0, 0)
	w.u32(0)
	w.bytes([]byte("vide"))
	w.zeros(12)
	w.bytes([]byte("VideoHandler\x00"))
	w.close()
	w.open("minf")
	w.openFull("vmhd", 0, 1)
	w.zeros(8)
	w.close()
	w.open("dinf")
	w.openFull("dref", 0, 0)
	w.u32(1)
	w.openFull("url ", 0, 1)
	w.close()
	w.close()
	w.close()
	w.open("stbl")
	w.openFull("stsd", 0, 0)
	w.u32(1)
	if err := writeSampleEntry(&w, s, info); err != nil {
		return dst, err
	}
	w.close()
	for _, typ := range []string{"stts", "stsc", "stco"} {
		w.openFull(typ, 0, 0)
		w.u32(0)
		w.close()
	}
	w.openFull("stsz", 0, 0)
	w.u32(0)
	w.u32(0)
	w.close()
	w.close() // stbl
	w.close() // minf
	w.close() // mdia
	w.close() // trak
	if s.Audio != nil {
		if err := writeAudioTrak(&w, s.Audio); err != nil {
			return dst, err
		}
	}

	w.open("mvex")
	w.openFull("trex", 0, 0)
	w.u32(1) // track
	w.u32(1) // sample description index
	w.u32(0)
	w.u32(0)
	w.u32(0)
	w.close()
	if s.Audio != nil {
		w.openFull("trex", 0, 0)
		w.u32(AudioTrackID)
		w.u32(1)
		w.u32(0)
		w.u32(0)
		w.u32(0)
		w.close()
	}
	w.close()
	w.close() // moov
	return w.b, nil
}

func writeSampleEntry(w *boxWriter, s media.Stream, info ParamInfo) error {
	if s.Codec == media.H264 {
		w.open("avc1")
	} else {
		w.open("hvc1")
	}
	w.zeros(6)
	w.u16(1) // data reference index
	w.zeros(16)
	w.u16(uint16(info.Width))
	w.u16(uint16(info.Height))
	w.u32(0x00480000)
	w.u32(0x00480000)
	w.u32(0)
	w.u16(1) // frame count
	w.zeros(32)
	w.u16(0x0018)
	w.u16(0xffff)
	switch s.Codec {
	case media.H264:
		w.open("avcC")
		w.u8(1)
		w.u8(s.SPS[1])
		w.u8(s.SPS[2])
		w.u8(s.SPS[3])
		w.u8(0xff) // 4-byte lengths
		w.u8(0xe1) // one SPS
		w.u16(uint16(len(s.SPS)))
		w.bytes(s.SPS)
		w.u8(1)
		w.u16(uint16(len(s.PPS)))
		w.bytes(s.PPS)
		w.close()
	case media.H265:
		w.open("hvcC")
		w.u8(1)
		w.bytes(info.ProfileTierLevel[:])
		w.u16(0xf000)
		w.u8(0xfc)
		w.u8(0xfc | info.ChromaFormat&3)
		w.u8(0xf8 | info.BitDepthLuma8&7)
		w.u8(0xf8 | info.BitDepthChroma8&7)
		w.u16(0)
		w.u8(info.TemporalLayers<<3 | info.TemporalNested<<2 | 3)
		w.u8(3)
		for _, a := range []struct {
			typ  byte
			nalu []byte
		}{{32, s.VPS}, {33, s.SPS}, {34, s.PPS}} {
			w.u8(0x80 | a.typ)
			w.u16(1)
			w.u16(uint16(len(a.nalu)))
			w.bytes(a.nalu)
		}
		w.close()
	default:
		return fmt.Errorf("%w: %v", ErrUnsupported, s.Codec)
	}
	w.close()
	return nil
}

// Sample describes one access unit in a fragment.
type Sample struct {
	// Duration in Timescale ticks; must be > 0.
	Duration uint32
	// PTSOffset is PTS - DTS in ticks (composition time offset).
	PTSOffset int32
	Key       bool
}

type sampleEntry struct {
	duration uint32
	size     uint32
	flags    uint32
	cto      int32
}

// FragmentBuilder collects samples and encodes them as one moof+mdat. The
// zero value is ready; Reset it to reuse its buffers for the next fragment.
//
// The sample bytes are kept in one arena per builder (the payload), sized to
// the stream: it grows by a quarter beyond what a fragment needed and, after
// a spike, is trimmed once fragments have been smaller for a while.
// Header returns only the moof box and the mdat header: the fragment is that
// header followed by Payload, written together with one vectored write, so the
// fragment is never copied a second time.
type FragmentBuilder struct {
	samples []sampleEntry
	payload []byte
	hdr     []byte
	// windowMax is the largest payload of the windowLen fragments since the
	// arena was last checked (see shrinkAfter).
	windowMax, windowLen int
}

// Arena sizing: grow to the need plus a quarter (few copies while a stream
// starts); every shrinkAfter fragments, when the arena is more than a
// quarter larger than the largest payload of those fragments plus an eighth
// (the start-up headroom, or a spike that is over), reallocate it to that.
const (
	shrinkAfter = 30
	minArena    = 64 << 10
)

// Reset empties the builder, keeping its buffers (an arena much larger than
// the recent fragments needed is given back).
func (b *FragmentBuilder) Reset() {
	if n := len(b.payload); n > 0 {
		b.windowMax = max(b.windowMax, n)
		b.windowLen++
		if b.windowLen >= shrinkAfter {
			want := max(b.windowMax+b.windowMax/8, minArena)
			b.windowMax, b.windowLen = 0, 0
			if cap(b.payload) > want+want/4 {
				b.payload = make([]byte, 0, want)
			}
		}
	}
	b.samples = b.samples[:0]
	b.payload = b.payload[:0]
}

// Len is the number of samples added since the last Reset.
func (b *FragmentBuilder) Len() int { return len(b.samples) }

// PayloadSize is the number of sample bytes added since the last Reset.
func (b *FragmentBuilder) PayloadSize() int { return len(b.payload) }

// ArenaSize is the capacity of the payload arena (what the builder holds).
func (b *FragmentBuilder) ArenaSize() int { return cap(b.payload) }

// grow makes room for n more payload bytes: the arena grows to the need plus
// a quarter (not doubled), copied once.
func (b *FragmentBuilder) grow(n int) {
	need := len(b.payload) + n
	if need <= cap(b.payload) {
		return
	}
	p := make([]byte, len(b.payload), max(need+need/4, minArena))
	copy(p, b.payload)
	b.payload = p
}

// AddNALUs appends one sample made of nalus (without start codes), each
// written with a 4-byte length prefix. Access unit delimiters and filler data
// are dropped; parameter sets are kept in band so that a decoder follows a
// change of them. The bytes are copied: nalus may be reused on return.
func (b *FragmentBuilder) AddNALUs(codec media.Codec, nalus [][]byte, s Sample) {
	size := 0
	for _, n := range nalus {
		if len(n) > 0 && !dropNALU(codec, n) {
			size += 4 + len(n)
		}
	}
	b.grow(size)
	start := len(b.payload)
	for _, n := range nalus {
		if len(n) == 0 || dropNALU(codec, n) {
			continue
		}
		b.payload = binary.BigEndian.AppendUint32(b.payload, uint32(len(n)))
		b.payload = append(b.payload, n...)
	}
	b.addEntry(uint32(len(b.payload)-start), s)
}

// AddSample appends one sample whose data is already AVCC (4-byte length
// prefixed), as read back from a file. data is copied.
func (b *FragmentBuilder) AddSample(data []byte, s Sample) {
	b.grow(len(data))
	b.payload = append(b.payload, data...)
	b.addEntry(uint32(len(data)), s)
}

// AddLPCM appends one audio sample: G.711 bytes (media.PCMA or PCMU)
// expanded to 16-bit little-endian LPCM, as the 'sowt' track wants them.
func (b *FragmentBuilder) AddLPCM(g711 []byte, codec media.AudioCodec, s Sample) {
	b.grow(2 * len(g711))
	start := len(b.payload)
	b.payload = media.AppendLPCM(b.payload, g711, codec)
	b.addEntry(uint32(len(b.payload)-start), s)
}

func (b *FragmentBuilder) addEntry(size uint32, s Sample) {
	flags := uint32(flagsNonKey)
	if s.Key {
		flags = flagsKey
	}
	b.samples = append(b.samples, sampleEntry{duration: s.Duration, size: size, flags: flags, cto: s.PTSOffset})
}

// SetLastDuration sets the duration of the most recently added sample, whose
// length is known only when the next sample's DTS arrives.
func (b *FragmentBuilder) SetLastDuration(d uint32) {
	if n := len(b.samples); n > 0 {
		b.samples[n-1].duration = d
	}
}

// LastDuration is the duration of the most recently added sample (0 if none).
func (b *FragmentBuilder) LastDuration() uint32 {
	if n := len(b.samples); n > 0 {
		return b.samples[n-1].duration
	}
	return 0
}

// Duration is the sum of the sample durations, in ticks.
func (b *FragmentBuilder) Duration() uint64 {
	var d uint64
	for _, s := range b.samples {
		d += uint64(s.duration)
	}
	return d
}

// Header returns the moof box and the mdat box header for the samples added:
// sequence number seq and baseMediaDecodeTime baseTime (ticks). The fragment
// is Header() followed by Payload(). The result is valid until the next call
// of Header or Encode; the builder keeps its samples until Reset.
func (b *FragmentBuilder) Header(seq uint32, baseTime uint64) []byte {
	return b.HeaderAV(seq, baseTime, nil, 0)
}

// HeaderAV is Header for a fragment that carries the audio track's samples
// too (a's, track AudioTrackID, its first at aBase in the audio track's
// timescale): the fragment is HeaderAV(), b.Payload(), a.Payload(). With a
// nil or empty a it is Header.
func (b *FragmentBuilder) HeaderAV(seq uint32, baseTime uint64, a *FragmentBuilder, aBase uint64) []byte {
	w := boxWriter{b: b.hdr[:0]}
	w.open("moof")
	w.openFull("mfhd", 0, 0)
	w.u32(seq)
	w.close()
	vOff := writeTraf(&w, 1, baseTime, b.samples)
	aOff := -1
	if a != nil && len(a.samples) > 0 {
		aOff = writeTraf(&w, AudioTrackID, aBase, a.samples)
	}
	w.close() // moof
	binary.BigEndian.PutUint32(w.b[vOff:], uint32(len(w.b)+8))
	size := len(b.payload)
	if aOff >= 0 {
		binary.BigEndian.PutUint32(w.b[aOff:], uint32(len(w.b)+8+len(b.payload)))
		size += len(a.payload)
	}
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(8+size))
	w.b = append(w.b, "mdat"...)
	b.hdr = w.b
	return w.b
}

// writeTraf writes one track's traf and returns where its trun's data
// offset is to be patched.
func writeTraf(w *boxWriter, track uint32, baseTime uint64, samples []sampleEntry) int {
	w.open("traf")
	w.openFull("tfhd", 0, 0x020000) // default-base-is-moof
	w.u32(track)
	w.close()
	w.openFull("tfdt", 1, 0)
	w.u64(baseTime)
	w.close()
	w.openFull("trun", 1, 0xf01)
	w.u32(uint32(len(samples)))
	dataOffsetPos := len(w.b)
	w.u32(0)
	for _, s := range samples {
		w.u32(s.duration)
		w.u32(s.size)
		w.u32(s.flags)
		w.u32(uint32(s.cto))
	}
	w.close() // trun
	w.close() // traf
	return dataOffsetPos
}

// Payload is the mdat content: the samples added since the last Reset. It
// is valid until the next Add or Reset.
func (b *FragmentBuilder) Payload() []byte { return b.payload }

// Encode returns the whole fragment (moof+mdat) as one new slice: Header and
// Payload copied together. Writers that care about memory write Header and
// Payload with one vectored write instead.
func (b *FragmentBuilder) Encode(seq uint32, baseTime uint64) []byte {
	h := b.Header(seq, baseTime)
	out := make([]byte, 0, len(h)+len(b.payload))
	return append(append(out, h...), b.payload...)
}

func dropNALU(codec media.Codec, n []byte) bool {
	switch codec {
	case media.H264:
		t := n[0] & 0x1f
		return t == 9 || t == 12 // AUD, filler
	case media.H265:
		t := (n[0] >> 1) & 0x3f
		return t == 35 || t == 38 // AUD, filler
	}
	return false
}
