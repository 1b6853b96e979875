package record

import (
	"fmt"
	"time"

	"github.com/matthan/matthan/daemon/media"
)

// maxGOPIndex bounds the pictures tracked since the last key frame (a
// camera that never sends one must not grow the index): past it, ReadGOP
// has nothing until the next key frame.
const maxGOPIndex = 600

// gopIndex says where each picture of the current GOP (from the last key
// frame on) is: in the segment file already written, or still in the
// fragment being built. It holds no picture bytes: a new live viewer's
// first key frame is read back from the segment, which the page cache
// holds, instead of every camera keeping its GOP in the heap.
type gopIndex struct {
	pics   []gopPic
	broken bool // the GOP cannot be given whole (lost fragment, too long)
}

type gopPic struct {
	dts    time.Duration // the stream DTS the picture came with
	cto    int32         // PTS - DTS, ticks
	key    bool
	onDisk bool  // written: off is a file offset; else an offset in the fragment's payload
	off    int64 // where its sample bytes start
	size   int
}

func (g *gopIndex) reset() {
	g.pics = g.pics[:0]
	g.broken = true
}

// add notes a picture added to the fragment at payload offset off.
func (g *gopIndex) add(au *media.AccessUnit, off int64, size int, cto int32) {
	if au.Key {
		g.pics = g.pics[:0]
		g.broken = false
	}
	if g.broken {
		return
	}
	if len(g.pics) >= maxGOPIndex {
		g.reset()
		return
	}
	g.pics = append(g.pics, gopPic{dts: au.DTS, cto: cto, key: au.Key, off: off, size: size})
}

// written notes that the fragment's payload went to the file at offset at.
func (g *gopIndex) written(at int64) {
	for i := range g.pics {
		if p := &g.pics[i]; !p.onDisk {
			p.onDisk = true
			p.off += at
		}
	}
}

// ReadGOP calls fn, in decode order, with every picture recorded since the
// last key frame whose DTS is at most upto, starting with that key frame:
// its DTS as the stream gave it, PTS - DTS, and its sample bytes as written
// (4-byte length-prefixed NAL units), read from the segment file (the page
// cache) or the fragment not yet written; data is valid only during the
// call. It implements live.GOPSource. It returns how many
// pictures it gave; 0 with a nil error when there is no whole GOP
// (recording stopped, a fragment was lost, the camera sends no key frame).
func (r *Recorder) ReadGOP(upto time.Duration, fn func(dts, cto time.Duration, key bool, data []byte)) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gop.broken || len(r.gop.pics) == 0 || r.seg == nil {
		return 0, nil
	}
	payload := r.frag.Payload()
	n := 0
	for _, p := range r.gop.pics {
		if p.dts > upto {
			break
		}
		var data []byte
		if p.onDisk {
			if cap(r.readBuf) < p.size {
				r.readBuf = make([]byte, p.size+p.size/4)
			}
			data = r.readBuf[:p.size]
			if _, err := r.seg.ReadAt(data, p.off); err != nil {
				return n, fmt.Errorf("record %s: read back the GOP: %w", r.camera, err)
			}
		} else {
			if p.off+int64(p.size) > int64(len(payload)) {
				return n, fmt.Errorf("record %s: GOP index past the fragment", r.camera)
			}
			data = payload[p.off : p.off+int64(p.size)]
		}
		fn(p.dts, tickDur(uint64(max(p.cto, 0))), p.key, data)
		n++
	}
	// The read buffer is for one viewer's start: not kept between them.
	r.readBuf = nil
	return n, nil
}
