package fmp4_test

import (
	"fmt"
	"time"

	"github.com/matthan/matthan/daemon/fmp4"
	"github.com/matthan/matthan/daemon/media"
)

// The live view sends the init segment once, then one fragment per access
// unit (or per group of them) over a WebSocket for Media Source Extensions.
func ExampleFragmentBuilder() {
	stream := media.Stream{
		Codec: media.H264,
		SPS:   []byte{0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x11, 0x0f, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0c, 0x83, 0xc4, 0x89, 0x60},
		PPS:   []byte{0x68, 0xce, 0x3c, 0x80},
	}
	init, err := fmp4.InitSegment(stream)
	if err != nil {
		panic(err)
	}
	send := func(b []byte) { fmt.Println(string(b[4:8]), "...") } // ws.Write in the live view

	send(init)
	var fb fmp4.FragmentBuilder
	au := media.AccessUnit{DTS: 2 * time.Second, Key: true, NALUs: [][]byte{{0x65, 0x88, 0x84}}}
	fb.Reset()
	fb.AddNALUs(stream.Codec, au.NALUs, fmp4.Sample{Duration: fmp4.Timescale / 25, Key: au.Key})
	frag := fb.Encode(1, uint64(au.DTS/time.Microsecond)*fmp4.Timescale/1e6)
	send(frag) // valid until the next Encode
	// Output:
	// ftyp ...
	// moof ...
}
