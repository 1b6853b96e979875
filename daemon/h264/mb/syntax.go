package mb

// Syntax elements of the macroblock layer, each with its CAVLC and its
// CABAC form (clause 9.2 and 9.3).

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// skipFlag decodes mb_skip_flag (CABAC only).
func (d *sliceDecoder) skipFlag() bool {
	inc := 0
	if a := d.left; a != nil && a.cat != catSkip {
		inc++
	}
	if b := d.top; b != nil && b.cat != catSkip {
		inc++
	}
	base := 11
	if d.isB {
		base = 24
	}
	return d.cabac.decision(base+inc) == 1
}

func (d *sliceDecoder) mbType() (int, error) {
	if !d.useCABAC {
		t := int(d.r.UE())
		if d.r.Err() != nil {
			return 0, d.fail("mb_type: %v", d.r.Err())
		}
		return t, nil
	}
	c := &d.cabac
	switch {
	case d.isI:
		inc := 0
		if a := d.left; a != nil && a.cat != catI4x4 {
			inc++
		}
		if b := d.top; b != nil && b.cat != catI4x4 {
			inc++
		}
		return d.intraMBTypeCABAC(3+inc, 3, true), nil
	case d.isB:
		inc := 0
		if a := d.left; a != nil && !a.direct16 {
			inc++
		}
		if b := d.top; b != nil && !b.direct16 {
			inc++
		}
		if c.decision(27+inc) == 0 {
			return 0, nil // B_Direct_16x16
		}
		if c.decision(27+3) == 0 {
			return 1 + int(c.decision(27+5)), nil
		}
		bits := int(c.decision(27+4))<<3 | int(c.decision(27+5))<<2 | int(c.decision(27+5))<<1 | int(c.decision(27+5))
		switch {
		case bits < 8:
			return bits + 3, nil
		case bits == 13:
			return 23 + d.intraMBTypeCABAC(32, 32, false), nil
		case bits == 14:
			return 11, nil
		case bits == 15:
			return 22, nil
		}
		bits = bits<<1 | int(c.decision(27+5))
		return bits - 4, nil
	default:
		if c.decision(14) == 0 {
			if c.decision(15) == 0 {
				return 3 * int(c.decision(16)), nil
			}
			return 2 - int(c.decision(17)), nil
		}
		return 5 + d.intraMBTypeCABAC(17, 17, false), nil
	}
}

// intraMBTypeCABAC decodes the I macroblock types: first is the context of
// the first bin, base the ctxIdxOffset (3 in I slices, 17 in P, 32 in B).
func (d *sliceDecoder) intraMBTypeCABAC(first, base int, islice bool) int {
	c := &d.cabac
	if c.decision(first) == 0 {
		return 0 // I_NxN
	}
	if c.terminate() == 1 {
		return 25 // I_PCM
	}
	s := base + 1
	if islice {
		s = base + 3
	}
	// s: cbp luma; s+1: chroma; then chroma second bin and prediction mode bins.
	t := 1 + 12*int(c.decision(s))
	if c.decision(s+1) == 1 {
		if islice {
			t += 4 + 4*int(c.decision(s+2))
		} else {
			t += 4 + 4*int(c.decision(s+1))
		}
	}
	if islice {
		t += 2 * int(c.decision(s+3))
		t += int(c.decision(s + 4))
	} else {
		t += 2 * int(c.decision(s+2))
		t += int(c.decision(s + 2))
	}
	return t
}

func (d *sliceDecoder) subMBType() (int, error) {
	max := 3
	if d.isB {
		max = 12
	}
	if !d.useCABAC {
		t := int(d.r.UE())
		if t > max || d.r.Err() != nil {
			return 0, d.fail("sub_mb_type %d out of range", t)
		}
		return t, nil
	}
	c := &d.cabac
	if !d.isB {
		if c.decision(21) == 1 {
			return 0, nil
		}
		if c.decision(22) == 0 {
			return 1, nil
		}
		if c.decision(23) == 1 {
			return 2, nil
		}
		return 3, nil
	}
	if c.decision(36) == 0 {
		return 0, nil
	}
	if c.decision(37) == 0 {
		return 1 + int(c.decision(39)), nil
	}
	t := 3
	if c.decision(38) == 1 {
		if c.decision(39) == 1 {
			return 11 + int(c.decision(39)), nil
		}
		t += 4
	}
	t += 2 * int(c.decision(39))
	t += int(c.decision(39))
	return t, nil
}

func (d *sliceDecoder) transform8x8Flag() bool {
	if !d.useCABAC {
		return d.r.Flag()
	}
	inc := 0
	if a := d.left; a != nil && a.t8x8 {
		inc++
	}
	if b := d.top; b != nil && b.t8x8 {
		inc++
	}
	return d.cabac.decision(399+inc) == 1
}

func (d *sliceDecoder) intraPredMode() {
	if !d.useCABAC {
		if !d.r.Flag() {
			d.r.Skip(3)
		}
		return
	}
	if d.cabac.decision(68) == 0 {
		d.cabac.decision(69)
		d.cabac.decision(69)
		d.cabac.decision(69)
	}
}

func (d *sliceDecoder) chromaPredMode() (uint8, error) {
	if !d.useCABAC {
		v := d.r.UE()
		if v > 3 {
			return 0, d.fail("intra_chroma_pred_mode %d out of range", v)
		}
		return uint8(v), nil
	}
	inc := 0
	if a := d.left; a != nil && a.chromaPred != 0 {
		inc++
	}
	if b := d.top; b != nil && b.chromaPred != 0 {
		inc++
	}
	c := &d.cabac
	if c.decision(64+inc) == 0 {
		return 0, nil
	}
	if c.decision(67) == 0 {
		return 1, nil
	}
	if c.decision(67) == 0 {
		return 2, nil
	}
	return 3, nil
}

