// Command matthan-verify checks an export of a Mắt Thần box on any PC:
//
//	matthan-verify CLIP MANIFEST --key FINGERPRINT_OR_PUBLIC_KEY_FILE [--sig SIGNATURE]
//
// It checks that MANIFEST (manifest.json) was signed by the box key with
// that fingerprint (from the box's system page, self-test or console, or the
// public key file the system page offers) and by no other, and that CLIP has
// the manifest's size and SHA-256. The signature is read from --sig, by
// default manifest.sig beside the manifest. It prints what it checked in
// Vietnamese, then English, and exits 0 only when everything holds (1: a
// check failed, 2: wrong usage or unreadable files).
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/matthan/matthan/daemon/evidence"
)

const usage = `Cách dùng / usage:
  matthan-verify CLIP MANIFEST --key FINGERPRINT_OR_PUBLIC_KEY_FILE [--sig SIGNATURE]

  CLIP      tệp video đã trích xuất / the exported MP4
  MANIFEST  manifest.json
  --key     vân tay khoá của hộp (trang Hệ thống, tự kiểm tra, màn hình console)
            hoặc tệp khoá công khai tải từ trang Hệ thống /
            the box key's fingerprint (system page, self-test, console)
            or the public key file downloaded from the system page
  --sig     chữ ký / the signature (default: manifest.sig beside MANIFEST)
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, out, errOut io.Writer) int {
	var pos []string
	var key, sigPath string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		if name != "key" && name != "sig" {
			if name == "h" || name == "help" {
				fmt.Fprint(out, usage)
				return 0
			}
			fmt.Fprintf(errOut, "tuỳ chọn lạ / unknown option %s\n%s", a, usage)
			return 2
		}
		if !hasVal {
			if i+1 >= len(args) {
				fmt.Fprintf(errOut, "%s cần một giá trị / needs a value\n%s", a, usage)
				return 2
			}
			i++
			val = args[i]
		}
		if name == "key" {
			key = val
		} else {
			sigPath = val
		}
	}
	if len(pos) != 2 || key == "" {
		fmt.Fprint(errOut, usage)
		return 2
	}
	clipPath, manifestPath := pos[0], pos[1]
	if sigPath == "" {
		sigPath = filepath.Join(filepath.Dir(manifestPath), "manifest.sig")
	}
	trust, err := trustOf(key)
	if err != nil {
		fmt.Fprintf(errOut, "--key %s: không phải vân tay hay tệp khoá công khai / neither a fingerprint nor a public key file: %v\n", key, err)
		return 2
	}
	mb, err := readSmall(manifestPath)
	if err != nil {
		fmt.Fprintf(errOut, "không đọc được bản kê / cannot read the manifest: %v\n", err)
		return 2
	}
	sig, err := readSmall(sigPath)
	if err != nil {
		fmt.Fprintf(errOut, "không đọc được chữ ký / cannot read the signature: %v\n", err)
		return 2
	}
	clip, err := os.Open(clipPath)
	if err != nil {
		fmt.Fprintf(errOut, "không mở được tệp video / cannot open the clip: %v\n", err)
		return 2
	}
	defer clip.Close()

	fmt.Fprintf(out, "Khoá tin cậy / trusted box key: %s\n", trust.Fingerprint())
	rep, verr := evidence.Verify(mb, sig, clip, trust)
	if rep.Manifest.Version == 0 {
		// The manifest or signature did not parse: nothing else was checked.
		fmt.Fprintf(out, "[SAI / FAIL] Bản kê hoặc chữ ký không đọc được / manifest or signature unreadable: %v\n", verr)
		fmt.Fprintln(out, "KẾT QUẢ / RESULT: KHÔNG HỢP LỆ / NOT VALID")
		return 1
	}
	m := rep.Manifest
	check := func(ok bool, vi, en, detail string) {
		v := "[ĐẠT / OK]  "
		if !ok {
			v = "[SAI / FAIL]"
		}
		fmt.Fprintf(out, "%s %s / %s%s\n", v, vi, en, detail)
	}
	check(rep.KeyTrusted, "Bản kê ký bằng khoá tin cậy", "manifest signed with the trusted key", ": "+m.KeyFingerprint)
	if rep.KeyTrusted {
		check(rep.SignatureOK, "Chữ ký khớp với bản kê", "signature matches the manifest", "")
	}
	check(rep.SizeOK, "Kích thước tệp video", "clip size", fmt.Sprintf(": %d bytes (bản kê / manifest %d)", rep.ClipBytes, m.Bytes))
	check(rep.HashOK, "SHA-256 của tệp video", "clip SHA-256", ": "+rep.ClipSHA256)
	if rep.OK() {
		// Only a signed manifest's statements are worth printing as facts.
		fmt.Fprintf(out, "Camera: %s (%s)\n", m.Camera, m.CameraName)
		fmt.Fprintf(out, "Người trích xuất / exported by: %s (%s), %s\n", m.ExportedBy, m.Role, m.Created.Format(time.RFC3339))
		fmt.Fprintf(out, "Khoảng yêu cầu / requested: %s\n", span(m.Requested))
		for _, iv := range m.Intervals {
			fmt.Fprintf(out, "Có hình / holds video: %s\n", span(iv))
		}
		for _, g := range m.Gaps {
			fmt.Fprintf(out, "KHOẢNG TRỐNG / GAP (không có hình / no video): %s\n", span(g))
		}
		for _, u := range m.ClockUnsynced {
			fmt.Fprintf(out, "ĐỒNG HỒ CHƯA ĐỒNG BỘ / CLOCK NOT SYNCHRONISED (giờ có thể sai / times may be off): %s\n", span(u))
		}
		fmt.Fprintf(out, "Nhật ký kiểm tra / audit log: bản ghi / record #%d, đầu chuỗi / chain head #%d %s\n", m.AuditSeq, m.Audit.Seq, m.Audit.Hash)
		fmt.Fprintln(out, "KẾT QUẢ / RESULT: HỢP LỆ / VALID")
		return 0
	}
	fmt.Fprintf(out, "Lỗi / errors: %v\n", strings.ReplaceAll(verr.Error(), "\n", "; "))
	fmt.Fprintln(out, "KẾT QUẢ / RESULT: KHÔNG HỢP LỆ / NOT VALID")
	return 1
}

const stamp = "2006-01-02T15:04:05.000Z07:00"

func span(iv evidence.Interval) string {
	return fmt.Sprintf("%s – %s (%.1f s)", iv.From.Format(stamp), iv.To.Format(stamp), iv.Duration().Seconds())
}

// trustOf reads --key: a fingerprint, or a public key file.
func trustOf(key string) (evidence.Trust, error) {
	if t, err := evidence.TrustFingerprint(key); err == nil {
		return t, nil
	}
	b, err := readSmall(key)
	if err != nil {
		return evidence.Trust{}, err
	}
	pub, err := evidence.ParsePublicKey(b)
	if err != nil {
		return evidence.Trust{}, err
	}
	return evidence.TrustKey(pub), nil
}

// readSmall reads a manifest, signature or key file, refusing big ones.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, evidence.MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > evidence.MaxManifestBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, evidence.MaxManifestBytes)
	}
	return b, nil
}
