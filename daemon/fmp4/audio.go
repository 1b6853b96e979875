package fmp4

import (
	"fmt"

	"github.com/matthan/matthan/daemon/media"
)

// AudioTrackID is the audio track's ID in the files this package writes
// (the video is track 1). Its timescale is the sample rate.
const AudioTrackID = 2

// AudioSampleEntry is the sample entry the audio track gets: AAC as it
// comes ('mp4a' with its AudioSpecificConfig in 'esds'); G.711 expanded to
// 16-bit little-endian LPCM ('sowt', which ffmpeg, VLC and QuickTime read;
// MP4 and MSE have no G.711).
func AudioSampleEntry(c media.AudioCodec) string {
	if c == media.AAC {
		return "mp4a"
	}
	return "sowt"
}

// writeAudioTrak writes the audio track (ID AudioTrackID).
func writeAudioTrak(w *boxWriter, a *media.Audio) error {
	if a.SampleRate <= 0 || a.SampleRate > 0xffff || a.Channels <= 0 || a.Channels > 8 {
		return fmt.Errorf("%w: audio %v at %d Hz, %d channels", ErrUnsupported, a.Codec, a.SampleRate, a.Channels)
	}
	switch a.Codec {
	case media.AAC:
		if len(a.Config) == 0 || len(a.Config) > 64 {
			return fmt.Errorf("%w: AAC without its AudioSpecificConfig", ErrUnsupported)
		}
	case media.PCMA, media.PCMU:
	default:
		return fmt.Errorf("%w: audio %v", ErrUnsupported, a.Codec)
	}
	w.open("trak")
	w.openFull("tkhd", 0, 3)
	w.u32(0)
	w.u32(0)
	w.u32(AudioTrackID)
	w.u32(0)
	w.u32(0) // duration
	w.zeros(8)
	w.u16(0)      // layer
	w.u16(1)      // alternate group
	w.u16(0x0100) // volume 1.0
	w.u16(0)
	w.matrix()
	w.u32(0) // width
	w.u32(0) // height
	w.close()

	w.open("mdia")
	w.openFull("mdhd", 0, 0)
	w.u32(0)
	w.u32(0)
	w.u32(uint32(a.SampleRate))
	w.u32(0)
	w.u16(0x55c4) // "und"
	w.u16(0)
	w.close()
	w.openFull("hdlr", 0, 0)
	w.u32(0)
	w.bytes([]byte("soun"))
	w.zeros(12)
	w.bytes([]byte("SoundHandler\x00"))
	w.close()
	w.open("minf")
	w.openFull("smhd", 0, 0)
	w.u32(0) // balance, reserved
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
	w.open(AudioSampleEntry(a.Codec))
	w.zeros(6)
	w.u16(1) // data reference index
	w.zeros(8)
	w.u16(uint16(a.Channels))
	w.u16(16) // sample size
	w.u16(0)
	w.u16(0)
	w.u32(uint32(a.SampleRate) << 16)
	if a.Codec == media.AAC {
		writeESDS(w, a.Config)
	}
	w.close() // sample entry
	w.close() // stsd
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
	return nil
}

// writeESDS writes the MPEG-4 elementary stream descriptor of an AAC track
// (ISO/IEC 14496-1 7.2.6; every length fits one byte here).
func writeESDS(w *boxWriter, config []byte) {
	w.openFull("esds", 0, 0)
	dcd := 13 + 2 + len(config) // DecoderConfigDescriptor body + DecoderSpecificInfo
	w.u8(0x03)                  // ES_Descriptor
	w.u8(byte(3 + 2 + dcd + 3))
	w.u16(0) // ES_ID
	w.u8(0)  // flags
	w.u8(0x04)
	w.u8(byte(dcd))
	w.u8(0x40) // Audio ISO/IEC 14496-3
	w.u8(0x15) // audio stream, reserved bit
	w.zeros(3) // buffer size
	w.u32(0)   // max bitrate
	w.u32(0)   // average bitrate
	w.u8(0x05) // DecoderSpecificInfo
	w.u8(byte(len(config)))
	w.bytes(config)
	w.u8(0x06) // SLConfigDescriptor
	w.u8(1)
	w.u8(2)
	w.close()
}