func (d *sliceDecoder) codedBlockPattern(intra bool) (uint8, error) {
	if !d.useCABAC {
		v := d.r.UE()
		if v > 47 {
			return 0, d.fail("coded_block_pattern code %d out of range", v)
		}
		if intra {
			return cbpIntra[v], nil
		}
		return cbpInter[v], nil
	}
	c := &d.cabac
	m := d.cur
	left := d.left
	top := d.top
	m.cbp = 0
	for b8 := 0; b8 < 4; b8++ {
		// condTermFlagN is 1 when the neighbouring 8x8 block has no coded luma.
		a, b := 0, 0
		if b8&1 == 1 {
			a = b2i(m.cbp&(1<<(b8-1)) == 0)
		} else if left != nil {
			a = b2i(left.cbp&(1<<(b8+1)) == 0)
		}
		if b8&2 == 2 {
			b = b2i(m.cbp&(1<<(b8-2)) == 0)
		} else if top != nil {
			b = b2i(top.cbp&(1<<(b8+2)) == 0)
		}
		if c.decision(73+a+2*b) == 1 {
			m.cbp |= 1 << b8
		}
	}
	a, b := 0, 0
	if left != nil && left.cbp>>4 != 0 {
		a = 1
	}
	if top != nil && top.cbp>>4 != 0 {
		b = 1
	}
	cbp := m.cbp
	if c.decision(77+a+2*b) == 1 {
		a, b = 0, 0
		if left != nil && left.cbp>>4 == 2 {
			a = 1
		}
		if top != nil && top.cbp>>4 == 2 {
			b = 1
		}
		cbp |= uint8(1+c.decision(77+4+a+2*b)) << 4
	}
	return cbp, nil
}

func (d *sliceDecoder) qpDelta() error {
	if !d.useCABAC {
		v := d.r.SE()
		if v < -26 || v > 25 {
			return d.fail("mb_qp_delta %d out of range", v)
		}
		d.prevQPDeltaNZ = v != 0
		d.qp = (d.qp + int(v) + 52) % 52
		return nil
	}
	c := &d.cabac
	if c.decision(60+b2i(d.prevQPDeltaNZ)) == 0 {
		d.prevQPDeltaNZ = false
		return nil
	}
	k := 1
	ctx := 62
	for c.decision(ctx) == 1 {
		ctx = 63
		k++
		if k > 102 {
			return d.fail("mb_qp_delta too long")
		}
	}
	d.prevQPDeltaNZ = true
	v := (k + 1) / 2 // mb_qp_delta from its unary code k (9.3.2.7)
	if k%2 == 0 {
		v = -k / 2
	}
	if v < -26 || v > 25 {
		return d.fail("mb_qp_delta %d out of range", v)
	}
	d.qp = (d.qp + v + 52) % 52
	return nil
}

// refIdx decodes ref_idx_lX of the partition whose top-left 4x4 block is (x, y).
func (d *sliceDecoder) refIdx(list, x, y int) (int, error) {
	max := d.hdr.NumRefIdxActive[list] - 1
	if !d.useCABAC {
		v := int(d.r.TE(uint32(max)))
		if v > max || d.r.Err() != nil {
			return 0, d.fail("ref_idx_l%d %d out of range 0..%d", list, v, max)
		}
		return v, nil
	}
	cond := func(m *mbState, idx int) int {
		if m == nil || m.cat == catSkip || m.intra() {
			return 0
		}
		b8 := (idx>>3)<<1 | (idx&3)>>1
		if m.direct8&(1<<b8) != 0 || m.ref[list][b8] <= 0 {
			return 0
		}
		return 1
	}
	mA, iA := d.nb4(x-1, y)
	mB, iB := d.nb4(x, y-1)
	ctx := 54 + cond(mA, iA) + 2*cond(mB, iB)
	v := 0
	for d.cabac.decision(ctx) == 1 {
		v++
		if v == 1 {
			ctx = 58
		} else {
			ctx = 59
		}
		if v > max {
			return 0, d.fail("ref_idx_l%d %d out of range 0..%d", list, v, max)
		}
	}
	return v, nil
}

// mvd decodes mvd_lX (both components) of the partition at (x, y).
func (d *sliceDecoder) mvd(list, x, y int) (int32, int32, error) {
	if !d.useCABAC {
		mx, my := d.r.SE(), d.r.SE()
		if d.r.Err() != nil {
			return 0, 0, d.fail("mvd: %v", d.r.Err())
		}
		return mx, my, nil
	}
	mA, iA := d.nb4(x-1, y)
	mB, iB := d.nb4(x, y-1)
	var out [2]int32
	for comp := 0; comp < 2; comp++ {
		sum := 0
		if mA != nil {
			sum += int(mA.mvd[list][iA][comp])
		}
		if mB != nil {
			sum += int(mB.mvd[list][iB][comp])
		}
		base := 40
		if comp == 1 {
			base = 47
		}
		inc := 0
		if sum > 32 {
			inc = 2
		} else if sum >= 3 {
			inc = 1
		}
		c := &d.cabac
		if c.decision(base+inc) == 0 {
			continue
		}
		v := int32(1)
		ctx := base + 3
		for v < 9 && c.decision(ctx) == 1 {
			if v < 4 {
				ctx++
			}
			v++
		}
		if v >= 9 {
			k := 3
			for c.bypass() == 1 {
				v += 1 << uint(k)
				k++
				if k > 24 {
					return 0, 0, d.fail("mvd suffix too long")
				}
			}
			for k > 0 {
				k--
				v += int32(c.bypass()) << uint(k)
			}
		}
		if c.bypass() == 1 {
			v = -v
		}
		out[comp] = v
	}
	return out[0], out[1], nil
}
