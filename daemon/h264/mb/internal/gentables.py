"""Writes tables.go: the number tables of ITU-T H.264 that the macroblock
parser needs (CABAC context initialisation m,n for ctxIdx 0..1023, rangeTabLPS,
CAVLC coeff_token / total_zeros / run_before codes, 8x8 significance offsets).

The values are transcribed by machine from a copy of the standard's tables as
x264 keeps them (common/tables.c), whose range table is indexed by 63-pStateIdx.

usage: python3 gentables.py ../tables.go path/to/x264/common/tables.c
"""
import re,sys
src=open(sys.argv[2] if len(sys.argv) > 2 else '/tmp/x264tables.c').read()
def block(name):
    i=src.index(name)
    j=src.index('=',i)
    # find matching braces
    k=src.index('{',j); depth=0
    for p in range(k,len(src)):
        if src[p]=='{': depth+=1
        elif src[p]=='}':
            depth-=1
            if depth==0: return src[k:p+1]
def strip_comments(s): return re.sub(r'/\*.*?\*/','',s,flags=re.S)
def nums(s): return [int(x) for x in re.findall(r'-?\d+',strip_comments(s))]
I=nums(block('x264_cabac_context_init_I[1024][2]'))
PB=nums(block('x264_cabac_context_init_PB[3][1024][2]'))
assert len(I)==2048, len(I); assert len(PB)==3*2048, len(PB)
out=[]
out.append('// Code generated from the tables of ITU-T H.264 (Tables 9-12 to 9-33: CABAC\n// context initialisation m,n; Tables 9-5, 9-7, 9-8, 9-9, 9-10: CAVLC codes).\n// DO NOT EDIT.\n\npackage mb\n')
out.append('// cabacInitMN holds (m, n) per ctxIdx 0..1023: [0] for I/SI slices,\n// [1+cabac_init_idc] for P/B slices.\nvar cabacInitMN = [4][1024][2]int8{')
for t in range(4):
    arr = I if t==0 else PB[(t-1)*2048:t*2048]
    out.append('\t{')
    for c in range(0,1024,8):
        out.append('\t\t'+' '.join('{%d, %d},'%(arr[2*k],arr[2*k+1]) for k in range(c,c+8))+' // %d'%c)
    out.append('\t},')
out.append('}\n')
# vlc tables: parse nested structure, leaves {code,len}
def parse_vlc(s):
    s=strip_comments(s)
    # tokenize
    toks=re.findall(r'\{|\}|0x[0-9a-fA-F]+|-?\d+',s)
    pos=0
    def p():
        nonlocal pos
        assert toks[pos]=='{'; pos+=1
        items=[]
        while toks[pos]!='}':
            if toks[pos]=='{': items.append(p())
            else: items.append(int(toks[pos],0)); pos+=1
        pos+=1
        return items
    return p()
ct=parse_vlc(block('x264_coeff_token[6][16][4]'))
c0=parse_vlc(block('x264_coeff0_token[6]'))
# entries: (code,len,totalCoeff,trailingOnes)
out.append('// vlcEntry is one code: value bits, length, and the two values it stands for.\ntype vlcEntry struct{ code uint32; len, a, b uint8 }\n')
out.append('// coeffTokenCodes[nCtable] lists (code, len, TotalCoeff, TrailingOnes);\n// tables 0..3 are 0<=nC<2, 2<=nC<4, 4<=nC<8, 8<=nC; 4 is chroma DC (nC=-1).\nvar coeffTokenCodes = [5][]vlcEntry{')
for t in range(5):
    out.append('\t{')
    code,l=c0[t]; out.append('\t\t{0x%x, %d, 0, 0},'%(code,l))
    for tot,row in enumerate(ct[t]):
        for tr,e in enumerate(row):
            if e: out.append('\t\t{0x%x, %d, %d, %d},'%(e[0],e[1],tot+1,tr))
    out.append('\t},')
out.append('}\n')
tz=parse_vlc(block('x264_total_zeros[15][16]'))
out.append('// totalZerosCodes[TotalCoeff-1] lists (code, len, total_zeros, 0) for 4x4 blocks.\nvar totalZerosCodes = [15][]vlcEntry{')
for t,row in enumerate(tz):
    out.append('\t{'+' '.join('{0x%x, %d, %d, 0},'%(e[0],e[1],i) for i,e in enumerate(row) if e)+'},')
out.append('}\n')
tz=parse_vlc(block('x264_total_zeros_2x2_dc[3][4]'))
out.append('// totalZerosDCCodes[TotalCoeff-1] is the same for 4:2:0 chroma DC.\nvar totalZerosDCCodes = [3][]vlcEntry{')
for t,row in enumerate(tz):
    out.append('\t{'+' '.join('{0x%x, %d, %d, 0},'%(e[0],e[1],i) for i,e in enumerate(row) if e)+'},')
out.append('}\n')
rb=parse_vlc(block('x264_run_before_init[7][16]'))
out.append('// runBeforeCodes[min(zerosLeft,7)-1] lists (code, len, run_before, 0).\nvar runBeforeCodes = [7][]vlcEntry{')
for t,row in enumerate(rb):
    out.append('\t{'+' '.join('{0x%x, %d, %d, 0},'%(e[0],e[1],i) for i,e in enumerate(row) if e)+'},')
out.append('}\n')
for name,key in [('sigCoeffOffset8x8','x264_significant_coeff_flag_offset_8x8[2][64]'),]:
    v=nums(block(key))
    out.append('// sigCoeffOffset8x8[field][pos] is ctxIdxInc of significant_coeff_flag in 8x8 blocks (Table 9-43).\nvar sigCoeffOffset8x8 = [2][64]uint8{\n\t{'+', '.join(map(str,v[:63]))+'},\n\t{'+', '.join(map(str,v[63:]))+'},\n}\n')
v=nums(block('x264_last_coeff_flag_offset_8x8[63]'))
out.append('// lastCoeffOffset8x8[pos] is ctxIdxInc of last_significant_coeff_flag in 8x8 blocks.\nvar lastCoeffOffset8x8 = [64]uint8{'+', '.join(map(str,v))+'}\n')
open(sys.argv[1],'w').write('\n'.join(out))
v=nums(block('x264_cabac_range_lps[64][4]'))
# x264 indexes this table by 63-pStateIdx; the standard's Table 9-44 by pStateIdx.
v=[x for i in range(63,-1,-1) for x in v[i*4:i*4+4]]
with open(sys.argv[1],'a') as f:
    f.write('\n// rangeTabLPS[pStateIdx][qCodIRangeIdx] (Table 9-44).\nvar rangeTabLPS = [64][4]uint8{\n'+''.join('\t{%s},\n'%', '.join(map(str,v[i*4:i*4+4])) for i in range(64))+'}\n')
