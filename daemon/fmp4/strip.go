package fmp4

import "encoding/binary"

// Browsers' MSE cannot play the LPCM ('sowt') audio track, and refuse an
// init segment with a track they cannot decode: the page's playback gets
// the recording without it. StripAudioInit and StripAudioMoof remove the
// audio track from an init segment and from a fragment's moof as this
// package writes them; the mdat stays as it is (the audio bytes at its end
// are then simply not referenced).

// StripAudioInit returns init (ftyp+moov) without its audio track: the
// second trak and its trex are left out. An init without audio comes back
// unchanged.
func StripAudioInit(init []byte) ([]byte, error) {
	info, err := ParseInit(init)
	if err != nil || info.Audio == nil {
		return init, err
	}
	id := info.Audio.ID
	out := make([]byte, 0, len(init))
	err = eachBoxAt(init, func(typ string, _ int, box, body []byte) error {
		if typ != "moov" {
			out = append(out, box...)
			return nil
		}
		start := len(out)
		out = append(out, box[:8]...)
		err := eachBoxAt(body, func(typ string, _ int, box, body []byte) error {
			switch typ {
			case "trak":
				if trakID(body) == id {
					return nil
				}
			case "mvex":
				mstart := len(out)
				out = append(out, box[:8]...)
				eachBoxAt(body, func(typ string, _ int, box, body []byte) error {
					if typ == "trex" && len(body) >= 8 && binary.BigEndian.Uint32(body[4:]) == id {
						return nil
					}
					out = append(out, box...)
					return nil
				})
				binary.BigEndian.PutUint32(out[mstart:], uint32(len(out)-mstart))
				return nil
			}
			out = append(out, box...)
			return nil
		})
		binary.BigEndian.PutUint32(out[start:], uint32(len(out)-start))
		return err
	})
	return out, err
}

func trakID(body []byte) uint32 {
	tr, err := parseTrak(body)
	if err != nil {
		return 0
	}
	return tr.id
}

// StripAudioMoof returns a moof (header included) without its second traf
// (the audio's), the first traf's data offset moved back by what was taken
// out, so that it still points at the video samples in the mdat after it.
// A moof with one traf comes back unchanged.
func StripAudioMoof(moof []byte) ([]byte, error) {
	body, err := boxBody(moof, "moof")
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(moof))
	out = append(out, moof[:8]...)
	trafs, removed, trun := 0, 0, -1
	err = eachBoxAt(body, func(typ string, _ int, box, tbody []byte) error {
		if typ == "traf" {
			trafs++
			if trafs > 1 {
				removed += len(box)
				return nil
			}
			base := len(out) + 8
			eachBoxAt(tbody, func(typ string, off int, box, rbody []byte) error {
				if typ == "trun" && trun < 0 && len(rbody) >= 12 && binary.BigEndian.Uint32(rbody)&1 != 0 {
					trun = base + off + len(box) - len(rbody) + 8
				}
				return nil
			})
		}
		out = append(out, box...)
		return nil
	})
	if err != nil || removed == 0 {
		return moof, err
	}
	binary.BigEndian.PutUint32(out, uint32(len(out)))
	if trun >= 0 {
		binary.BigEndian.PutUint32(out[trun:], binary.BigEndian.Uint32(out[trun:])-uint32(removed))
	}
	return out, nil
}
